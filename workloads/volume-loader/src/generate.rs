//! A deterministic, seeded generator of CellMap-style datasets: real Zarr v3 arrays on disk.
//!
//! Layout (every array u8, chunked and zstd-compressed, with `voxel_size` and `translation`
//! attributes in nm, z-y-x order):
//!
//! ```text
//! <root>/zarr.json                    group; attributes.volume_loader = {classes, shape, seed, ...}
//! <root>/raw/s0, s1, ...              intensity, one array per scale level (2x downsampling)
//! <root>/labels/<class>/s0, s1, ...   0/1 masks, one group per class
//! ```
//!
//! The content is blob- and membrane-like: spherical "cells" with a dark membrane shell and
//! a darker nucleus, on a noisy background, so labels are neither empty nor trivial.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{Array3, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use zarrs::array::codec::ZstdCodec;
use zarrs::array::{ArrayBuilder, data_type};
use zarrs::group::GroupBuilder;
use zarrs::storage::{
    Bytes, OffsetBytesIterator, StorageError, StoreKey, StorePrefix, WritableStorageTraits,
};

use crate::error::{Result, VolumeError};

/// Label classes the generator can write, in order.
pub const CLASS_NAMES: [&str; 3] = ["membrane", "cell", "nucleus"];
/// Name of the attribute object the generator writes and the loader reads.
pub const ATTRIBUTE_KEY: &str = "volume_loader";

/// What to generate. `Default` is the CI-sized dataset: 256³ raw at level 0, 3 levels,
/// 64³ chunks, all three classes.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateConfig {
    /// Level-0 shape, z-y-x; each axis must be divisible by `2^(levels-1)`.
    pub shape: [usize; 3],
    /// Number of scale levels (level `l` has voxel size `voxel_size * 2^l`).
    pub levels: usize,
    /// Chunk shape of every array.
    pub chunk: [usize; 3],
    /// How many of [`CLASS_NAMES`] to write (1 to 3).
    pub classes: usize,
    /// Level-0 voxel size in nm.
    pub voxel_size: [f64; 3],
    /// zstd compression level.
    pub zstd_level: i32,
    pub seed: u64,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        Self {
            shape: [256; 3],
            levels: 3,
            chunk: [64; 3],
            classes: 3,
            voxel_size: [8.0; 3],
            zstd_level: 1,
            seed: 0,
        }
    }
}

impl GenerateConfig {
    fn validate(&self) -> Result<()> {
        if self.levels == 0 || self.levels > 8 {
            return Err(VolumeError::config(
                "number of scale levels",
                self.levels,
                "1 to 8",
            ));
        }
        let factor = 1usize << (self.levels - 1);
        if self.shape.iter().any(|&n| n == 0 || n % factor != 0) {
            return Err(VolumeError::config(
                "volume shape",
                format!("{:?}", self.shape),
                "positive sizes divisible by 2^(levels-1)",
            ));
        }
        if self.chunk.contains(&0) {
            return Err(VolumeError::config(
                "chunk shape",
                format!("{:?}", self.chunk),
                "positive sizes",
            ));
        }
        if !(1..=CLASS_NAMES.len()).contains(&self.classes) {
            return Err(VolumeError::config(
                "number of classes",
                self.classes,
                "1 to 3",
            ));
        }
        if self.voxel_size.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(VolumeError::config(
                "voxel size",
                format!("{:?}", self.voxel_size),
                "positive finite sizes in nm",
            ));
        }
        Ok(())
    }
}

