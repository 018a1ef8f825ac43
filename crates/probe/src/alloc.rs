//! jemalloc statistics of the current process (feature `jemalloc`).
//!
//! `allocated` is the precise leak signal (bytes the program holds);
//! `active`/`resident` minus `allocated` is fragmentation and unreturned dirty pages;
//! `retained` is address space jemalloc keeps for reuse and grows by design, so it is
//! never a leak signal. Without the feature every function returns
//! [`SampleError::Unavailable`], so callers need no `cfg`.

use crate::metrics;
use crate::sampler::{Reading, SampleError, Sampler};
use crate::wire::AllocStats;

/// Read the current statistics: advances `epoch` (jemalloc caches its stats until
/// then), then reads through MIBs resolved once per process.
pub fn stats() -> Result<AllocStats, SampleError> {
    imp::stats()
}

/// Return all unused dirty pages of every arena to the OS (`arena.<all>.purge`),
/// so a measurement of `resident`/RSS is not inflated by freed-but-kept pages.
pub fn purge() -> Result<(), SampleError> {
    imp::purge()
}

/// Emits `alloc.allocated`, `alloc.active`, `alloc.resident`, `alloc.mapped`,
/// `alloc.metadata` for the process it runs in.
#[derive(Debug, Default, Clone, Copy)]
pub struct AllocSampler;

impl AllocSampler {
    pub fn new() -> Self {
        AllocSampler
    }
}

impl Sampler for AllocSampler {
    fn name(&self) -> &'static str {
        "jemalloc"
    }

    fn sample(&mut self, out: &mut Vec<Reading>) -> Result<(), SampleError> {
        let s = stats()?;
        out.extend(
            [
                (metrics::ALLOC_ALLOCATED, s.allocated),
                (metrics::ALLOC_ACTIVE, s.active),
                (metrics::ALLOC_RESIDENT, s.resident),
                (metrics::ALLOC_MAPPED, s.mapped),
                (metrics::ALLOC_METADATA, s.metadata),
            ]
            .map(|(metric, bytes)| Reading::of(metric, bytes)),
        );
        Ok(())
    }
}

#[cfg(feature = "jemalloc")]
mod imp {
    use super::{AllocStats, SampleError};
    use std::sync::OnceLock;
    use tikv_jemalloc_ctl::{epoch, epoch_mib, stats, thread};

    /// jemalloc's `MALLCTL_ARENAS_ALL`: the arena index meaning "all arenas".
    const MALLCTL_ARENAS_ALL: u32 = 4096;

    struct Mibs {
        epoch: epoch_mib,
        allocated: stats::allocated_mib,
        active: stats::active_mib,
        resident: stats::resident_mib,
        mapped: stats::mapped_mib,
        metadata: stats::metadata_mib,
        retained: stats::retained_mib,
    }

    static MIBS: OnceLock<Result<Mibs, String>> = OnceLock::new();

    fn mibs() -> Result<&'static Mibs, SampleError> {
        MIBS.get_or_init(init)
            .as_ref()
            .map_err(|reason| SampleError::Unavailable {
                reason: reason.clone(),
            })
    }

    fn init() -> Result<Mibs, String> {
        let err = |what: &str, e: tikv_jemalloc_ctl::Error| format!("jemalloc {what}: {e}");
        // jemalloc is linked whenever this feature is on, but its numbers only mean
        // something if it is the global allocator: check that an allocation shows up.
        let counter = thread::allocatedp::mib().map_err(|e| err("thread.allocatedp", e))?;
        let before = counter
            .read()
            .map_err(|e| err("thread.allocatedp", e))?
            .get();
        let probe = std::hint::black_box(Vec::<u8>::with_capacity(4096));
        let after = counter
            .read()
            .map_err(|e| err("thread.allocatedp", e))?
            .get();
        drop(probe);
        if after == before {
            return Err("jemalloc is linked but is not the global allocator \
                        (add `#[global_allocator] static A: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;`)"
                .to_owned());
        }
        Ok(Mibs {
            epoch: epoch::mib().map_err(|e| err("epoch", e))?,
            allocated: stats::allocated::mib().map_err(|e| err("stats.allocated", e))?,
            active: stats::active::mib().map_err(|e| err("stats.active", e))?,
            resident: stats::resident::mib().map_err(|e| err("stats.resident", e))?,
            mapped: stats::mapped::mib().map_err(|e| err("stats.mapped", e))?,
            metadata: stats::metadata::mib().map_err(|e| err("stats.metadata", e))?,
            retained: stats::retained::mib().map_err(|e| err("stats.retained", e))?,
        })
    }

    pub(super) fn stats() -> Result<AllocStats, SampleError> {
        let m = mibs()?;
        let fail = |what: &str, e: tikv_jemalloc_ctl::Error| SampleError::Unavailable {
            reason: format!("jemalloc {what}: {e}"),
        };
        m.epoch.advance().map_err(|e| fail("epoch", e))?;
        Ok(AllocStats {
            allocated: m.allocated.read().map_err(|e| fail("stats.allocated", e))? as u64,
            active: m.active.read().map_err(|e| fail("stats.active", e))? as u64,
            resident: m.resident.read().map_err(|e| fail("stats.resident", e))? as u64,
            mapped: m.mapped.read().map_err(|e| fail("stats.mapped", e))? as u64,
            metadata: m.metadata.read().map_err(|e| fail("stats.metadata", e))? as u64,
            retained: m.retained.read().map_err(|e| fail("stats.retained", e))? as u64,
        })
    }

    pub(super) fn purge() -> Result<(), SampleError> {
        mibs()?;
        let name = format!("arena.{MALLCTL_ARENAS_ALL}.purge\0");
        // SAFETY: `name` is NUL-terminated; `arena.<i>.purge` takes neither an old nor
        // a new value, so all four pointers/lengths are null/zero as jemalloc requires
        // (tikv-jemalloc-ctl's `raw::write` would pass a non-null `newp` and get EPERM).
        let rc = unsafe {
            tikv_jemalloc_sys::mallctl(
                name.as_ptr().cast(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(SampleError::Io(std::io::Error::other(format!(
                "jemalloc arena.{MALLCTL_ARENAS_ALL}.purge failed: {}",
                std::io::Error::from_raw_os_error(rc)
            ))))
        }
    }
}

#[cfg(not(feature = "jemalloc"))]
mod imp {
    use super::{AllocStats, SampleError};

    fn unavailable() -> SampleError {
        SampleError::Unavailable {
            reason: "built without the jemalloc feature".to_owned(),
        }
    }

    pub(super) fn stats() -> Result<AllocStats, SampleError> {
        Err(unavailable())
    }

    pub(super) fn purge() -> Result<(), SampleError> {
        Err(unavailable())
    }
}
