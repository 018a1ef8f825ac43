//! Patches per second, fixed (`ClearAfterRead`) against leaky (`Retain`), on the same seed:
//! both variants read exactly the same samples (centres, rotations, mirrors), so the only
//! difference is what happens to each read's view. One element = one training sample (the
//! raw patch plus its two class patches), 32³ voxels at 8 nm, rotation with p = 0.25.
//!
//! Each measured iteration opens a fresh worker (outside the timing) and reads 32 samples,
//! so the leaky variant's retained memory stays bounded (~60 MiB) during the bench.
//!
//! `cargo bench -p volume-loader --bench patches -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use volume_loader::{Augment, Dataset, DatasetConfig, GenerateConfig, ViewCache};

const SAMPLES: u64 = 32;

fn dataset(root: &std::path::Path, view_cache: ViewCache) -> Arc<Dataset> {
    let mut config = DatasetConfig::new(root);
    config.classes = vec!["membrane".into(), "cell".into()];
    config.augment = Augment {
        rotate_probability: 0.25,
        ..Augment::default()
    };
    config.view_cache = view_cache;
    config.seed = 7;
    Arc::new(Dataset::open(config).expect("open dataset"))
}

fn patches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    volume_loader::generate(dir.path(), &GenerateConfig::default()).expect("generate");
    // The scenario's per-worker share (1 MiB over 6 workers: no 64³ chunk fits), so every
    // read decodes its chunks, as in the incident's 1-byte cache.
    bench_group(c, &dir, "tiny-cache", (1 << 20) / 6, false);
    // A cache holding every chunk, warmed on the same samples before timing: reads are pure
    // selection, padding and interpolation, where the view policy's cost is most visible.
    bench_group(c, &dir, "warm-cache", 256 << 20, true);
}

fn bench_group(
    c: &mut Criterion,
    dir: &tempfile::TempDir,
    name: &str,
    cache_bytes: u64,
    warm: bool,
) {
    let mut group = c.benchmark_group(format!("patches/{name}"));
    group.throughput(Throughput::Elements(SAMPLES));
    for (variant, view_cache) in [
        ("fixed", ViewCache::ClearAfterRead),
        ("leaky", ViewCache::Retain),
    ] {
        let dataset = dataset(dir.path(), view_cache);
        group.bench_function(variant, |b| {
            b.iter_batched(
                || {
                    let mut worker = dataset.open_worker(cache_bytes).expect("open worker");
                    if warm {
                        for index in 0..SAMPLES {
                            worker.get(index).expect("warm-up read");
                        }
                    }
                    worker
                },
                |mut worker| {
                    for index in 0..SAMPLES {
                        black_box(worker.get(index).expect("read sample"));
                    }
                    // Returned, so dropping the worker (and a leaky view) is not timed.
                    worker
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, patches);
criterion_main!(benches);
