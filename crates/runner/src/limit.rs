//! How much memory a target may use before it runs out, for the forecast of when a growing
//! metric gets there: the limit of its cgroup, else what the machine can still give it.

use leakcheck_probe::Sampler;
use leakcheck_probe::process::{ProcessSampler, mem_available};

/// The memory `pid` may use and where the number comes from: the lowest limit of its
/// cgroup and those above it (a container's, a systemd unit's), else `MemAvailable` now
/// plus what its process tree already holds (that memory is not available because it is
/// the target's own); `None` when neither can be read.
pub fn memory_limit(pid: u32) -> Option<(u64, String)> {
    if let Some(limit) = leakcheck_probe::sources::cgroup::memory_limit(pid) {
        return Some(limit);
    }
    let held = tree_rss(pid);
    let available = mem_available()?;
    let source = if held > 0 {
        "MemAvailable + held"
    } else {
        "MemAvailable"
    };
    Some((available + held, source.to_string()))
}

/// What the process tree of `pid` holds now (`rss.tree`), 0 when it cannot be read.
fn tree_rss(pid: u32) -> u64 {
    let mut readings = Vec::new();
    if ProcessSampler::new(pid).sample(&mut readings).is_err() {
        return 0;
    }
    readings
        .iter()
        .find(|r| r.metric == leakcheck_probe::metrics::RSS_TREE)
        .map_or(0, |r| r.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_process_has_a_limit_above_what_it_holds() {
        let me = std::process::id();
        let (bytes, source) = memory_limit(me).expect("procfs answers");
        assert!(bytes > tree_rss(me), "{bytes} from {source}");
        assert!(
            source.starts_with("MemAvailable") || source.contains("memory."),
            "{source}"
        );
    }
}
