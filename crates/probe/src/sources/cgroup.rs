//! Memory of the observed program's own cgroup: what the kernel charges to it (and to its
//! descendant cgroups), page cache included, as a container's memory limit sees it.
//!
//! * cgroup v2: `memory.current`, and `anon` and `file` of `memory.stat`.
//! * cgroup v1 (the `memory` controller): `memory.usage_in_bytes`, and `total_rss` and
//!   `total_cache` of `memory.stat` (`rss` and `cache` where the hierarchical totals are
//!   missing).
//!
//! The cgroup is found from `/proc/<pid>/cgroup` and this process's `mountinfo`; both
//! files stay open and are re-read with `pread`.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::Source;
use crate::sampler::{Reading, SampleError, Sampler};

/// Bytes charged to the cgroup (v2 `memory.current`, v1 `memory.usage_in_bytes`).
pub const CGROUP_CURRENT: &str = "cgroup.current";
/// Anonymous memory of the cgroup (v2 `anon`, v1 `total_rss`).
pub const CGROUP_ANON: &str = "cgroup.anon";
/// Page cache of the cgroup (v2 `file`, v1 `total_cache`).
pub const CGROUP_FILE: &str = "cgroup.file";

/// The cgroup source, as registered in [`super::SOURCES`].
pub const SOURCE: Source = Source {
    name: "cgroup",
    metrics: &[CGROUP_CURRENT, CGROUP_ANON, CGROUP_FILE],
    open: |pid| Ok(Box::new(CgroupMemory::open(pid)?)),
};

/// Which cgroup interface the memory files follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    fn current_file(self) -> &'static str {
        match self {
            Version::V1 => "memory.usage_in_bytes",
            Version::V2 => "memory.current",
        }
    }

    /// The `memory.stat` keys of anonymous and file memory, most wanted first.
    fn stat_keys(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Version::V1 => (&["total_rss", "rss"], &["total_cache", "cache"]),
            Version::V2 => (&["anon"], &["file"]),
        }
    }
}

/// The memory files of one cgroup, kept open.
#[derive(Debug)]
pub struct CgroupMemory {
    dir: PathBuf,
    version: Version,
    current: File,
    stat: File,
}

impl CgroupMemory {
    /// The memory cgroup of `pid`; [`SampleError::Unavailable`] (saying why) where there
    /// is none to read.
    pub fn open(pid: u32) -> Result<Self, SampleError> {
        let unavailable = |reason: String| SampleError::Unavailable { reason };
        let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .map_err(|e| unavailable(format!("/proc/{pid}/cgroup: {e}")))?;
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| unavailable(format!("/proc/self/mountinfo: {e}")))?;
        let (dir, version) = locate(&cgroups, &mounts, |p| p.exists()).ok_or_else(|| {
            unavailable(format!(
                "no memory cgroup of pid {pid} is mounted here (cgroup v2 memory.current or v1 memory.usage_in_bytes)"
            ))
        })?;
        let open = |name: &str| {
            File::open(dir.join(name))
                .map_err(|e| unavailable(format!("{}: {e}", dir.join(name).display())))
        };
        Ok(CgroupMemory {
            current: open(version.current_file())?,
            stat: open("memory.stat")?,
            dir,
            version,
        })
    }

    /// The cgroup's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// `(current, anon, file)` in bytes.
    pub fn read(&self) -> io::Result<(u64, u64, u64)> {
        let mut buf = vec![0u8; 8192];
        let n = self.current.read_at(&mut buf, 0)?;
        let current = std::str::from_utf8(&buf[..n])
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .ok_or_else(|| io::Error::other(format!("{}: not a number", self.current_path())))?;
        let n = self.stat.read_at(&mut buf, 0)?;
        let stat = String::from_utf8_lossy(&buf[..n]);
        let (anon_keys, file_keys) = self.version.stat_keys();
        let anon = stat_value(&stat, anon_keys).unwrap_or(0);
        let file = stat_value(&stat, file_keys).unwrap_or(0);
        Ok((current, anon, file))
    }

    /// The file of the bytes charged, for messages.
    fn current_path(&self) -> String {
        self.dir
            .join(self.version.current_file())
            .display()
            .to_string()
    }
}