/// Voxel size and translation of scale level `level`, given those of level 0.
///
/// Downsampling by 2 averages voxel pairs, so the centre of coarse voxel 0 sits half a
/// coarse-minus-fine voxel further in.
pub fn level_geometry(voxel_size0: [f64; 3], level: usize) -> ([f64; 3], [f64; 3]) {
    let factor = (1u64 << level) as f64;
    let vs = voxel_size0.map(|v| v * factor);
    let mut translation = [0.0; 3];
    for axis in 0..3 {
        translation[axis] = (vs[axis] - voxel_size0[axis]) / 2.0;
    }
    (vs, translation)
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

struct Volumes {
    raw: Array3<u8>,
    labels: Vec<Array3<u8>>,
}

fn synthesize(config: &GenerateConfig) -> Volumes {
    let [nz, ny, nx] = config.shape;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut membrane = Array3::<u8>::zeros((nz, ny, nx));
    let mut cell = Array3::<u8>::zeros((nz, ny, nx));
    let mut nucleus = Array3::<u8>::zeros((nz, ny, nx));
    let smallest = nz.min(ny).min(nx) as f64;
    let volume = (nz * ny * nx) as f64;
    // Roughly a third of the volume inside cells.
    let (rmin, rmax) = (smallest / 16.0, smallest / 6.0);
    let mean_cell = 4.0 / 3.0 * std::f64::consts::PI * ((rmin + rmax) / 2.0).powi(3);
    let cells = ((volume * 0.35 / mean_cell).round() as usize).max(2);
    let thickness = (smallest / 128.0).max(1.0);
    for _ in 0..cells {
        let r = rng.random_range(rmin..rmax.max(rmin + 1.0));
        let c = [
            rng.random_range(0.0..nz as f64),
            rng.random_range(0.0..ny as f64),
            rng.random_range(0.0..nx as f64),
        ];
        let lo = c.map(|v| (v - r - 1.0).floor().max(0.0) as usize);
        let hi = [
            ((c[0] + r + 2.0) as usize).min(nz),
            ((c[1] + r + 2.0) as usize).min(ny),
            ((c[2] + r + 2.0) as usize).min(nx),
        ];
        for z in lo[0]..hi[0] {
            let dz = z as f64 - c[0];
            for y in lo[1]..hi[1] {
                let dy = y as f64 - c[1];
                for x in lo[2]..hi[2] {
                    let dx = x as f64 - c[2];
                    let d = (dz * dz + dy * dy + dx * dx).sqrt();
                    if d > r {
                        continue;
                    }
                    if r - d < thickness {
                        membrane[[z, y, x]] = 1;
                    } else {
                        cell[[z, y, x]] = 1;
                        if d < 0.4 * r {
                            nucleus[[z, y, x]] = 1;
                        }
                    }
                }
            }
        }
    }
    let seed = config.seed;
    let raw = Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| {
        let base: f64 = if membrane[[z, y, x]] == 1 {
            45.0
        } else if nucleus[[z, y, x]] == 1 {
            110.0
        } else if cell[[z, y, x]] == 1 {
            185.0
        } else {
            150.0
        };
        let gradient = 15.0 * (z as f64 / nz as f64);
        let h = splitmix(seed ^ ((z as u64) << 42 | (y as u64) << 21 | x as u64));
        let noise = (h % 41) as f64 - 20.0;
        (base + gradient + noise).clamp(0.0, 255.0) as u8
    });
    let labels = vec![membrane, cell, nucleus]
        .into_iter()
        .take(config.classes)
        .collect();
    Volumes { raw, labels }
}

/// 2x downsampling: mean for intensities, majority (ties to 1) for masks.
fn downsample(volume: &Array3<u8>, label: bool) -> Array3<u8> {
    let (nz, ny, nx) = volume.dim();
    Array3::from_shape_fn((nz / 2, ny / 2, nx / 2), |(z, y, x)| {
        let block = volume.slice(s![2 * z..2 * z + 2, 2 * y..2 * y + 2, 2 * x..2 * x + 2]);
        let sum: u32 = block.iter().map(|&v| u32::from(v)).sum();
        if label {
            u8::from(sum >= 4)
        } else {
            ((sum + 4) / 8) as u8
        }
    })
}

/// A write-only filesystem store that skips `fsync`: zarrs' `FilesystemStore` syncs every
/// chunk file, which made writing the ~1,800 chunks of the default dataset take 3 to 10 s on
/// a shared disk. A generated dataset is scratch data; the files are ordinary Zarr v3 and
/// are read back through `FilesystemStore`.
#[derive(Debug)]
struct ScratchStore {
    base: PathBuf,
}

impl ScratchStore {
    fn path(&self, key: &str) -> PathBuf {
        self.base.join(key.trim_start_matches('/'))
    }
}

fn io(err: std::io::Error) -> StorageError {
    StorageError::IOError(Arc::new(err))
}

fn ignore_missing(result: std::io::Result<()>) -> Result<(), StorageError> {
    match result {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(io(err)),
        _ => Ok(()),
    }
}

impl WritableStorageTraits for ScratchStore {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        let path = self.path(key.as_str());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(path, &value).map_err(io)
    }

    fn set_partial_many(
        &self,
        key: &StoreKey,
        _offset_values: OffsetBytesIterator,
    ) -> Result<(), StorageError> {
        Err(StorageError::Unsupported(format!(
            "partial writes to `{key}`: the generator writes whole chunks"
        )))
    }

    fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        ignore_missing(std::fs::remove_file(self.path(key.as_str())))
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        ignore_missing(std::fs::remove_dir_all(self.path(prefix.as_str())))
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}

type Store = Arc<ScratchStore>;

fn write_err(root: &Path, err: impl std::fmt::Display) -> VolumeError {
    VolumeError::Write {
        path: root.to_path_buf(),
        reason: err.to_string(),
    }
}

fn write_group(
    root: &Path,
    store: &Store,
    path: &str,
    attributes: serde_json::Value,
) -> Result<()> {
    let mut group = GroupBuilder::new()
        .build(store.clone(), path)
        .map_err(|e| write_err(root, e))?;
    if let serde_json::Value::Object(map) = attributes {
        group.attributes_mut().extend(map);
    }
    group.store_metadata().map_err(|e| write_err(root, e))
}

