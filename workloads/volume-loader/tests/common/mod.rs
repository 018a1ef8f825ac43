//! Shared fixtures: small generated datasets and direct (cache-free) zarrs reads.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use ndarray::{Array3, Ix3};
use volume_loader::{ChunkCachePool, GenerateConfig, Image, ImageKind, ImageSpec, ViewCache};
use zarrs::array::Array;
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::ReadableStorageTraits;

/// A 64³ dataset, 2 levels, 16³ chunks, 2 classes.
pub fn small_config(seed: u64) -> GenerateConfig {
    GenerateConfig {
        shape: [64; 3],
        levels: 2,
        chunk: [16; 3],
        classes: 2,
        seed,
        ..GenerateConfig::default()
    }
}

pub fn generate(config: &GenerateConfig) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    volume_loader::generate(dir.path(), config).expect("generate");
    dir
}

pub fn storage(root: &Path) -> Arc<dyn ReadableStorageTraits> {
    Arc::new(FilesystemStore::new(root).expect("store"))
}

/// The whole array `node`, read straight through zarrs: the brute-force reference.
pub fn direct(root: &Path, node: &str) -> Array3<f32> {
    let array = Array::open(storage(root), node).expect("open array");
    let all = array.subset_all();
    let data: ndarray::ArrayD<u8> = array.retrieve_array_subset(&all).expect("read array");
    data.into_dimensionality::<Ix3>()
        .expect("3-D")
        .mapv(f32::from)
}

pub fn spec(kind: ImageKind, patch_shape: [usize; 3], voxel_size: f64, pad: bool) -> ImageSpec {
    ImageSpec {
        patch_shape,
        voxel_size: [voxel_size; 3],
        kind,
        pad,
        view_cache: ViewCache::ClearAfterRead,
    }
}

pub fn open_image(root: &Path, group: &str, spec: ImageSpec, cache_bytes: u64) -> Image {
    let pool = ChunkCachePool::new(cache_bytes);
    Image::open(&storage(root), root, group, spec, &pool).expect("open image")
}

/// World centre (nm) of a patch of `n` voxels whose first voxel is level index `v0`.
pub fn centre_for(v0: [i64; 3], n: [usize; 3], voxel_size: f64, translation: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|a| translation[a] + (v0[a] as f64 + (n[a] as f64 - 1.0) / 2.0) * voxel_size)
}

/// Brute-force value at level index `i` (fill outside).
pub fn at_or_fill(volume: &Array3<f32>, i: [i64; 3], fill: f32) -> f32 {
    let (nz, ny, nx) = volume.dim();
    if i[0] < 0
        || i[1] < 0
        || i[2] < 0
        || i[0] >= nz as i64
        || i[1] >= ny as i64
        || i[2] >= nx as i64
    {
        fill
    } else {
        volume[[i[0] as usize, i[1] as usize, i[2] as usize]]
    }
}

/// Equal, treating NaN as equal to NaN.
pub fn same(a: f32, b: f32) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}
