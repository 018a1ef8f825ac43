//! The training dataset: raw input plus target classes, seeded random centres and transforms.
//!
//! [`Dataset`] holds only configuration and metadata, so it is cheap to share; each loader
//! worker opens its own [`WorkerDataset`] (images, chunk stores, cache) from it, as a forked
//! worker process would.

use std::path::PathBuf;
use std::sync::Arc;

use ndarray::{Array3, Array4, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use zarrs::filesystem::FilesystemStore;
use zarrs::group::Group;
use zarrs::storage::ReadableStorageTraits;

use crate::cache::{CacheStats, ChunkCachePool};
use crate::error::{Result, VolumeError};
use crate::generate::ATTRIBUTE_KEY;
use crate::image::{Image, ImageKind, ImageSpec, Transform, ViewCache};

/// Random augmentation of each sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augment {
    /// Axes (z, y, x) that are each mirrored with probability 1/2.
    pub mirror: [bool; 3],
    /// Swap y and x with probability 1/2 (only when the patch is square in y-x).
    pub transpose_yx: bool,
    /// Probability of rotating the grid about z by a uniform angle in [0, 2π).
    pub rotate_probability: f64,
}

impl Default for Augment {
    fn default() -> Self {
        Self {
            mirror: [false, true, true],
            transpose_yx: true,
            rotate_probability: 0.5,
        }
    }
}

/// What to load.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetConfig {
    /// Root of a dataset written by [`crate::generate`].
    pub root: PathBuf,
    /// Target classes to load; empty means all classes of the dataset.
    pub classes: Vec<String>,
    /// Patch shape, z-y-x voxels.
    pub patch_shape: [usize; 3],
    /// Output voxel size in nm (picks the scale level).
    pub voxel_size: [f64; 3],
    /// Box (world nm, `(min, max)`) centres are drawn from; `None` is the whole raw volume.
    pub sampling_box: Option<([f64; 3], [f64; 3])>,
    pub augment: Augment,
    pub pad: bool,
    pub view_cache: ViewCache,
    pub seed: u64,
}

impl DatasetConfig {
    /// Defaults for everything but the root: 32³ patches at 8 nm, padding on, the fix.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            classes: Vec::new(),
            patch_shape: [32; 3],
            voxel_size: [8.0; 3],
            sampling_box: None,
            augment: Augment::default(),
            pad: true,
            view_cache: ViewCache::ClearAfterRead,
            seed: 0,
        }
    }
}

/// Centre and transform of one sample, a pure function of (seed, index).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleParams {
    pub center: [f64; 3],
    pub transform: Transform,
}

/// One training sample: input `[1, z, y, x]` and targets `[classes, z, y, x]`.
#[derive(Debug, Clone)]
pub struct Sample {
    pub input: Array4<f32>,
    pub target: Array4<f32>,
}

/// A dataset's configuration and metadata; open a [`WorkerDataset`] per worker to read.
pub struct Dataset {
    config: DatasetConfig,
    classes: Vec<String>,
    storage: Arc<dyn ReadableStorageTraits>,
    sampling_box: ([f64; 3], [f64; 3]),
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("config", &self.config)
            .field("classes", &self.classes)
            .field("sampling_box", &self.sampling_box)
            .finish_non_exhaustive()
    }
}

