//! The one small trait every sampler implements.

use std::borrow::Cow;

/// One named value from a sampler, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// A name from [`crate::metrics`] (or a sampler-specific one such as `rss.anon`).
    pub metric: Cow<'static, str>,
    pub bytes: u64,
}

impl Reading {
    /// A reading of a metric named by a constant (`metrics::RSS_ANON`, …).
    pub fn of(metric: &'static str, bytes: u64) -> Reading {
        Reading {
            metric: Cow::Borrowed(metric),
            bytes,
        }
    }
}

/// Why a sample could not be taken. None of these is fatal to the caller.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The process is gone (it exited between listing and reading): a normal event.
    #[error("process {pid} is gone")]
    Gone { pid: u32 },
    /// The source cannot be used here at all (no NVML, no jemalloc): say why once.
    #[error("unavailable: {reason}")]
    Unavailable { reason: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A source of memory readings. Implementations append to `out` and never panic.
pub trait Sampler: Send {
    /// Short name for logs and reports (`procfs`, `jemalloc`, `nvml`).
    fn name(&self) -> &'static str;
    /// Take one sample, appending one [`Reading`] per metric.
    fn sample(&mut self, out: &mut Vec<Reading>) -> Result<(), SampleError>;
}
