//! GPU memory via NVML (`nvml-wrapper`, which loads `libnvidia-ml.so.1` at run time).
//!
//! Without a driver, [`GpuSampler::new`] still succeeds: its status is
//! [`GpuStatus::Unavailable`] with NVML's reason, and every sample says so.
//! The device query (`nvmlDeviceGetMemoryInfo`, ~12 µs) suits the normal cadence;
//! the per-process query can take milliseconds and holds a driver lock, so sample
//! it at a low rate.

use crate::metrics;
use crate::sampler::{Reading, SampleError, Sampler};
use nvml_wrapper::Nvml;
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::NvmlError;
use std::collections::HashMap;

/// Whether NVML could be used, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuStatus {
    Available { devices: u32, driver: String },
    Unavailable { reason: String },
}

/// Memory of one device, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMemory {
    pub index: u32,
    pub name: String,
    pub used: u64,
    pub total: u64,
}

/// Device-level GPU memory (`gpu.device`), and per-process memory (`gpu.process`)
/// for the pids set with [`GpuSampler::set_pids`].
#[derive(Debug)]
pub struct GpuSampler {
    nvml: Option<Nvml>,
    status: GpuStatus,
    pids: Option<Vec<u32>>,
}

impl Default for GpuSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl GpuSampler {
    /// Load NVML; never panics. A missing library or driver gives
    /// [`GpuStatus::Unavailable`] with NVML's reason.
    pub fn new() -> Self {
        let (nvml, status) = match Nvml::init() {
            Err(e) => (
                None,
                GpuStatus::Unavailable {
                    reason: describe(&e),
                },
            ),
            Ok(nvml) => {
                let status = match (nvml.device_count(), nvml.sys_driver_version()) {
                    (Ok(devices), Ok(driver)) => GpuStatus::Available { devices, driver },
                    (Err(e), _) | (_, Err(e)) => GpuStatus::Unavailable {
                        reason: describe(&e),
                    },
                };
                let usable = matches!(status, GpuStatus::Available { .. });
                (usable.then_some(nvml), status)
            }
        };
        Self {
            nvml,
            status,
            pids: None,
        }
    }

    pub fn status(&self) -> &GpuStatus {
        &self.status
    }

    /// Also emit `gpu.process` for these pids on each sample (`None` stops it).
    /// The query is slow and takes a driver lock: keep that sampler's rate low.
    pub fn set_pids(&mut self, pids: Option<Vec<u32>>) {
        self.pids = pids;
    }

    fn nvml(&self) -> Result<&Nvml, SampleError> {
        match (&self.nvml, &self.status) {
            (Some(nvml), _) => Ok(nvml),
            (None, GpuStatus::Unavailable { reason }) => Err(SampleError::Unavailable {
                reason: reason.clone(),
            }),
            (None, GpuStatus::Available { .. }) => Err(SampleError::Unavailable {
                reason: "NVML is not loaded".to_owned(),
            }),
        }
    }

    /// Used and total memory of every device.
    pub fn devices(&self) -> Result<Vec<DeviceMemory>, SampleError> {
        let nvml = self.nvml()?;
        let count = nvml.device_count().map_err(nvml_err)?;
        let mut out = Vec::with_capacity(count as usize);
        for index in 0..count {
            let device = nvml.device_by_index(index).map_err(nvml_err)?;
            let mem = device.memory_info().map_err(nvml_err)?;
            out.push(DeviceMemory {
                index,
                name: device
                    .name()
                    .unwrap_or_else(|e| format!("<name unavailable: {e}>")),
                used: mem.used,
                total: mem.total,
            });
        }
        Ok(out)
    }

    /// Sum of the GPU memory used by `pids` over all devices (compute and graphics
    /// contexts; a process listed in both on one device is counted once).
    pub fn process_used(&self, pids: &[u32]) -> Result<u64, SampleError> {
        let nvml = self.nvml()?;
        let count = nvml.device_count().map_err(nvml_err)?;
        let mut total = 0;
        for index in 0..count {
            let device = nvml.device_by_index(index).map_err(nvml_err)?;
            let mut per_pid: HashMap<u32, u64> = HashMap::new();
            for list in [
                device.running_compute_processes(),
                device.running_graphics_processes(),
            ] {
                let procs = match list {
                    Ok(p) => p,
                    // Some devices have no graphics (or compute) engine to list.
                    Err(NvmlError::NotSupported) => continue,
                    Err(e) => return Err(nvml_err(e)),
                };
                for p in procs.into_iter().filter(|p| pids.contains(&p.pid)) {
                    if let UsedGpuMemory::Used(bytes) = p.used_gpu_memory {
                        let slot = per_pid.entry(p.pid).or_default();
                        *slot = (*slot).max(bytes);
                    }
                }
            }
            total += per_pid.values().sum::<u64>();
        }
        Ok(total)
    }
}

impl Sampler for GpuSampler {
    fn name(&self) -> &'static str {
        "nvml"
    }

    fn sample(&mut self, out: &mut Vec<Reading>) -> Result<(), SampleError> {
        let used = self.devices()?.iter().map(|d| d.used).sum();
        out.push(Reading {
            metric: metrics::GPU_DEVICE.into(),
            bytes: used,
        });
        if let Some(pids) = &self.pids {
            let bytes = self.process_used(pids)?;
            out.push(Reading {
                metric: metrics::GPU_PROCESS.into(),
                bytes,
            });
        }
        Ok(())
    }
}

/// NVML's own message, plus what a library-load failure means in practice.
fn describe(e: &NvmlError) -> String {
    match e {
        NvmlError::LibloadingError(inner) => {
            format!("NVML could not be loaded (libnvidia-ml.so.1: no NVIDIA driver here?): {inner}")
        }
        other => format!("NVML: {other}"),
    }
}

fn nvml_err(e: NvmlError) -> SampleError {
    match e {
        NvmlError::LibloadingError(_) | NvmlError::FailedToLoadSymbol(_) => {
            SampleError::Unavailable {
                reason: describe(&e),
            }
        }
        other => SampleError::Io(std::io::Error::other(format!("NVML: {other}"))),
    }
}
