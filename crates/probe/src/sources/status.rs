//! The `status` breakdown of the observed program (`rss.anon`, `rss.file`, `rss.shmem`,
//! `rss.hwm`) as a registered source.

use super::Source;
use crate::metrics;
use crate::process::ProcessMemory;
use crate::sampler::{Reading, SampleError, Sampler};

/// The `status` breakdown of the observed program as a registered source.
pub const SOURCE: Source = Source {
    name: "procfs-status",
    metrics: &[
        metrics::RSS_HWM,
        metrics::RSS_ANON,
        metrics::RSS_FILE,
        metrics::RSS_SHMEM,
    ],
    open: |pid| Ok(Box::new(StatusSampler::open(pid)?)),
};

/// Emits the `status` breakdown of one process (`rss.hwm`, `rss.anon`, `rss.file`,
/// `rss.shmem`): meant for a slower cadence than [`crate::process::ProcessSampler`].
#[derive(Debug)]
pub struct StatusSampler {
    process: ProcessMemory,
}

impl StatusSampler {
    pub fn open(pid: u32) -> Result<Self, SampleError> {
        Ok(Self {
            process: ProcessMemory::open(pid)?,
        })
    }
}

impl Sampler for StatusSampler {
    fn name(&self) -> &'static str {
        SOURCE.name
    }

    fn sample(&mut self, out: &mut Vec<Reading>) -> Result<(), SampleError> {
        let s = self.process.status()?;
        out.extend(
            [
                (metrics::RSS_HWM, s.vm_hwm),
                (metrics::RSS_ANON, s.rss_anon),
                (metrics::RSS_FILE, s.rss_file),
                (metrics::RSS_SHMEM, s.rss_shmem),
            ]
            .map(|(metric, bytes)| Reading::of(metric, bytes)),
        );
        Ok(())
    }
}
