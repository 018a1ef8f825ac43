//! The runner's view of the GPU: one status line, and `(process, device)` bytes per sample.

use leakcheck_probe::gpu::{GpuSampler, GpuStatus};

/// NVML when it loads; otherwise a status line saying why not, recorded once.
#[derive(Debug)]
pub(crate) struct Gpu {
    sampler: GpuSampler,
}

impl Gpu {
    pub(crate) fn open() -> Self {
        Self {
            sampler: GpuSampler::new(),
        }
    }

    pub(crate) fn available(&self) -> bool {
        matches!(self.sampler.status(), GpuStatus::Available { .. })
    }

    /// `"available: 1 device(s), driver 550.54"` or `"unavailable (reason)"`.
    pub(crate) fn status(&self) -> String {
        match self.sampler.status() {
            GpuStatus::Available { devices, driver } => {
                format!("available: {devices} device(s), driver {driver}")
            }
            GpuStatus::Unavailable { reason } => format!("unavailable ({reason})"),
        }
    }

    /// Memory used by `pids` and by all devices; a failed query gives `None` for that part.
    pub(crate) fn sample(&self, pids: &[u32]) -> (Option<u64>, Option<u64>) {
        let process = self.sampler.process_used(pids).ok();
        let device = self
            .sampler
            .devices()
            .ok()
            .map(|ds| ds.iter().map(|d| d.used).sum());
        (process, device)
    }
}
