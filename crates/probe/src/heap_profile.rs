//! The heap profile of an attribution pass: a scenario built with its `dhat-heap` feature
//! starts dhat first thing and stops it right after its last iteration, before teardown
//! frees what the loop kept. dhat then writes `dhat-heap.json` to the working directory,
//! where each allocation site's end-of-profile bytes (`eb`) are what the loop left live,
//! which leakcheck compares between two lengths of the same run.
//!
//! Without the `dhat-heap` feature both functions do nothing, so a scenario calls them
//! unconditionally.

#[cfg(feature = "dhat-heap")]
static PROFILER: std::sync::Mutex<Option<dhat::Profiler>> = std::sync::Mutex::new(None);

/// Frames kept per allocation site: deep enough to get from the allocator and library
/// generics out to the workspace's own code.
pub const FRAMES: usize = 40;

/// Starts the heap profile (once; later calls do nothing).
pub fn start() {
    #[cfg(feature = "dhat-heap")]
    if let Ok(mut slot) = PROFILER.lock() {
        if slot.is_none() {
            *slot = Some(
                dhat::Profiler::builder()
                    .trim_backtraces(Some(FRAMES))
                    .build(),
            );
        }
    }
}

/// Stops the heap profile and writes it (dhat prints where on stderr).
pub fn stop() {
    #[cfg(feature = "dhat-heap")]
    if let Ok(mut slot) = PROFILER.lock() {
        drop(slot.take());
    }
}
