//! Patches per second, fixed (`ClearAfterRead`) against leaky (`Retain`), on the same seed:
//! both variants read exactly the same samples (centres, rotations, mirrors), so the only
//! difference is what happens to each read's view. One element = one training sample (the
//! raw patch plus its two class patches), 32³ voxels at 8 nm, rotation with p = 0.25.
//!
//! Each measured iteration opens a fresh worker (outside the timing) and reads 32 samples,
//! so the leaky variant's retained memory stays bounded (~60 MiB) during the bench.
//!
//! Every group runs twice: `patches/*` in wall time, `patches-cpu/*` in CPU time of the
//! whole process (`CLOCK_PROCESS_CPUTIME_ID`, all threads), which other processes' load on
//! a shared machine barely moves, so the fixed/leaky ratio is readable there.
//!
//! `cargo bench -p volume-loader --bench patches -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;

use criterion::measurement::{Measurement, ValueFormatter};
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

/// CPU time of the whole process, in nanoseconds.
struct ProcessCpuTime;

fn process_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; this clock exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ProcessCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        process_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        process_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, _typical: f64, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v /= 1e6);
        "ms cpu"
    }
    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let per = match throughput {
            Throughput::Elements(n) | Throughput::Bytes(n) | Throughput::BytesDecimal(n) => {
                *n as f64
            }
            _ => 1.0,
        };
        values.iter_mut().for_each(|v| *v = per * 1e9 / *v);
        "elem/cpu-s"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns cpu"
    }
}

fn patches_cpu(c: &mut Criterion<ProcessCpuTime>) {
    patches_in(c, "patches-cpu");
}

fn patches(c: &mut Criterion) {
    patches_in(c, "patches");
}

fn patches_in<M: Measurement>(c: &mut Criterion<M>, prefix: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    volume_loader::generate(dir.path(), &GenerateConfig::default()).expect("generate");
    // The scenario's per-worker share (1 MiB over 6 workers: no 64³ chunk fits), so every
    // read decodes its chunks, as in the incident's 1-byte cache.
    bench_group(
        c,
        &dir,
        &format!("{prefix}/tiny-cache"),
        (1 << 20) / 6,
        false,
    );
    // A cache holding every chunk, warmed on the same samples before timing: reads are pure
    // selection, padding and interpolation, where the view policy's cost is most visible.
    bench_group(c, &dir, &format!("{prefix}/warm-cache"), 256 << 20, true);
}

fn bench_group<M: Measurement>(
    c: &mut Criterion<M>,
    dir: &tempfile::TempDir,
    name: &str,
    cache_bytes: u64,
    warm: bool,
) {
    let mut group = c.benchmark_group(name);
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

criterion_group!(wall, patches);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ProcessCpuTime);
    targets = patches_cpu
}
criterion_main!(wall, cpu);