impl Sampler for CgroupMemory {
    fn name(&self) -> &'static str {
        SOURCE.name
    }

    fn sample(&mut self, out: &mut Vec<Reading>) -> Result<(), SampleError> {
        let (current, anon, file) = self.read()?;
        out.extend(
            [
                (CGROUP_CURRENT, current),
                (CGROUP_ANON, anon),
                (CGROUP_FILE, file),
            ]
            .map(|(metric, bytes)| Reading::of(metric, bytes)),
        );
        Ok(())
    }
}

/// The memory limit that binds `pid`'s cgroup: the lowest `memory.max` (v2) or
/// `memory.limit_in_bytes` (v1) of its cgroup and the cgroups above it, with the file it
/// came from; `None` when none is set (v2 `max`, v1's near-2⁶³ "unlimited") or readable.
pub fn memory_limit(pid: u32) -> Option<(u64, String)> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let (dir, version) = locate(&cgroups, &mounts, |p| p.exists())?;
    let file = match version {
        Version::V1 => "memory.limit_in_bytes",
        Version::V2 => "memory.max",
    };
    let mut best: Option<(u64, String)> = None;
    for at in dir.ancestors() {
        let path = at.join(file);
        let Ok(text) = std::fs::read_to_string(&path) else {
            break; // above the cgroup mount
        };
        let Ok(bytes) = text.trim().parse::<u64>() else {
            continue; // "max": no limit here
        };
        if bytes < 1 << 60 && best.as_ref().is_none_or(|(b, _)| bytes < *b) {
            best = Some((bytes, path.display().to_string()));
        }
    }
    best
}

/// The first of `keys` that `memory.stat` has (`key value` lines).
fn stat_value(stat: &str, keys: &[&str]) -> Option<u64> {
    keys.iter().find_map(|key| {
        stat.lines().find_map(|line| {
            let (k, v) = line.split_once(' ')?;
            (k == *key).then(|| v.trim().parse().ok()).flatten()
        })
    })
}

/// The folder of the memory cgroup named in `cgroups` (`/proc/<pid>/cgroup`) under the
/// mounts of `mounts` (`mountinfo`): v2 when its folder has `memory.current`, else the v1
/// `memory` controller's. `exists` is asked about the files (the tests give a fake tree).
pub fn locate(
    cgroups: &str,
    mounts: &str,
    exists: impl Fn(&Path) -> bool,
) -> Option<(PathBuf, Version)> {
    let mounts: Vec<Mount<'_>> = mounts.lines().filter_map(Mount::parse).collect();
    let line_of = |pick: &dyn Fn(&str, &str) -> bool| {
        cgroups.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (id, controllers, path) = (f.next()?, f.next()?, f.next()?);
            pick(id, controllers).then_some(path)
        })
    };
    let candidates = [
        (
            Version::V2,
            line_of(&|id, controllers| id == "0" && controllers.is_empty()),
            mounts.iter().find(|m| m.fstype == "cgroup2"),
        ),
        (
            Version::V1,
            line_of(&|_, controllers| controllers.split(',').any(|c| c == "memory")),
            mounts
                .iter()
                .find(|m| m.fstype == "cgroup" && m.options.split(',').any(|o| o == "memory")),
        ),
    ];
    candidates.into_iter().find_map(|(version, path, mount)| {
        let (path, mount) = (path?, mount?);
        // The cgroup's path is relative to the hierarchy's root; the mount shows the part
        // of the hierarchy below `root` (a container sees its own cgroup as `/`).
        let relative = path
            .strip_prefix(mount.root)
            .unwrap_or(path)
            .trim_start_matches('/');
        let dir = Path::new(&mount.point).join(relative);
        exists(&dir.join(version.current_file())).then_some((dir, version))
    })
}

/// The fields of one `mountinfo` line this source needs.
struct Mount<'a> {
    root: &'a str,
    point: String,
    fstype: &'a str,
    options: &'a str,
}

