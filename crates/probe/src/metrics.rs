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

// Named stats a writer sends in a mark's `stats` object (the Python client's, for now).

/// `sys.getallocatedblocks()`: blocks the Python heap holds, a count (the Python
/// analogue of jemalloc's `allocated`).
pub const PY_BLOCKS: &str = "py.blocks";
/// `gc.get_count()[0]`: tracked allocations minus deallocations since the last
/// generation-0 collection (a count).
pub const PY_GC_GEN0: &str = "py.gc.gen0";
/// `gc.get_count()[1]`: generation-0 collections since the last generation-1 one.
pub const PY_GC_GEN1: &str = "py.gc.gen1";
/// `gc.get_count()[2]`: generation-1 collections since the last full one.
pub const PY_GC_GEN2: &str = "py.gc.gen2";
/// `tracemalloc.get_traced_memory()[0]`: bytes the traced Python allocations hold.
pub const PY_TRACED: &str = "py.traced";
/// `torch.cuda.memory_allocated()`: bytes of live tensors on the GPU.
pub const TORCH_CUDA_ALLOCATED: &str = "torch.cuda.allocated";
/// `torch.cuda.memory_reserved()`: bytes PyTorch's caching allocator holds on the GPU.
pub const TORCH_CUDA_RESERVED: &str = "torch.cuda.reserved";

/// Metrics that count things rather than bytes: budgets on them are counts
/// (`50/iter`, `10k`) and reports print them as counts.
pub const COUNT_METRICS: [&str; 4] = [PY_BLOCKS, PY_GC_GEN0, PY_GC_GEN1, PY_GC_GEN2];
