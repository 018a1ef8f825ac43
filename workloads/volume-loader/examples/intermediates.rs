//! Bytes each read leaves in a retained view, for the loader-loop defaults (32³ patches at
//! 8 nm, raw + 2 classes, rotation p = 0.25, batch 2, seed 0) over the first 500 batches:
//! `cargo run --release -p volume-loader --example intermediates`.

use std::sync::Arc;

use volume_loader::{Augment, Dataset, DatasetConfig, GenerateConfig, ViewCache};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    volume_loader::generate(dir.path(), &GenerateConfig::default())?;
    let mut config = DatasetConfig::new(dir.path());
    config.classes = vec!["membrane".into(), "cell".into()];
    config.augment = Augment {
        rotate_probability: 0.25,
        ..Augment::default()
    };
    config.view_cache = ViewCache::Retain;
    let dataset = Arc::new(Dataset::open(config)?);
    let mut worker = dataset.open_worker(1 << 20)?;
    let (batches, batch_size) = (500u64, 2u64);
    let (mut plain, mut rotated) = ((0u64, 0u64), (0u64, 0u64));
    for index in 0..batches * batch_size {
        worker.get(index)?;
        let bytes = worker.last_sample_intermediate_bytes();
        let slot = if dataset.params(index).transform.rotate_z != 0.0 {
            &mut rotated
        } else {
            &mut plain
        };
        slot.0 += 1;
        slot.1 += bytes;
    }
    let total = plain.1 + rotated.1;
    println!(
        "samples: {} unrotated ({} B each), {} rotated ({} B each on average)",
        plain.0,
        plain.1 / plain.0.max(1),
        rotated.0,
        rotated.1 / rotated.0.max(1)
    );
    println!(
        "mean per sample {} B, per iteration (batch {batch_size}) {} B = {:.3} MiB; retained {} B",
        total / (batches * batch_size),
        total / batches,
        total as f64 / batches as f64 / (1u64 << 20) as f64,
        worker.retained_bytes()
    );
    Ok(())
}