impl<'a> Mount<'a> {
    /// `id parent dev root point options [optional…] - fstype source super-options`.
    fn parse(line: &'a str) -> Option<Mount<'a>> {
        let (before, after) = line.split_once(" - ")?;
        let mut pre = before.split(' ');
        let root = pre.nth(3)?;
        let point = unescape(pre.next()?);
        let mut post = after.split(' ');
        let fstype = post.next()?;
        let options = post.nth(1).unwrap_or("");
        Some(Mount {
            root,
            point,
            fstype,
            options,
        })
    }
}

/// `mountinfo` writes a space, tab, newline or backslash in a path as `\ooo` (octal).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let d = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(d, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(b)) => {
                out.push(b);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTS: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn v1_memory_controller_under_a_hybrid_mount() {
        let cgroups = "4:memory:/jobs/a1\n1:cpu:/\n0::/\n";
        // The unified hierarchy has no memory controller here: v1 it is.
        let found = locate(cgroups, HYBRID_MOUNTS, |p| {
            p == Path::new("/sys/fs/cgroup/memory/jobs/a1/memory.usage_in_bytes")
        });
        assert_eq!(
            found,
            Some((PathBuf::from("/sys/fs/cgroup/memory/jobs/a1"), Version::V1))
        );
    }

    #[test]
    fn v2_when_its_folder_has_memory_current() {
        let mounts = "29 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let found = locate("0::/user.slice/run-7.scope\n", mounts, |p| {
            p.ends_with("memory.current")
        });
        assert_eq!(
            found,
            Some((
                PathBuf::from("/sys/fs/cgroup/user.slice/run-7.scope"),
                Version::V2
            ))
        );
        assert_eq!(locate("0::/x\n", mounts, |_| false), None);
    }

    #[test]
    fn a_mount_of_part_of_the_hierarchy_and_escaped_mount_points() {
        // A container's mount shows its own cgroup as the mount's root.
        let mounts =
            "50 40 0:40 /kubepods/pod1 /sys/fs/cgroup/my\\040mem rw - cgroup cgroup rw,memory\n";
        let found = locate("9:memory:/kubepods/pod1/c2\n", mounts, |_| true);
        assert_eq!(
            found,
            Some((PathBuf::from("/sys/fs/cgroup/my mem/c2"), Version::V1))
        );
    }

    #[test]
    fn memory_stat_prefers_the_hierarchical_totals_of_v1() {
        let stat = "cache 10\nrss 20\ntotal_cache 110\ntotal_rss 120\n";
        let (anon, file) = Version::V1.stat_keys();
        assert_eq!(stat_value(stat, anon), Some(120));
        assert_eq!(stat_value(stat, file), Some(110));
        assert_eq!(stat_value("cache 10\nrss 20\n", anon), Some(20));
        let (anon, file) = Version::V2.stat_keys();
        let v2 = "anon 4096\nfile 8192\nanon_thp 0\n";
        assert_eq!(
            (stat_value(v2, anon), stat_value(v2, file)),
            (Some(4096), Some(8192))
        );
    }

    /// The real cgroup of this test process, where one can be read.
    #[test]
    fn reads_the_memory_cgroup_of_this_process() {
        let mut cgroup = match CgroupMemory::open(std::process::id()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("skipped: no memory cgroup can be read here ({e})");
                return;
            }
        };
        let mut out = Vec::new();
        cgroup.sample(&mut out).expect("a sample of an open cgroup");
        let names: Vec<&str> = out.iter().map(|r| r.metric.as_ref()).collect();
        assert_eq!(names, [CGROUP_CURRENT, CGROUP_ANON, CGROUP_FILE]);
        // This process runs in it, so something is charged.
        assert!(out[0].bytes > 0, "{:?} in {}", out, cgroup.dir().display());
        eprintln!(
            "{:?} cgroup {}: current {} B, anon {} B, file {} B",
            cgroup.version(),
            cgroup.dir().display(),
            out[0].bytes,
            out[1].bytes,
            out[2].bytes
        );
    }
}