impl Dataset {
    /// Open the dataset at `config.root`, checking that the raw image and every class exist.
    pub fn open(config: DatasetConfig) -> Result<Self> {
        let root = config.root.clone();
        if !root.join("zarr.json").is_file() {
            return Err(VolumeError::MissingDataset { path: root });
        }
        let storage: Arc<dyn ReadableStorageTraits> =
            Arc::new(FilesystemStore::new(&root).map_err(|e| VolumeError::Open {
                root: root.clone(),
                node: "/".into(),
                reason: e.to_string(),
            })?);
        let group = Group::open(storage.clone(), "/").map_err(|e| VolumeError::Open {
            root: root.clone(),
            node: "/".into(),
            reason: e.to_string(),
        })?;
        let available: Vec<String> = group
            .attributes()
            .get(ATTRIBUTE_KEY)
            .and_then(|v| v.get("classes"))
            .and_then(|v| v.as_array())
            .map(|v| {
                v.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .ok_or_else(|| VolumeError::Metadata {
                node: "/".into(),
                reason: format!(
                    "missing `{ATTRIBUTE_KEY}.classes` (expected a list of class names)"
                ),
            })?;
        let classes = if config.classes.is_empty() {
            available.clone()
        } else {
            for class in &config.classes {
                if !available.contains(class) {
                    return Err(VolumeError::InvalidConfig {
                        what: "class",
                        value: class.clone(),
                        expected: "one of the dataset's classes (see zarr.json attributes.volume_loader.classes)",
                    });
                }
            }
            config.classes.clone()
        };
        // Open the raw image once to validate metadata and learn the world extent.
        let probe_pool = ChunkCachePool::new(1);
        let raw = Image::open(
            &storage,
            &root,
            "/raw",
            image_spec(&config, ImageKind::Raw),
            &probe_pool,
        )?;
        let sampling_box = match config.sampling_box {
            Some((min, max)) => {
                if (0..3).any(|a| !(min[a].is_finite() && max[a].is_finite() && min[a] <= max[a])) {
                    return Err(VolumeError::config(
                        "sampling box",
                        format!("{min:?}..{max:?}"),
                        "finite world coordinates with min <= max on every axis",
                    ));
                }
                (min, max)
            }
            None => raw.world_extent(),
        };
        if !(0.0..=1.0).contains(&config.augment.rotate_probability) {
            return Err(VolumeError::config(
                "rotation probability",
                config.augment.rotate_probability,
                "a probability in [0, 1]",
            ));
        }
        Ok(Self {
            config,
            classes,
            storage,
            sampling_box,
        })
    }

    pub fn config(&self) -> &DatasetConfig {
        &self.config
    }

    /// The target classes, in channel order.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The centre and transform of sample `index`: the same for every worker and run.
    pub fn params(&self, index: u64) -> SampleParams {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        rng.set_stream(index);
        let (min, max) = self.sampling_box;
        let center = [0, 1, 2].map(|a| {
            if max[a] > min[a] {
                rng.random_range(min[a]..=max[a])
            } else {
                min[a]
            }
        });
        let aug = &self.config.augment;
        let mirror = aug.mirror.map(|allowed| allowed && rng.random_bool(0.5));
        let [_, ny, nx] = self.config.patch_shape;
        let axes = if aug.transpose_yx && ny == nx && rng.random_bool(0.5) {
            [0, 2, 1]
        } else {
            [0, 1, 2]
        };
        let rotate_z = if rng.random_bool(aug.rotate_probability) {
            rng.random_range(0.0..std::f64::consts::TAU)
        } else {
            0.0
        };
        SampleParams {
            center,
            transform: Transform {
                mirror,
                axes,
                rotate_z,
            },
        }
    }

    /// Open this dataset's images for one worker, with a chunk cache of `cache_bytes`.
    pub fn open_worker(self: &Arc<Self>, cache_bytes: u64) -> Result<WorkerDataset> {
        let pool = ChunkCachePool::new(cache_bytes);
        let root = &self.config.root;
        let raw = Image::open(
            &self.storage,
            root,
            "/raw",
            image_spec(&self.config, ImageKind::Raw),
            &pool,
        )?;
        let labels = self
            .classes
            .iter()
            .map(|class| {
                Image::open(
                    &self.storage,
                    root,
                    &format!("/labels/{class}"),
                    image_spec(&self.config, ImageKind::Label),
                    &pool,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(WorkerDataset {
            dataset: Arc::clone(self),
            raw,
            labels,
            pool,
        })
    }
}

fn image_spec(config: &DatasetConfig, kind: ImageKind) -> ImageSpec {
    ImageSpec {
        patch_shape: config.patch_shape,
        voxel_size: config.voxel_size,
        kind,
        pad: config.pad,
        view_cache: config.view_cache,
    }
}

/// One worker's open images and chunk cache.
#[derive(Debug)]
pub struct WorkerDataset {
    dataset: Arc<Dataset>,
    raw: Image,
    labels: Vec<Image>,
    pool: Arc<ChunkCachePool>,
}

impl WorkerDataset {
    /// Read sample `index`: the raw patch and every class patch with the same transform.
    pub fn get(&mut self, index: u64) -> Result<Sample> {
        let SampleParams { center, transform } = self.dataset.params(index);
        let input = self.raw.read(center, &transform)?.insert_axis(Axis(0));
        let patches = self
            .labels
            .iter_mut()
            .map(|image| image.read(center, &transform))
            .collect::<Result<Vec<Array3<f32>>>>()?;
        let views: Vec<_> = patches.iter().map(|p| p.view()).collect();
        let target = ndarray::stack(Axis(0), &views).map_err(|e| VolumeError::Metadata {
            node: "/labels".into(),
            reason: format!("class patches differ in shape: {e}"),
        })?;
        Ok(Sample { input, target })
    }

    /// The worker's chunk-cache accounting.
    pub fn cache_stats(&self) -> CacheStats {
        self.pool.stats()
    }

    /// Intermediate bytes held by the images' views (grows only under [`ViewCache::Retain`]).
    pub fn retained_bytes(&self) -> u64 {
        self.raw.retained_bytes() + self.labels.iter().map(Image::retained_bytes).sum::<u64>()
    }

    /// Intermediate bytes of the last sample (all its image reads).
    pub fn last_sample_intermediate_bytes(&self) -> u64 {
        self.raw.last_read_intermediate_bytes()
            + self
                .labels
                .iter()
                .map(Image::last_read_intermediate_bytes)
                .sum::<u64>()
    }

    /// The raw image (for inspection).
    pub fn raw(&self) -> &Image {
        &self.raw
    }
}
