//! `loader-loop`: a training loop over the CellMap-style volume loader, marking every
//! iteration for leakcheck. `--variant leaky` replays the incident (each image's cached
//! view keeps every read's intermediates), `--variant fixed` its fix (the view is dropped
//! after every read, the chunk store and cache stay).
//!
//! Default knobs are the incident's, scaled to a CI machine: 6 workers, prefetch 1,
//! non-persistent workers, a 1 MiB chunk cache (split across workers), 32³ patches.

#[cfg(all(feature = "jemalloc", feature = "dhat-heap"))]
compile_error!(
    "features `jemalloc` and `dhat-heap` both pick the global allocator; \
     build dhat with `--no-default-features --features dhat-heap`"
);

#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(all(feature = "dhat-heap", not(feature = "jemalloc")))]
#[global_allocator]
static GLOBAL: dhat::Alloc = dhat::Alloc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use leakcheck_probe::Probe;
use volume_loader::{
    Augment, DataLoader, Dataset, DatasetConfig, GenerateConfig, LoaderConfig, ViewCache,
    VolumeError,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Variant {
    /// The incident: views retain every read's intermediates.
    Leaky,
    /// The fix: views are dropped after every read.
    Fixed,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Self::Leaky => "leaky",
            Self::Fixed => "fixed",
        }
    }
}

impl From<Variant> for ViewCache {
    fn from(variant: Variant) -> Self {
        match variant {
            Variant::Leaky => ViewCache::Retain,
            Variant::Fixed => ViewCache::ClearAfterRead,
        }
    }
}

/// A training loop over the volume loader, marking every iteration for leakcheck.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Which loader: the incident (`leaky`) or its fix (`fixed`).
    #[arg(long, value_enum, default_value_t = Variant::Fixed)]
    variant: Variant,
    /// Training iterations (one batch each).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: u64,
    /// Loader worker threads (0 loads in the training thread).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u16).range(0..=256))]
    workers: u16,
    /// Batches each worker prepares ahead.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    prefetch: u16,
    /// Keep workers (and their state) across epochs.
    #[arg(long)]
    persistent_workers: bool,
    /// Total decoded-chunk cache budget in bytes, split across workers.
    #[arg(long, default_value_t = 1 << 20)]
    cache_bytes: u64,
    /// Patch shape z,y,x in voxels.
    #[arg(long, default_value = "32,32,32", value_parser = parse_patch)]
    patch: [usize; 3],
    /// Samples per batch.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=4096))]
    batch_size: u32,
    /// Seed of sample centres and transforms (and of the generated dataset).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Existing dataset (from `volume_loader::generate`); generated in a temp dir if absent.
    #[arg(long)]
    data: Option<PathBuf>,
    /// How many label classes to load as targets.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=3))]
    classes: u8,
    /// Probability that a sample's grid is rotated about z.
    #[arg(long, default_value_t = 0.25, value_parser = parse_probability)]
    rotate_probability: f64,
    /// Batches per epoch; non-persistent workers (and their state) restart at each. The
    /// default is longer than the run, as in the incident, where memory grew within an epoch.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    batches_per_epoch: u64,
    /// Edge of the generated level-0 volume in voxels (ignored with --data).
    #[arg(long, default_value_t = 256, value_parser = parse_volume)]
    volume: usize,
}

fn parse_patch(text: &str) -> Result<[usize; 3], String> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let bad = || {
        format!(
            "`{text}` is not a patch shape: expected three positive integers z,y,x like 32,32,32"
        )
    };
    let [z, y, x] = parts.as_slice() else {
        return Err(bad());
    };
    let parse = |s: &str| s.parse::<usize>().ok().filter(|&n| (1..=1024).contains(&n));
    match (parse(z), parse(y), parse(x)) {
        (Some(z), Some(y), Some(x)) => Ok([z, y, x]),
        _ => Err(bad()),
    }
}

fn parse_probability(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|p| (0.0..=1.0).contains(p))
        .ok_or_else(|| format!("`{text}` is not a probability: expected a number in [0, 1]"))
}

fn parse_volume(text: &str) -> Result<usize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|n| (32..=1024).contains(n) && n % 4 == 0)
        .ok_or_else(|| {
            format!("`{text}` is not a volume edge: expected a multiple of 4 in 32..=1024")
        })
}

fn allocated() -> Option<u64> {
    leakcheck_probe::alloc::stats().ok().map(|s| s.allocated)
}

fn show(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "n/a".into(), |b| b.to_string())
}

