//! leakcheck-probe: cheap, trustworthy memory samples and the in-process mark API.
//!
//! * [`process`]: RSS and friends of any pid, and of whole process trees, via procfs.
//! * [`alloc`]: jemalloc statistics of the current process (feature `jemalloc`).
//! * `gpu` (feature `nvml`, on by default): device and per-process GPU memory via NVML,
//!   `Unavailable` when it cannot load.
//! * [`mark`]: the [`Probe`] a workload uses to mark iterations and sessions.
//! * [`wire`]: the v1 JSON Lines wire format, encoder and decoder.
//!
//! * [`sources`]: the memory sources the runner samples beside the tree, as data (each a
//!   [`Sampler`] with its metric names, registered once).
//!
//! Every sampler implements [`Sampler`], one uniform way to read any of them. The runner
//! reads the registered [`sources`] through it; for the process tree and the GPU it calls
//! the concrete samplers, whose typed results (per-process RSS, PSS, GPU per pid) it needs.

pub mod alloc;
#[cfg(feature = "nvml")]
pub mod gpu;
pub mod heap_profile;
pub mod mark;
pub mod metrics;
pub mod process;
pub mod sampler;
pub mod sources;
pub mod wire;

pub use mark::{FD_ENV, Probe};
pub use sampler::{Reading, SampleError, Sampler};

/// Nanoseconds on `CLOCK_MONOTONIC`: the one clock shared by the probe and the runner
/// (both processes read the same clock, so their timelines merge without offsets).
pub fn monotonic_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    /// The runner moves samplers to a sampling thread; workloads share one `Probe`.
    #[test]
    fn thread_safety_contract() {
        fn send<T: Send>() {}
        fn send_sync<T: Send + Sync>() {}
        send_sync::<crate::Probe>();
        send::<crate::process::ProcessSampler>();
        send::<crate::process::ProcessTree>();
        #[cfg(feature = "nvml")]
        send::<crate::gpu::GpuSampler>();
        send::<crate::alloc::AllocSampler>();
        send::<crate::wire::Decoder>();
    }
}
