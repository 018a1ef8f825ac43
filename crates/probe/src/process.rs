//! Memory of any process, and of whole process trees, from procfs.
//!
//! Three cadences, because the files cost very different amounts:
//! `statm` through a kept-open fd (~1 µs, every sample), `status` (~50 µs, slower),
//! `smaps_rollup` (scales with RSS, ~9 ms at 1 GiB: on request only).

use crate::metrics;
use crate::sampler::{Reading, SampleError, Sampler};
use procfs::ProcError;
use procfs::process::Process;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    *PAGE.get_or_init(procfs::page_size)
}

/// Map a procfs error for `pid`: anything meaning "no such process" is [`SampleError::Gone`].
fn proc_err(pid: u32, e: ProcError) -> SampleError {
    match e {
        ProcError::NotFound(_) => SampleError::Gone { pid },
        ProcError::Io(io, _) => io_err(pid, io),
        ProcError::PermissionDenied(path) => SampleError::Io(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{}: permission denied",
                path.map_or(format!("/proc/{pid}"), |p| p.display().to_string())
            ),
        )),
        other => SampleError::Io(io::Error::other(format!("/proc/{pid}: {other}"))),
    }
}

fn io_err(pid: u32, e: io::Error) -> SampleError {
    // ESRCH: read through a kept-open fd after the process was reaped.
    match e.raw_os_error() {
        Some(libc::ESRCH) | Some(libc::ENOENT) => SampleError::Gone { pid },
        _ if e.kind() == io::ErrorKind::NotFound => SampleError::Gone { pid },
        _ => SampleError::Io(e),
    }
}

/// Fields of `/proc/<pid>/status`, in bytes (the kernel reports kB).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusMemory {
    /// Peak RSS ("high water mark").
    pub vm_hwm: u64,
    pub vm_rss: u64,
    pub rss_anon: u64,
    pub rss_file: u64,
    pub rss_shmem: u64,
}

/// Fields of `/proc/<pid>/smaps_rollup`, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmapsRollup {
    pub rss: u64,
    /// Proportional set size: shared pages divided among their sharers.
    pub pss: u64,
    pub private_dirty: u64,
}

/// One process, with its `/proc/<pid>` directory and `statm` kept open.
///
/// The kept-open handles also pin the identity: if the pid is reused by a new
/// process, reads fail with [`SampleError::Gone`] instead of reading the stranger.
#[derive(Debug)]
pub struct ProcessMemory {
    pid: u32,
    proc_: Process,
    statm: File,
}

impl ProcessMemory {
    /// Open the process `pid`; [`SampleError::Gone`] if it does not exist.
    pub fn open(pid: u32) -> Result<Self, SampleError> {
        let proc_ = Process::new(pid as i32).map_err(|e| proc_err(pid, e))?;
        Self::with_process(pid, proc_)
    }

    /// The calling process.
    pub fn current() -> Result<Self, SampleError> {
        let pid = std::process::id();
        let proc_ = Process::myself().map_err(|e| proc_err(pid, e))?;
        Self::with_process(pid, proc_)
    }

    fn with_process(pid: u32, proc_: Process) -> Result<Self, SampleError> {
        let statm = proc_.open_relative("statm").map_err(|e| proc_err(pid, e))?;
        Ok(Self { pid, proc_, statm })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Resident set size from `statm` (the fast path: one `pread`, no allocation).
    pub fn rss_bytes(&mut self) -> Result<u64, SampleError> {
        let mut buf = [0u8; 256];
        let n = self
            .statm
            .read_at(&mut buf, 0)
            .map_err(|e| io_err(self.pid, e))?;
        if n == 0 {
            return Err(SampleError::Gone { pid: self.pid });
        }
        // statm: "size resident shared text lib data dt", in pages.
        let resident = buf[..n]
            .split(|&b| b == b' ')
            .nth(1)
            .and_then(|f| std::str::from_utf8(f).ok())
            .and_then(|f| f.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                SampleError::Io(io::Error::other(format!(
                    "/proc/{}/statm: expected \"size resident ...\" in pages, got {:?}",
                    self.pid,
                    String::from_utf8_lossy(&buf[..n])
                )))
            })?;
        Ok(resident * page_size())
    }

