//! Which running process a watch means: by pid, or by a pattern over command lines as
//! `pgrep -f` matches them, never leakcheck itself or a process whose tree holds it.

use leakcheck_probe::process::{ProcessInfo, process_info, processes};

/// Why no one process could be picked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FindError {
    #[error("no process with pid {pid}: expected the pid of a running process")]
    NoSuchPid { pid: u32 },
    #[error("pid {pid} is a kernel thread (it has no command line): expected a user-space process")]
    KernelThread { pid: u32 },
    #[error(
        "pid {pid} is this leakcheck or one of its parents, whose tree holds this leakcheck: expected another process"
    )]
    Itself { pid: u32 },
    #[error(
        "invalid --name {pattern:?}: {problem}; expected a regular expression, as for `pgrep -f`"
    )]
    BadPattern { pattern: String, problem: String },
    #[error("no running process's command line matches {pattern:?} (leakcheck itself aside)")]
    NoMatch { pattern: String },
    #[error(
        "{} processes in separate trees match {pattern:?}; give a narrower --name or one pid:\n{}",
        candidates.len(),
        list(candidates)
    )]
    Ambiguous {
        pattern: String,
        candidates: Vec<ProcessInfo>,
    },
    #[error(
        "invalid --cgroup {}: not a memory cgroup (no memory.current or memory.usage_in_bytes there); expected a cgroup folder such as /sys/fs/cgroup/system.slice/NAME.service",
        path.display()
    )]
    NotACgroup { path: std::path::PathBuf },
    #[error("the cgroup {} has no process in it (cgroup.procs is empty): expected a cgroup that runs a job", path.display())]
    EmptyCgroup { path: std::path::PathBuf },
    #[error("cannot list the processes in /proc: {0}")]
    Proc(String),
}

/// The metrics a cgroup's memory files give (`cgroup.current`, `cgroup.anon`,
/// `cgroup.file`): what a watch of a cgroup shows.
pub const CGROUP_METRICS: &[&str] = leakcheck_probe::sources::cgroup::SOURCE.metrics;

/// At most this many candidates are listed in an ambiguity error.
const LISTED: usize = 10;

fn list(candidates: &[ProcessInfo]) -> String {
    let mut lines: Vec<String> = candidates
        .iter()
        .take(LISTED)
        .map(|p| {
            format!(
                "  {:>8}  {}",
                p.pid,
                leakcheck_vocab::fmt::one_line(&p.command, leakcheck_vocab::fmt::COMMAND_CHARS)
            )
        })
        .collect();
    if candidates.len() > LISTED {
        lines.push(format!("  … and {} more", candidates.len() - LISTED));
    }
    lines.join("\n")
}

/// This process and its parents up to init: a watch of any of them would watch itself.
/// Read by following `ppid` from this process, not from a listing of every process.
fn this_and_parents() -> Vec<u32> {
    let mut chain = vec![std::process::id()];
    while let Some(parent) = chain
        .last()
        .and_then(|&pid| process_info(pid))
        .map(|p| p.ppid)
        .filter(|&ppid| ppid > 0 && !chain.contains(&ppid))
    {
        chain.push(parent);
    }
    chain
}

/// The process `pid`, refused when it is this leakcheck, a parent of it or a kernel
/// thread.
pub fn by_pid(pid: u32) -> Result<ProcessInfo, FindError> {
    let info = process_info(pid).ok_or(FindError::NoSuchPid { pid })?;
    if this_and_parents().contains(&pid) {
        return Err(FindError::Itself { pid });
    }
    if info.kernel_thread {
        return Err(FindError::KernelThread { pid });
    }
    Ok(info)
}

/// The process a watch of the cgroup at `path` follows: the oldest in its `cgroup.procs`
/// (a container's or a unit's first process, whose tree its workers usually are); the
/// cgroup's own memory files (`cgroup.*` metrics) cover every process in it.
pub fn by_cgroup(path: &std::path::Path) -> Result<ProcessInfo, FindError> {
    let memory = ["memory.current", "memory.usage_in_bytes"];
    if !memory.iter().any(|f| path.join(f).is_file()) {
        return Err(FindError::NotACgroup {
            path: path.to_path_buf(),
        });
    }
    let procs =
        std::fs::read_to_string(path.join("cgroup.procs")).map_err(|_| FindError::NotACgroup {
            path: path.to_path_buf(),
        })?;
    let mine = this_and_parents();
    procs
        .lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .filter(|pid| !mine.contains(pid))
        .filter_map(process_info)
        .filter(|p| !p.kernel_thread)
        .min_by_key(|p| (p.start_ticks, p.pid))
        .ok_or_else(|| FindError::EmptyCgroup {
            path: path.to_path_buf(),
        })
}

