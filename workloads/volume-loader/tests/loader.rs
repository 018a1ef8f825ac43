//! The loader's batches depend only on (seed, batch index): not on worker count,
//! prefetch, persistence or epoch boundaries.

mod common;

use volume_loader::{Batch, DataLoader, Dataset, DatasetConfig, LoaderConfig, ViewCache};

fn batches(
    root: &std::path::Path,
    loader: LoaderConfig,
    view_cache: ViewCache,
    n: usize,
) -> Vec<Batch> {
    let mut config = DatasetConfig::new(root);
    config.patch_shape = [8, 12, 12];
    config.view_cache = view_cache;
    config.seed = 5;
    let loader = DataLoader::new(Dataset::open(config).unwrap(), loader).unwrap();
    loader.iter().take(n).map(|b| b.unwrap()).collect()
}

fn same(a: &[Batch], b: &[Batch]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.index == y.index
                && x.epoch == y.epoch
                && x.input
                    .iter()
                    .zip(&y.input)
                    .all(|(p, q)| p == q || (p.is_nan() && q.is_nan()))
                && x.target
                    .iter()
                    .zip(&y.target)
                    .all(|(p, q)| p == q || (p.is_nan() && q.is_nan()))
        })
}

#[test]
fn batches_are_identical_across_workers_prefetch_persistence_and_policy() {
    let dir = common::generate(&common::small_config(51));
    let base = LoaderConfig {
        batch_size: 3,
        workers: 0,
        prefetch: 1,
        persistent_workers: false,
        batches_per_epoch: 4,
        cache_bytes: Some(1 << 20),
    };
    let reference = batches(dir.path(), base.clone(), ViewCache::ClearAfterRead, 10);
    assert_eq!(reference[0].input.shape(), &[3, 1, 8, 12, 12]);
    assert_eq!(reference[0].target.shape(), &[3, 2, 8, 12, 12]);
    assert!(reference[0].input.is_standard_layout() && reference[0].target.is_standard_layout());
    assert_eq!(
        reference.iter().map(|b| b.epoch).collect::<Vec<_>>(),
        [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    );
    for (workers, prefetch, persistent) in
        [(1, 1, false), (3, 1, false), (3, 2, true), (4, 1, true)]
    {
        let config = LoaderConfig {
            workers,
            prefetch,
            persistent_workers: persistent,
            ..base.clone()
        };
        let got = batches(dir.path(), config, ViewCache::ClearAfterRead, 10);
        assert!(
            same(&reference, &got),
            "workers={workers} prefetch={prefetch} persistent={persistent}"
        );
    }
    // The leak changes memory, never data.
    let leaky = batches(
        dir.path(),
        LoaderConfig { workers: 2, ..base },
        ViewCache::Retain,
        10,
    );
    assert!(same(&reference, &leaky));
}