    /// VmHWM, VmRSS, RssAnon, RssFile, RssShmem from `status` (slower cadence).
    pub fn status(&self) -> Result<StatusMemory, SampleError> {
        let s = self.proc_.status().map_err(|e| proc_err(self.pid, e))?;
        let kb = |v: Option<u64>| v.unwrap_or(0) * 1024;
        Ok(StatusMemory {
            vm_hwm: kb(s.vmhwm),
            vm_rss: kb(s.vmrss),
            rss_anon: kb(s.rssanon),
            rss_file: kb(s.rssfile),
            rss_shmem: kb(s.rssshmem),
        })
    }

    /// PSS and Private_Dirty from `smaps_rollup`: costs time proportional to RSS,
    /// so call it on request and at a low rate.
    pub fn smaps_rollup(&self) -> Result<SmapsRollup, SampleError> {
        // Parsed by hand: only three fields are needed, and procfs' generic map
        // parser (a HashMap per mapping) costs ~3x the kernel's own work here.
        let mut text = String::with_capacity(1024);
        self.proc_
            .open_relative("smaps_rollup")
            .map_err(|e| proc_err(self.pid, e))?
            .read_to_string(&mut text)
            .map_err(|e| io_err(self.pid, e))?;
        if text.is_empty() {
            return Err(SampleError::Gone { pid: self.pid }); // a zombie has no maps
        }
        parse_smaps_rollup(&text).map_err(|what| {
            SampleError::Io(io::Error::other(format!(
                "/proc/{}/smaps_rollup: {what}",
                self.pid
            )))
        })
    }
}

/// `Key:   123 kB` lines of `smaps_rollup` into bytes; Rss and Pss must be present.
fn parse_smaps_rollup(text: &str) -> Result<SmapsRollup, String> {
    let (mut rss, mut pss, mut dirty) = (None, None, None);
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "Rss" => &mut rss,
            "Pss" => &mut pss,
            "Private_Dirty" => &mut dirty,
            _ => continue,
        };
        let kb = rest
            .trim()
            .strip_suffix("kB")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| format!("expected \"{key}: <n> kB\", got {line:?}"))?;
        *slot = Some(kb * 1024);
    }
    Ok(SmapsRollup {
        rss: rss.ok_or("no Rss line")?,
        pss: pss.ok_or("no Pss line")?,
        private_dirty: dirty.unwrap_or(0),
    })
}

/// One sample of a process tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeSample {
    /// The root first, then its descendants (breadth first).
    pub pids: Vec<u32>,
    /// RSS summed over `pids` (shared pages counted once per sharer).
    pub rss_bytes: u64,
    /// PSS summed over `pids` (shared pages counted once), when asked for.
    pub pss_bytes: Option<u64>,
    /// `(pid, rss)` for each process in `pids`.
    pub per_process: Vec<(u32, u64)>,
}

/// A root process and all its descendants (data loaders run worker processes).
#[derive(Debug)]
pub struct ProcessTree {
    root: u32,
    /// Leave the root out of the sums (a supervisor process between the runner and the
    /// workload is not part of what is measured).
    exclude_root: bool,
    handles: HashMap<u32, ProcessMemory>,
    /// `None` until probed: whether `/proc/<pid>/task/<tid>/children` exists
    /// (it needs CONFIG_PROC_CHILDREN; without it we scan `/proc/*/stat`).
    children_files: Option<bool>,
    scratch: String,
}

impl ProcessTree {
    pub fn new(root: u32) -> Self {
        Self {
            root,
            exclude_root: false,
            handles: HashMap::new(),
            children_files: None,
            scratch: String::new(),
        }
    }

    pub fn root(&self) -> u32 {
        self.root
    }

    /// Walk the tree from the root but leave the root itself out of every sample.
    pub fn exclude_root(mut self) -> Self {
        self.exclude_root = true;
        self
    }

    /// The root's descendants now, breadth first (the root left out).
    pub fn descendants(&mut self) -> Result<Vec<u32>, SampleError> {
        let mut pids = self.discover()?;
        pids.retain(|&p| p != self.root);
        Ok(pids)
    }

