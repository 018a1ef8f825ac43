//! Bad input gives a clear error naming the bad value, never a panic.

mod common;

use common::*;
use volume_loader::{DataLoader, Dataset, DatasetConfig, LoaderConfig, VolumeError};

#[test]
fn a_missing_dataset_path_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dataset");
    let err = Dataset::open(DatasetConfig::new(&missing)).expect_err("missing");
    assert!(matches!(err, VolumeError::MissingDataset { .. }));
    assert!(err.to_string().contains("no-such-dataset"), "{err}");
}

#[test]
fn a_corrupted_chunk_file_is_a_read_error_naming_the_array() {
    let dir = generate(&small_config(21));
    // Corrupt every level-0 raw chunk, so whatever the sample touches is bad.
    let chunks = dir.path().join("raw/s0/c");
    let mut corrupted = 0;
    for entry in walk(&chunks) {
        std::fs::write(&entry, b"definitely not zstd").unwrap();
        corrupted += 1;
    }
    assert!(corrupted > 0);
    let dataset = Dataset::open(DatasetConfig::new(dir.path())).expect("metadata is fine");
    let loader = DataLoader::new(
        dataset,
        LoaderConfig {
            workers: 1,
            batches_per_epoch: 4,
            cache_bytes: Some(1 << 20),
            ..LoaderConfig::default()
        },
    )
    .unwrap();
    let err = loader.iter().next().unwrap().expect_err("corrupted chunk");
    let message = err.to_string();
    assert!(matches!(err, VolumeError::Read { .. }), "{message}");
    assert!(message.contains("/raw/s0"), "{message}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn zero_batch_size_and_zero_prefetch_are_rejected() {
    let dir = generate(&small_config(22));
    let open = || Dataset::open(DatasetConfig::new(dir.path())).unwrap();
    let err = DataLoader::new(
        open(),
        LoaderConfig {
            batch_size: 0,
            ..LoaderConfig::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("invalid batch size `0`"), "{err}");
    let err = DataLoader::new(
        open(),
        LoaderConfig {
            prefetch: 0,
            workers: 3,
            ..LoaderConfig::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("prefetch"), "{err}");
}

#[test]
fn unknown_class_and_bad_patch_shape_are_rejected() {
    let dir = generate(&small_config(23));
    let mut config = DatasetConfig::new(dir.path());
    config.classes = vec!["mitochondria".into()];
    let err = Dataset::open(config).unwrap_err();
    assert!(err.to_string().contains("`mitochondria`"), "{err}");
    let mut config = DatasetConfig::new(dir.path());
    config.patch_shape = [0, 8, 8];
    let err = Dataset::open(config).unwrap_err();
    assert!(err.to_string().contains("patch shape `[0, 8, 8]`"), "{err}");
}

#[test]
fn a_bad_cache_budget_in_the_environment_is_named() {
    // SAFETY: nextest runs each test in its own process; no other thread reads the env here.
    unsafe { std::env::set_var(volume_loader::cache::CACHE_BYTES_ENV, "lots") };
    let err = volume_loader::cache::resolve_cache_bytes(None).unwrap_err();
    assert!(err.to_string().contains("`lots`"), "{err}");
    assert_eq!(
        volume_loader::cache::resolve_cache_bytes(Some(7)).unwrap(),
        7
    );
    unsafe { std::env::set_var(volume_loader::cache::CACHE_BYTES_ENV, "4096") };
    assert_eq!(
        volume_loader::cache::resolve_cache_bytes(None).unwrap(),
        4096
    );
    unsafe { std::env::remove_var(volume_loader::cache::CACHE_BYTES_ENV) };
    assert_eq!(
        volume_loader::cache::resolve_cache_bytes(None).unwrap(),
        2 << 30
    );
    assert_eq!(
        volume_loader::cache::per_worker_share(5, 11),
        1,
        "0 per worker clamps to 1"
    );
    assert_eq!(volume_loader::cache::per_worker_share(110, 11), 10);
}

#[test]
fn a_voxel_size_far_coarser_than_every_level_is_an_error_not_an_abort() {
    let dir = generate(&small_config(24));
    let mut image = open_image(
        dir.path(),
        "/raw",
        spec(volume_loader::ImageKind::Raw, [32; 3], 1.0e6, true),
        1 << 20,
    );
    let err = image
        .read([0.0; 3], &volume_loader::Transform::IDENTITY)
        .expect_err("a box of 32 x 62,500 voxels per axis");
    assert!(err.to_string().contains("2^28 voxels"), "{err}");
}
