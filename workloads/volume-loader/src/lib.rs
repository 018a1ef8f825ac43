//! A CellMap-style 3-D Zarr volume data loader, with the view-cache leak and its fix.
//!
//! * [`generate`]: a seeded generator of real Zarr v3 datasets (raw + label classes,
//!   several scale levels, zstd chunks).
//! * [`cache`]: the byte-bounded decoded-chunk cache each worker shares across its arrays.
//! * [`image`]: one multiscale image and its patch reads (selection, padding,
//!   interpolation, transforms) and the incident as a policy, [`ViewCache`].
//! * [`dataset`]: seeded samples (raw input + class targets) with random transforms.
//! * [`loader`]: worker threads, prefetch, epochs, collation into f32 batches.
//!
//! The leak: under [`ViewCache::Retain`] each image keeps a lazily built view that holds
//! the intermediates of every read it served. [`ViewCache::ClearAfterRead`] drops the view
//! after every read (even a failed one) and keeps the chunk store and its cache alive.

/// Re-exported so callers name the same ndarray version as the batches.
pub use ndarray;

pub mod cache;
pub mod dataset;
pub mod error;
pub mod generate;
pub mod image;
pub mod loader;

pub use cache::{CacheStats, CachedArray, ChunkCachePool};
pub use dataset::{Augment, Dataset, DatasetConfig, Sample, SampleParams, WorkerDataset};
pub use error::{Result, VolumeError};
pub use generate::{DatasetInfo, GenerateConfig, generate};
pub use image::{Image, ImageKind, ImageSpec, Transform, ViewCache, trilinear};
pub use loader::{Batch, Batches, DataLoader, LoaderConfig};