/// Write one multiscale image (a group of `s0..s{levels-1}` arrays).
fn write_image(
    root: &Path,
    store: &Store,
    group: &str,
    level0: Array3<u8>,
    label: bool,
    config: &GenerateConfig,
) -> Result<()> {
    let scales: Vec<String> = (0..config.levels).map(|l| format!("s{l}")).collect();
    write_group(
        root,
        store,
        group,
        json!({ ATTRIBUTE_KEY: { "kind": if label { "label" } else { "raw" }, "scales": scales } }),
    )?;
    let mut volume = level0;
    for (level, scale) in scales.iter().enumerate() {
        if level > 0 {
            volume = downsample(&volume, label);
        }
        let (vs, translation) = level_geometry(config.voxel_size, level);
        let shape: Vec<u64> = volume.shape().iter().map(|&n| n as u64).collect();
        let chunk: Vec<u64> = config.chunk.iter().map(|&n| n as u64).collect();
        let path = format!("{group}/{scale}");
        let mut builder = ArrayBuilder::new(shape.clone(), chunk.clone(), data_type::uint8(), 0u8);
        builder
            .bytes_to_bytes_codecs(vec![Arc::new(ZstdCodec::new(config.zstd_level, false))])
            .dimension_names(Some(["z", "y", "x"]));
        builder
            .attributes_mut()
            .insert("voxel_size".into(), json!(vs));
        builder
            .attributes_mut()
            .insert("translation".into(), json!(translation));
        builder.attributes_mut().insert("units".into(), json!("nm"));
        let array = builder
            .build(store.clone(), &path)
            .map_err(|e| write_err(root, e))?;
        array.store_metadata().map_err(|e| write_err(root, e))?;
        let grid: Vec<u64> = shape
            .iter()
            .zip(&chunk)
            .map(|(n, c)| n.div_ceil(*c))
            .collect();
        for cz in 0..grid[0] {
            for cy in 0..grid[1] {
                for cx in 0..grid[2] {
                    let start = [cz * chunk[0], cy * chunk[1], cx * chunk[2]];
                    // Edge chunks are stored full-size, padded with the fill value.
                    let mut data = Array3::<u8>::zeros((
                        chunk[0] as usize,
                        chunk[1] as usize,
                        chunk[2] as usize,
                    ));
                    let end: Vec<u64> = (0..3)
                        .map(|a| (start[a] + chunk[a]).min(shape[a]))
                        .collect();
                    let src = volume.slice(s![
                        start[0] as usize..end[0] as usize,
                        start[1] as usize..end[1] as usize,
                        start[2] as usize..end[2] as usize
                    ]);
                    let (dz, dy, dx) = src.dim();
                    data.slice_mut(s![..dz, ..dy, ..dx]).assign(&src);
                    array
                        .store_chunk(&[cz, cy, cx], data)
                        .map_err(|e| write_err(root, e))?;
                }
            }
        }
    }
    Ok(())
}

/// Summary of a generated dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetInfo {
    pub classes: Vec<String>,
    pub shape: [usize; 3],
    pub levels: usize,
    /// Fraction of level-0 voxels set, per class (to show labels are not trivial).
    pub class_fractions: Vec<f64>,
}

/// Generate a dataset under `root` (created if missing; existing arrays are overwritten).
pub fn generate(root: &Path, config: &GenerateConfig) -> Result<DatasetInfo> {
    config.validate()?;
    std::fs::create_dir_all(root).map_err(|e| write_err(root, e))?;
    let store: Store = Arc::new(ScratchStore {
        base: root.to_path_buf(),
    });
    let classes: Vec<String> = CLASS_NAMES[..config.classes]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let volumes = synthesize(config);
    let voxels = volumes.raw.len() as f64;
    let class_fractions = volumes
        .labels
        .iter()
        .map(|l| l.iter().filter(|&&v| v == 1).count() as f64 / voxels)
        .collect();
    write_group(
        root,
        &store,
        "/",
        json!({ ATTRIBUTE_KEY: {
            "version": 1,
            "seed": config.seed,
            "shape": config.shape,
            "levels": config.levels,
            "raw": "raw",
            "classes": classes,
        }}),
    )?;
    write_group(root, &store, "/labels", json!({}))?;
    // Arrays are independent: write them on two threads (compression dominates).
    let mut jobs: Vec<(String, Array3<u8>, bool)> = vec![("/raw".into(), volumes.raw, false)];
    for (name, label) in classes.iter().zip(volumes.labels) {
        jobs.push((format!("/labels/{name}"), label, true));
    }
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let mut buckets: Vec<Vec<(String, Array3<u8>, bool)>> =
        (0..threads).map(|_| Vec::new()).collect();
    for (i, job) in jobs.into_iter().enumerate() {
        buckets[i % threads].push(job);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = buckets
            .into_iter()
            .map(|bucket| {
                let store = store.clone();
                scope.spawn(move || {
                    for (group, volume, label) in bucket {
                        write_image(root, &store, &group, volume, label, config)?;
                    }
                    Ok::<(), VolumeError>(())
                })
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| write_err(root, "a writer thread panicked"))??;
        }
        Ok::<(), VolumeError>(())
    })?;
    Ok(DatasetInfo {
        classes,
        shape: config.shape,
        levels: config.levels,
        class_fractions,
    })
}