fn run(args: &Args, probe: &Probe) -> Result<(), VolumeError> {
    let generated;
    let root = match &args.data {
        Some(path) => path.clone(),
        None => {
            generated = tempfile::Builder::new()
                .prefix("loader-loop-")
                .tempdir()
                .map_err(|e| VolumeError::Write {
                    path: std::env::temp_dir(),
                    reason: e.to_string(),
                })?;
            let config = GenerateConfig {
                shape: [args.volume; 3],
                seed: args.seed,
                ..GenerateConfig::default()
            };
            volume_loader::generate(generated.path(), &config)?;
            generated.path().to_path_buf()
        }
    };
    let dataset = Dataset::open(DatasetConfig {
        classes: Vec::new(),
        patch_shape: args.patch,
        voxel_size: [8.0; 3],
        sampling_box: None,
        augment: Augment {
            rotate_probability: args.rotate_probability,
            ..Augment::default()
        },
        pad: true,
        view_cache: args.variant.into(),
        seed: args.seed,
        root: root.clone(),
    })?;
    let classes: Vec<String> = dataset
        .classes()
        .iter()
        .take(args.classes.into())
        .cloned()
        .collect();
    if classes.len() < usize::from(args.classes) {
        return Err(VolumeError::InvalidConfig {
            what: "number of classes",
            value: args.classes.to_string(),
            expected: "at most the number of classes in the dataset",
        });
    }
    let dataset = Dataset::open(DatasetConfig {
        classes,
        ..dataset.config().clone()
    })?;
    let loader = DataLoader::new(
        dataset,
        LoaderConfig {
            batch_size: args.batch_size as usize,
            workers: args.workers.into(),
            prefetch: args.prefetch.into(),
            persistent_workers: args.persistent_workers,
            batches_per_epoch: args.batches_per_epoch,
            cache_bytes: Some(args.cache_bytes),
        },
    )?;
    // Generation garbage sits in dirty pages; return it so RSS starts from the workload.
    let _ = leakcheck_probe::alloc::purge();
    probe.note(&format!(
        "loader-loop variant={} iterations={} workers={} prefetch={} persistent_workers={} \
         cache_bytes={} (per worker {}) patch={:?} batch_size={} classes={:?} \
         rotate_probability={} batches_per_epoch={} seed={} data={}",
        args.variant.name(),
        args.iterations,
        args.workers,
        args.prefetch,
        args.persistent_workers,
        args.cache_bytes,
        loader.worker_cache_bytes(),
        args.patch,
        args.batch_size,
        loader.dataset().classes(),
        args.rotate_probability,
        args.batches_per_epoch,
        args.seed,
        args.data
            .as_ref()
            .map_or_else(|| "generated".into(), |p| p.display().to_string()),
    ));
    let started = Instant::now();
    let allocated_start = allocated();
    let mut allocated_50 = None;
    let mut allocated_last = None;
    let mut loss_sum = 0.0f64;
    let mut batches = loader.iter();
    for iteration in 0..args.iterations {
        let batch = batches.next().expect("the loader iterates forever")?;
        loss_sum += training_step(&batch);
        drop(batch);
        probe.mark(iteration);
        if iteration == 50 {
            allocated_50 = allocated();
        }
        if iteration + 1 == args.iterations {
            allocated_last = allocated();
        }
    }
    // An attribution build's profile ends here, with what the loop kept still live.
    leakcheck_probe::heap_profile::stop();
    drop(batches);
    let seconds = started.elapsed().as_secs_f64();
    probe.end();
    println!(
        "loader-loop variant={} iterations={} seconds={seconds:.2} allocated_start={} \
         allocated_50={} allocated_last={} allocated_after_teardown={} mean_loss={:.5}",
        args.variant.name(),
        args.iterations,
        show(allocated_start),
        show(allocated_50),
        show(allocated_last),
        show(allocated()),
        loss_sum / args.iterations as f64,
    );
    Ok(())
}

/// Stand-in for a model step: a per-voxel loss between the scaled input and each target,
/// ignoring padded (NaN) label voxels. It reads the whole batch, as training would.
fn training_step(batch: &volume_loader::Batch) -> f64 {
    let input = batch.input.index_axis(ndarray_axis(1), 0);
    let mut sum = 0.0f64;
    let mut count = 0u64;
    for target in batch.target.axis_iter(ndarray_axis(1)) {
        for (&x, &t) in input.iter().zip(target.iter()) {
            if !t.is_nan() {
                let d = f64::from(x / 255.0 - t);
                sum += d * d;
                count += 1;
            }
        }
    }
    if count == 0 { 0.0 } else { sum / count as f64 }
}

fn ndarray_axis(a: usize) -> volume_loader::ndarray::Axis {
    volume_loader::ndarray::Axis(a)
}

fn main() -> ExitCode {
    leakcheck_probe::heap_profile::start();
    let args = Args::parse();
    let probe = Probe::from_env();
    match run(&args, &probe) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("loader-loop: error: {err}");
            ExitCode::FAILURE
        }
    }
}