/// The one process whose command line matches `pattern` (a regular expression, searched
/// anywhere in the line as `pgrep -f` does), leakcheck itself and its parents aside.
pub fn by_command_line(pattern: &str) -> Result<ProcessInfo, FindError> {
    let all = processes().map_err(|e| FindError::Proc(e.to_string()))?;
    pick(pattern, &all, &this_and_parents())
}

/// [`by_command_line`] over a given process list. Several matches are one target when
/// they are one tree: a job's workers forked from its main process share its command
/// line, and the watch follows the main process's descendants anyway. Matches in
/// separate trees are refused, with the candidates listed.
pub fn pick(pattern: &str, all: &[ProcessInfo], exclude: &[u32]) -> Result<ProcessInfo, FindError> {
    let regex = regex_lite::Regex::new(pattern).map_err(|e| FindError::BadPattern {
        pattern: pattern.to_string(),
        problem: e.to_string(),
    })?;
    let matches: Vec<&ProcessInfo> = all
        .iter()
        .filter(|p| !p.kernel_thread && !exclude.contains(&p.pid))
        .filter(|p| regex.is_match(&p.command))
        .collect();
    let matched = |pid: u32| matches.iter().any(|m| m.pid == pid);
    let parent_of = |pid: u32| all.iter().find(|p| p.pid == pid).map(|p| p.ppid);
    // The top of each matching tree: a match none of whose ancestors match.
    let tops: Vec<&ProcessInfo> = matches
        .iter()
        .copied()
        .filter(|m| {
            let mut seen = vec![m.pid];
            let mut at = m.ppid;
            while at > 1 && !seen.contains(&at) {
                if matched(at) {
                    return false;
                }
                seen.push(at);
                at = parent_of(at).unwrap_or(0);
            }
            true
        })
        .collect();
    match tops.as_slice() {
        [] => Err(FindError::NoMatch {
            pattern: pattern.to_string(),
        }),
        [one] => Ok((*one).clone()),
        _ => Err(FindError::Ambiguous {
            pattern: pattern.to_string(),
            candidates: tops.into_iter().cloned().collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: u32, ppid: u32, command: &str) -> ProcessInfo {
        ProcessInfo {
            pid,
            ppid,
            start_ticks: pid as u64,
            command: command.to_string(),
            args: command.split(' ').map(str::to_string).collect(),
            kernel_thread: command.is_empty(),
        }
    }

    fn table() -> Vec<ProcessInfo> {
        vec![
            process(1, 0, "/sbin/init"),
            process(10, 1, "bash"),
            process(20, 10, "python3 train.py --epochs 9"),
            process(21, 20, "python3 train.py --epochs 9"),
            process(22, 20, "python3 train.py --epochs 9"),
            process(30, 10, "python3 serve.py"),
            process(40, 1, ""),
            process(50, 10, "leakcheck watch --name train"),
        ]
    }

    #[test]
    fn a_job_and_its_forked_workers_are_one_target() {
        let picked = pick("train\\.py", &table(), &[50]).unwrap();
        assert_eq!(picked.pid, 20);
    }

    #[test]
    fn matches_in_separate_trees_are_refused_with_the_candidates_listed() {
        let err = pick("python3", &table(), &[50]).unwrap_err();
        let FindError::Ambiguous { candidates, .. } = &err else {
            panic!("{err:?}")
        };
        let pids: Vec<u32> = candidates.iter().map(|c| c.pid).collect();
        assert_eq!(pids, [20, 30]);
        let text = err.to_string();
        assert!(
            text.contains("python3 serve.py") && text.contains("      20"),
            "{text}"
        );
    }

    #[test]
    fn leakcheck_itself_kernel_threads_and_bad_patterns_are_never_picked() {
        assert_eq!(
            pick("watch", &table(), &[50]),
            Err(FindError::NoMatch {
                pattern: "watch".into()
            })
        );
        assert!(matches!(
            pick("^$", &table(), &[]),
            Err(FindError::NoMatch { .. })
        ));
        assert!(matches!(
            pick("train(", &table(), &[]),
            Err(FindError::BadPattern { .. })
        ));
    }

    #[test]
    fn this_process_and_its_parents_are_refused_by_pid() {
        let me = std::process::id();
        assert_eq!(by_pid(me), Err(FindError::Itself { pid: me }));
        let parent = process_info(me).unwrap().ppid;
        assert_eq!(by_pid(parent), Err(FindError::Itself { pid: parent }));
        assert_eq!(
            by_pid(u32::MAX),
            Err(FindError::NoSuchPid { pid: u32::MAX })
        );
    }
}
