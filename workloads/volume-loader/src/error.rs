//! The one error type of the loader: every message names the bad value and what was expected.

use std::path::PathBuf;

/// Why a dataset could not be opened, generated or read.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// The dataset root (or one of its arrays) does not exist.
    #[error("dataset not found at `{}`: expected a Zarr v3 group written by `volume_loader::generate`", path.display())]
    MissingDataset { path: PathBuf },
    /// A Zarr array or group could not be opened (bad metadata, unreadable file).
    #[error("cannot open zarr node `{node}` in `{}`: {reason}", root.display())]
    Open {
        root: PathBuf,
        node: String,
        reason: String,
    },
    /// Metadata exists but is not what the loader needs (missing voxel size, wrong dtype, ...).
    #[error("invalid metadata in `{node}`: {reason}")]
    Metadata { node: String, reason: String },
    /// Reading or decoding chunks failed, e.g. a corrupted chunk file.
    #[error("cannot read `{node}` voxels {subset}: {reason}")]
    Read {
        node: String,
        subset: String,
        reason: String,
    },
    /// Writing the generated dataset failed.
    #[error("cannot write dataset at `{}`: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
    /// The requested patch leaves the volume and padding is off.
    #[error(
        "patch of voxels {requested} is outside `{node}` (shape {shape:?}) and padding is off: \
         expected a patch inside the volume, or enable padding"
    )]
    OutsideVolume {
        node: String,
        requested: String,
        shape: Vec<u64>,
    },
    /// A configuration value is out of range.
    #[error("invalid {what} `{value}`: expected {expected}")]
    InvalidConfig {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A loader worker thread panicked (a bug, reported instead of propagated).
    #[error("loader worker {worker} panicked: {message}")]
    WorkerPanicked { worker: usize, message: String },
}

impl VolumeError {
    pub(crate) fn config(what: &'static str, value: impl ToString, expected: &'static str) -> Self {
        Self::InvalidConfig {
            what,
            value: value.to_string(),
            expected,
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = VolumeError> = std::result::Result<T, E>;