    /// Sample the tree. Only a vanished root is an error ([`SampleError::Gone`]);
    /// descendants that exit between listing and reading are skipped: that is normal.
    pub fn sample(&mut self, with_pss: bool) -> Result<TreeSample, SampleError> {
        let pids = self.discover()?;
        let mut out = TreeSample {
            pids: Vec::with_capacity(pids.len()),
            pss_bytes: with_pss.then_some(0),
            ..TreeSample::default()
        };
        // Drop handles of processes that left the tree.
        let live: HashSet<u32> = pids.iter().copied().collect();
        self.handles.retain(|pid, _| live.contains(pid));
        for pid in pids {
            let is_root = pid == self.root;
            if is_root && self.exclude_root {
                continue;
            }
            let mut handle = match self.handles.entry(pid) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => match ProcessMemory::open(pid) {
                    Ok(h) => v.insert(h),
                    Err(SampleError::Gone { .. }) if !is_root => continue,
                    Err(e) => return Err(e),
                },
            };
            let rss = match handle.rss_bytes() {
                Ok(rss) => rss,
                Err(SampleError::Gone { .. }) if !is_root => {
                    // Either it exited, or its pid now belongs to a new descendant
                    // (our kept handle still points at the old one): reopen once.
                    self.handles.remove(&pid);
                    let Ok(mut fresh) = ProcessMemory::open(pid) else {
                        continue;
                    };
                    let Ok(rss) = fresh.rss_bytes() else {
                        continue;
                    };
                    handle = self.handles.entry(pid).or_insert(fresh);
                    rss
                }
                Err(e) => return Err(e),
            };
            if let Some(pss) = out.pss_bytes.as_mut() {
                match handle.smaps_rollup() {
                    Ok(r) => *pss += r.pss,
                    Err(SampleError::Gone { .. }) if !is_root => {
                        self.handles.remove(&pid);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            out.pids.push(pid);
            out.rss_bytes += rss;
            out.per_process.push((pid, rss));
        }
        Ok(out)
    }

    /// The root and its descendants, breadth first.
    fn discover(&mut self) -> Result<Vec<u32>, SampleError> {
        if self.children_files.is_none() {
            let probe = format!("/proc/{}/task/{}/children", self.root, self.root);
            self.children_files = Some(std::path::Path::new(&probe).exists());
        }
        let mut pids = vec![self.root];
        if self.children_files == Some(true) {
            let mut i = 0;
            while i < pids.len() {
                let pid = pids[i];
                match self.children_of(pid) {
                    Ok(kids) => pids.extend(kids),
                    Err(SampleError::Gone { .. }) if pid != self.root => {}
                    Err(e) => return Err(e),
                }
                i += 1;
            }
        } else {
            let parents = self.scan_parents()?;
            let mut i = 0;
            while i < pids.len() {
                if let Some(kids) = parents.get(&pids[i]) {
                    pids.extend_from_slice(kids);
                }
                i += 1;
            }
        }
        Ok(pids)
    }

    /// Children of every thread of `pid` (a child belongs to the thread that forked it).
    fn children_of(&mut self, pid: u32) -> Result<Vec<u32>, SampleError> {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| io_err(pid, e))?;
        let mut kids = Vec::new();
        for task in tasks.flatten() {
            let mut path = task.path();
            path.push("children");
            self.scratch.clear();
            // A thread that exits meanwhile just has no children to report.
            if File::open(&path)
                .and_then(|mut f| f.read_to_string(&mut self.scratch))
                .is_ok()
            {
                kids.extend(
                    self.scratch
                        .split_whitespace()
                        .filter_map(|s| s.parse::<u32>().ok()),
                );
            }
        }
        Ok(kids)
    }

    /// ppid -> children over all of `/proc` (the fallback without `children` files).
    fn scan_parents(&mut self) -> Result<HashMap<u32, Vec<u32>>, SampleError> {
        let mut parents: HashMap<u32, Vec<u32>> = HashMap::new();
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            self.scratch.clear();
            let read = File::open(format!("/proc/{pid}/stat"))
                .and_then(|mut f| f.read_to_string(&mut self.scratch));
            if read.is_err() {
                continue; // exited since the listing: normal
            }
            if let Some(ppid) = parse_ppid(&self.scratch) {
                parents.entry(ppid).or_default().push(pid);
            }
        }
        Ok(parents)
    }
}

/// The ppid from `/proc/<pid>/stat`: "pid (comm) state ppid ...", where comm may
/// itself contain spaces and parentheses, so parse from the last ')'.
fn parse_ppid(stat: &str) -> Option<u32> {
    stat_field(stat, 4)
}

/// Field `n` (1-based, as proc(5) numbers them) of a `/proc/<pid>/stat` line, from field 3
/// on (after the command name in parentheses).
fn stat_field<T: std::str::FromStr>(stat: &str, n: usize) -> Option<T> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(n.checked_sub(3)?)?.parse().ok()
}

/// `stat`'s flag of a kernel thread (`include/linux/sched.h`).
const PF_KTHREAD: u64 = 0x0020_0000;

