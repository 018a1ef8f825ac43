//! Metric names shared by samplers, the runner, budgets in `leakcheck.toml` and reports.

/// Resident set size of the scenario's main process (procfs `statm`).
pub const RSS: &str = "rss";
/// RSS summed over the main process and all its descendants.
pub const RSS_TREE: &str = "rss.tree";
/// Proportional set size summed over the tree (shared pages counted once).
pub const PSS_TREE: &str = "pss.tree";
/// jemalloc `stats.allocated`: bytes the program holds; the precise leak signal.
pub const ALLOC_ALLOCATED: &str = "alloc.allocated";
/// jemalloc `stats.active`.
pub const ALLOC_ACTIVE: &str = "alloc.active";
/// jemalloc `stats.resident`.
pub const ALLOC_RESIDENT: &str = "alloc.resident";
/// jemalloc `stats.mapped`.
pub const ALLOC_MAPPED: &str = "alloc.mapped";
/// jemalloc `stats.metadata`.
pub const ALLOC_METADATA: &str = "alloc.metadata";
/// GPU memory used by the scenario's processes (NVML per-process query).
pub const GPU_PROCESS: &str = "gpu.process";
/// GPU memory used on the devices as a whole (NVML device query).
pub const GPU_DEVICE: &str = "gpu.device";
/// Peak RSS of the main process (`status` VmHWM).
pub const RSS_HWM: &str = "rss.hwm";
/// Anonymous resident memory of the main process (`status` RssAnon).
pub const RSS_ANON: &str = "rss.anon";
/// File-backed resident memory of the main process (`status` RssFile).
pub const RSS_FILE: &str = "rss.file";
/// Resident shared memory of the main process (`status` RssShmem).
pub const RSS_SHMEM: &str = "rss.shmem";
