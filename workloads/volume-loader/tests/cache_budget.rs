//! The decoded-chunk budget holds under random reads over the whole volume, by the cache's
//! own accounting.

mod common;

use std::sync::Arc;

use volume_loader::{Dataset, DatasetConfig, GenerateConfig};

const BUDGET: u64 = 4 << 20;

#[test]
fn a_4_mib_budget_is_never_exceeded_under_random_reads() {
    // 256³ raw (16 MiB decoded at level 0) + 1 class: four times the budget and more.
    let dir = common::generate(&GenerateConfig {
        classes: 1,
        seed: 31,
        ..GenerateConfig::default()
    });
    let mut config = DatasetConfig::new(dir.path());
    config.seed = 32;
    let dataset = Arc::new(Dataset::open(config).unwrap());
    let mut worker = dataset.open_worker(BUDGET).unwrap();
    for index in 0..300 {
        worker.get(index).unwrap();
        let stats = worker.cache_stats();
        assert!(
            stats.bytes_held <= BUDGET,
            "after sample {index}: {stats:?}"
        );
    }
    let stats = worker.cache_stats();
    println!("{stats:?}");
    assert_eq!(stats.capacity, BUDGET);
    assert!(stats.peak_bytes_held <= BUDGET, "{stats:?}");
    // The budget was binding: the cache filled up and had to evict.
    assert!(stats.peak_bytes_held > BUDGET - (64 << 10), "{stats:?}");
    assert!(stats.evictions > 100, "{stats:?}");
    assert!(stats.hits > 0, "{stats:?}");
}