/// A running process as a watch picks it: who it is and when it started, which tells it
/// from a later process given the same pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    /// Start time in clock ticks after boot (`stat` field 22): with the pid, the
    /// process's identity.
    pub start_ticks: u64,
    /// The command line, arguments joined by spaces; empty for a kernel thread.
    pub command: String,
    /// The arguments as the program got them.
    pub args: Vec<String>,
    /// A kernel thread (`PF_KTHREAD` in `stat`'s flags): no memory of its own to watch.
    /// Told by the flag, not by an empty command line, which a process also shows while
    /// it `exec`s.
    pub kernel_thread: bool,
}

/// `pid`'s [`ProcessInfo`], `None` when there is no such process (or it just exited).
pub fn process_info(pid: u32) -> Option<ProcessInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(ProcessInfo {
        pid,
        ppid: stat_field(&stat, 4)?,
        start_ticks: stat_field(&stat, 22)?,
        command: args.join(" "),
        args,
        kernel_thread: stat_field::<u64>(&stat, 9)? & PF_KTHREAD != 0,
    })
}

/// `MemAvailable` of `/proc/meminfo` in bytes: what the machine can still give without
/// swapping.
pub fn mem_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Every process readable under `/proc` now, by pid.
pub fn processes() -> io::Result<Vec<ProcessInfo>> {
    let mut all: Vec<ProcessInfo> = std::fs::read_dir("/proc")?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(process_info)
        .collect();
    all.sort_by_key(|p| p.pid);
    Ok(all)
}

/// Emits `rss` (the root) and `rss.tree`, plus `pss.tree` when PSS is enabled.
#[derive(Debug)]
pub struct ProcessSampler {
    tree: ProcessTree,
    with_pss: bool,
    last: Option<TreeSample>,
}

impl ProcessSampler {
    pub fn new(root: u32) -> Self {
        Self {
            tree: ProcessTree::new(root),
            with_pss: false,
            last: None,
        }
    }

    /// Also read `smaps_rollup` of every process (cost scales with RSS).
    pub fn with_pss(mut self, on: bool) -> Self {
        self.with_pss = on;
        self
    }

    pub fn set_pss(&mut self, on: bool) {
        self.with_pss = on;
    }

    /// The pids of the last sample (e.g. for the GPU per-process query).
    pub fn last(&self) -> Option<&TreeSample> {
        self.last.as_ref()
    }
}

impl Sampler for ProcessSampler {
    fn name(&self) -> &'static str {
        "procfs"
    }

    fn sample(&mut self, out: &mut Vec<Reading>) -> Result<(), SampleError> {
        let s = self.tree.sample(self.with_pss)?;
        let root_rss = s.per_process.first().map_or(0, |&(_, rss)| rss);
        out.push(Reading {
            metric: metrics::RSS.into(),
            bytes: root_rss,
        });
        out.push(Reading {
            metric: metrics::RSS_TREE.into(),
            bytes: s.rss_bytes,
        });
        if let Some(pss) = s.pss_bytes {
            out.push(Reading {
                metric: metrics::PSS_TREE.into(),
                bytes: pss,
            });
        }
        self.last = Some(s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_ppid, parse_smaps_rollup};

    #[test]
    fn smaps_rollup_fields_in_bytes() {
        let text = "55d0c7a0e000-7ffd5e1f3000 ---p 00000000 00:00 0    [rollup]\n\
                    Rss:                3968 kB\n\
                    Pss:                1234 kB\n\
                    Pss_Dirty:           500 kB\n\
                    Private_Dirty:       512 kB\n";
        let r = parse_smaps_rollup(text).unwrap();
        assert_eq!(
            (r.rss, r.pss, r.private_dirty),
            (3968 * 1024, 1234 * 1024, 512 * 1024)
        );
        let err = parse_smaps_rollup("Rss: many kB\n").unwrap_err();
        assert!(err.contains("Rss: many kB"), "{err}");
        assert_eq!(
            parse_smaps_rollup("Pss: 1 kB\n").unwrap_err(),
            "no Rss line"
        );
    }

    #[test]
    fn ppid_survives_parentheses_and_spaces_in_comm() {
        assert_eq!(parse_ppid("42 (a) b (c)) S 7 42 42 0"), Some(7));
        assert_eq!(parse_ppid("1 (init) S 0 1 1"), Some(0));
        assert_eq!(parse_ppid("garbage"), None);
        let stat = "42 (a) b (c)) S 7 42 42 0 -1 4194304 1 0 0 0 0 0 0 0 20 0 1 0 98765 1 2";
        assert_eq!(super::stat_field::<u64>(stat, 22), Some(98765));
    }
}
