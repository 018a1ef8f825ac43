//! The merged timeline of one run, and the `samples.jsonl` record format it is stored in.
//!
//! # `samples.jsonl` (record format 1)
//!
//! One JSON object per line, tagged by `"type"`, appended the moment it arrives and
//! flushed at least every 100 ms, so a crash of the child or of leakcheck loses
//! nothing already sampled. `t_s` is always seconds since the child was spawned, on
//! `CLOCK_MONOTONIC` (the clock the child's marks use), so in-process marks and
//! external samples share one axis. Sizes are bytes.
//!
//! | `type`       | fields |
//! |--------------|--------|
//! | `run`        | `format` (1), `version` (leakcheck), `scenario`, `argv`, `started_unix`, `pid`, `rss_interval_s`, `gpu_interval_s`, `timeout_s`, `no_progress_timeout_s` (null: off), `ceiling` (null: none) — always the first line |
//! | `gpu_status` | `status`: `"available: …"` or `"unavailable (reason)"`, once |
//! | `hello`      | `t_s`, `version`, `pid`, `allocator` (the child's `hello`) |
//! | `mark`       | `iteration`, `t_s`, `rss_bytes` (optional; `rss` in files written before 2026-12-07, still read), `alloc` (optional: `allocated`, `active`, `resident`, `mapped`, `metadata`, `retained`), `stats` (optional: named numbers such as `py.blocks`, see `leakcheck_probe::metrics`) |
//! | `tree`       | `t_s`, `rss` (root process), `rss_tree` (absent between walks of a tree of several processes), `pss_tree` (optional), `pids`, `stats` (optional: the registered memory sources' readings by metric name, see `leakcheck_probe::sources`) |
//! | `gpu`        | `t_s`, `process` (the tree's processes), `device` (all devices), each optional |
//! | `session`    | `event` (`start`/`end`), `id`, `label`, `t_s`, `iteration` (last mark before it, optional) |
//! | `checkpoint` | `id`, `label`, `t_s`, `rss_bytes` (optional; as on `mark`), `alloc` (optional), `stats` (optional): one reading at a quiescent point (a few per checkpoint) |
//! | `attribution` | `t_s`, `method`, `from_iteration`, `to_iteration`, `marks`, `sites` (`location`, `function`, `bytes`, `blocks`, `stack`): where memory grew, from the child (an attribution pass) |
//! | `note`       | `t_s`, `text` (from the child) |
//! | `warning`    | `t_s`, `text` (from the runner: why it stopped the child, a broken writer, …) |
//! | `end`        | `t_s` (the child said it finished normally) |
//! | `exit`       | `wall_s`, `termination` (tagged by `kind`: `exited` {`code`}, `signaled` {`signal`}, `timed_out` {`after_s`}, `hung` {`no_progress_for_s`, `last_iteration`}, `ceiling_exceeded` {`ceiling`, `peak`}, `cancelled`, `stopped_early` {`last_iteration`}, `length_reached` {`last_iteration`}), `code`, `signal`, `escalated` (SIGKILL was needed), `peak_rss_tree`, `decode` (wire decoder counters), `stopped_early` (the reason, optional) — the last line of a run leakcheck survived |
//!
//! Readers ignore unknown fields; [`crate::read_run`] skips unknown or broken
//! lines with a warning (a run cut short may end in half a line).

use leakcheck_probe::metrics;
use leakcheck_probe::wire::{
    AllocStats, DecodeStats, Measured, SessionEvent, Stats, WireSite, finite_stats,
};
use leakcheck_vocab::{Termination, ValueUnit, XUnit};
use serde::{Deserialize, Serialize};

/// File name of the streamed records inside a run's folder (`RunSpec::out_dir` in the runner).
pub const SAMPLES_FILE: &str = "samples.jsonl";

/// Version of the `samples.jsonl` record format.
pub const SAMPLES_FORMAT: u32 = 1;

/// One iteration mark from the child.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkRecord {
    pub iteration: u64,
    pub t_s: f64,
    /// What the child measured of itself at the mark, as it sent it.
    #[serde(flatten)]
    pub measured: Measured,
}

/// One external sample of the process tree (procfs, taken by the runner).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeRecord {
    pub t_s: f64,
    /// RSS of the root process alone.
    pub rss: u64,
    /// RSS summed over the root and all its descendants; absent on the samples taken
    /// between walks of a tree of several processes (the root's own RSS only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_tree: Option<u64>,
    /// PSS summed over the tree (only when asked for, at a lower rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pss_tree: Option<u64>,
    /// Number of processes in the tree.
    pub pids: u32,
    /// The registered memory sources' readings taken with this sample
    /// (`leakcheck_probe::sources`: `rss.anon`, `cgroup.current`, …), by metric name.
    #[serde(
        default,
        skip_serializing_if = "Stats::is_empty",
        deserialize_with = "finite_stats"
    )]
    pub stats: Stats,
}

/// The RSS of each process of the tree, written at most every
/// [`PROCS_INTERVAL_S`]: which of them grows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcsRecord {
    pub t_s: f64,
    /// `[pid, rss bytes]` of each process of the tree at the walk.
    pub rss: Vec<(u32, u64)>,
}

/// How often at most the runner writes a [`ProcsRecord`], seconds.
pub const PROCS_INTERVAL_S: f64 = 0.5;

/// A process of the tree, when it was first seen: who it is (`pid` alone is no name, and
/// a pid may come back as another process).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessRecord {
    pub t_s: f64,
    pub pid: u32,
    pub ppid: u32,
    /// Its command line, arguments joined by spaces.
    pub command: String,
}

/// One external GPU sample (NVML).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuRecord {
    pub t_s: f64,
    /// Device memory used by the tree's processes.
    #[serde(default)]
    pub process: Option<u64>,
    /// Device memory used on all devices.
    #[serde(default)]
    pub device: Option<u64>,
}

/// A session boundary from the child.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub event: SessionEvent,
    pub id: u64,
    pub label: String,
    pub t_s: f64,
    /// The last mark before the boundary, to place it on an iteration axis.
    #[serde(default)]
    pub iteration: Option<u64>,
}

/// One reading of a checkpoint (a quiescent point where retained memory is measured).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    pub id: u64,
    pub label: String,
    pub t_s: f64,
    /// What the child measured of itself at this reading.
    #[serde(flatten)]
    pub measured: Measured,
}

/// Where memory grew, as the child measured it (an attribution pass's client).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributionRecord {
    pub t_s: f64,
    pub method: String,
    pub from_iteration: u64,
    pub to_iteration: u64,
    pub marks: u64,
    pub sites: Vec<WireSite>,
}

/// Outside samples this long after a checkpoint's last reading still count as taken at
/// it (the runner samples in a burst when a checkpoint arrives).
pub const CHECKPOINT_WINDOW_S: f64 = 0.02;

/// The child's `hello`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HelloRecord {
    pub t_s: f64,
    pub version: u32,
    pub pid: u32,
    pub allocator: String,
}

/// The first line of `samples.jsonl`: what ran, when and how it was watched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    /// [`SAMPLES_FORMAT`].
    pub format: u32,
    /// The leakcheck version that wrote the file.
    pub version: String,
    pub scenario: String,
    pub argv: Vec<String>,
    /// Wall-clock start, seconds since the Unix epoch.
    pub started_unix: f64,
    pub pid: u32,
    pub rss_interval_s: f64,
    pub gpu_interval_s: f64,
    pub timeout_s: f64,
    #[serde(default)]
    pub no_progress_timeout_s: Option<f64>,
    #[serde(default)]
    pub ceiling: Option<u64>,
}

/// The last line: how the run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitRecord {
    pub wall_s: f64,
    pub termination: Termination,
    /// Raw exit code of the child, if it exited.
    pub code: Option<i32>,
    /// Raw signal that ended the child, if one did.
    pub signal: Option<i32>,
    /// SIGTERM was not enough: the group got SIGKILL after the grace period.
    pub escalated: bool,
    /// Highest `rss_tree` sampled.
    pub peak_rss_tree: u64,
    pub decode: DecodeStats,
    /// Why the early-stop check stopped the run, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
}

/// One line of `samples.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Run(RunHeader),
    GpuStatus { status: String },
    Hello(HelloRecord),
    Mark(MarkRecord),
    Tree(TreeRecord),
    Procs(ProcsRecord),
    Process(ProcessRecord),
    Gpu(GpuRecord),
    Session(SessionRecord),
    Checkpoint(CheckpointRecord),
    Attribution(AttributionRecord),
    Note { t_s: f64, text: String },
    Warning { t_s: f64, text: String },
    End { t_s: f64 },
    Exit(ExitRecord),
}

/// Everything one run produced, merged on one time axis.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    pub marks: Vec<MarkRecord>,
    pub samples: Vec<TreeRecord>,
    /// Each process's RSS, about once a second.
    pub procs: Vec<ProcsRecord>,
    /// The processes of the tree as they were first seen.
    pub processes: Vec<ProcessRecord>,
    pub gpu: Vec<GpuRecord>,
    pub sessions: Vec<SessionRecord>,
    /// Checkpoint readings, in arrival order.
    pub checkpoints: Vec<CheckpointRecord>,
    /// The child's last `attribution` message (each covers the run up to it).
    pub attribution: Option<AttributionRecord>,
    /// Free text from the child (`note` messages), in order.
    pub notes: Vec<String>,
    /// Warnings from the runner (why it stopped the child, a broken wire stream, …).
    pub warnings: Vec<String>,
    pub hello: Option<HelloRecord>,
    /// The child sent `end`.
    pub ended: bool,
    pub decode: DecodeStats,
    /// `"available: …"` or `"unavailable (reason)"`; empty before the sampler reported.
    pub gpu_status: String,
}

/// The built-in metrics a [`Timeline`] can hold, in the order reports list them;
/// [`known_metrics`] adds the registered sources' ones.
pub const ALL_METRICS: [&str; 17] = [
    metrics::RSS,
    metrics::RSS_TREE,
    metrics::PSS_TREE,
    metrics::ALLOC_ALLOCATED,
    metrics::ALLOC_ACTIVE,
    metrics::ALLOC_RESIDENT,
    metrics::ALLOC_MAPPED,
    metrics::ALLOC_METADATA,
    metrics::GPU_PROCESS,
    metrics::GPU_DEVICE,
    metrics::PY_BLOCKS,
    metrics::PY_GC_GEN0,
    metrics::PY_GC_GEN1,
    metrics::PY_GC_GEN2,
    metrics::PY_TRACED,
    metrics::TORCH_CUDA_ALLOCATED,
    metrics::TORCH_CUDA_RESERVED,
];

/// Every metric a budget may name: the built-in ones ([`ALL_METRICS`]), then those of
/// the registered memory sources (`leakcheck_probe::sources`), in that order.
pub fn known_metrics() -> Vec<&'static str> {
    ALL_METRICS
        .into_iter()
        .chain(leakcheck_probe::sources::metrics())
        .collect()
}

/// What `metric`'s values count: bytes, or things ([`metrics::COUNT_METRICS`]).
pub fn unit_of(metric: &str) -> ValueUnit {
    if metrics::COUNT_METRICS.contains(&metric) {
        ValueUnit::Count
    } else {
        ValueUnit::Bytes
    }
}

impl Timeline {
    /// Merge one record (the live runner and [`crate::read_run`] share this path,
    /// so a re-read timeline equals the live one).
    pub fn apply(&mut self, record: &Record) {
        match record {
            Record::Run(_) | Record::Exit(_) => {}
            Record::GpuStatus { status } => self.gpu_status.clone_from(status),
            Record::Hello(h) => self.hello = Some(h.clone()),
            Record::Mark(m) => self.marks.push(m.clone()),
            Record::Tree(t) => self.samples.push(t.clone()),
            Record::Procs(p) => self.procs.push(p.clone()),
            Record::Process(p) => self.processes.push(p.clone()),
            Record::Gpu(g) => self.gpu.push(g.clone()),
            Record::Session(s) => self.sessions.push(s.clone()),
            Record::Checkpoint(c) => self.checkpoints.push(c.clone()),
            Record::Attribution(a) => self.attribution = Some(a.clone()),
            Record::Note { text, .. } => self.notes.push(text.clone()),
            Record::Warning { text, .. } => self.warnings.push(text.clone()),
            Record::End { .. } => self.ended = true,
        }
    }

    /// The last time of each outside stream (tree samples, GPU samples). With
    /// [`Timeline::retain_to`], the one place that lists the timed streams: a look cuts
    /// every stream the same way, so a live look equals a re-read one. The per-process
    /// records are not waited for (a look does not judge them; they come once a second).
    pub(crate) fn outside_ends(&self) -> [Option<f64>; 2] {
        [
            self.samples.last().map(|s| s.t_s),
            self.gpu.last().map(|g| g.t_s),
        ]
    }

    /// Keeps the records of every timed stream up to `cut` seconds.
    pub(crate) fn retain_to(&mut self, cut: f64) {
        self.marks.retain(|m| m.t_s <= cut);
        self.samples.retain(|s| s.t_s <= cut);
        self.procs.retain(|p| p.t_s <= cut);
        self.processes.retain(|p| p.t_s <= cut);
        self.gpu.retain(|g| g.t_s <= cut);
        self.sessions.retain(|s| s.t_s <= cut);
        self.checkpoints.retain(|c| c.t_s <= cut);
    }

    /// The last iteration the child marked.
    pub fn last_iteration(&self) -> Option<u64> {
        self.marks.last().map(|m| m.iteration)
    }

    /// Highest `rss_tree` sampled (0 without samples).
    pub fn peak_rss_tree(&self) -> u64 {
        self.samples
            .iter()
            .filter_map(|s| s.rss_tree)
            .max()
            .unwrap_or(0)
    }

    /// The first mark whose iteration does not exceed the one before it, as
    /// `(mark index, its iteration, the previous iteration)`; `None` when the marks'
    /// iterations strictly increase.
    pub fn iteration_disorder(&self) -> Option<(usize, u64, u64)> {
        self.marks
            .windows(2)
            .position(|w| w[1].iteration <= w[0].iteration)
            .map(|i| (i + 1, self.marks[i + 1].iteration, self.marks[i].iteration))
    }

    /// The x of each mark on the iteration axis: its iteration number when those
    /// strictly increase, else its arrival index (a program whose iterations repeat, go
    /// back, or restart at 0 each session is judged per mark in arrival order).
    pub fn mark_xs(&self) -> Vec<f64> {
        if self.iteration_disorder().is_none() {
            self.marks.iter().map(|m| m.iteration as f64).collect()
        } else {
            (0..self.marks.len()).map(|i| i as f64).collect()
        }
    }

    /// Where sessions start on `axis`, strictly increasing (what
    /// `leakcheck_analysis::analyze_metric` takes as `session_starts`).
    ///
    /// On the iteration axis a session that starts after mark `k` starts at
    /// `k + 0.5` (its first mark is `k + 1`); one that starts before any mark at
    /// half an iteration before the first mark. When the marks are judged in arrival
    /// order ([`Timeline::mark_xs`]) the session starts half a step before the first
    /// mark that came after it. Starts that fall on the same x as the previous one (a
    /// session without marks) are dropped.
    pub fn session_starts(&self, axis: XUnit) -> Vec<f64> {
        let first = self.marks.first().map_or(0.0, |m| m.iteration as f64);
        let by_arrival = self.iteration_disorder().is_some();
        let mut out: Vec<f64> = Vec::new();
        for s in self
            .sessions
            .iter()
            .filter(|s| s.event == SessionEvent::Start)
        {
            let x = match axis {
                XUnit::Iteration if by_arrival => {
                    self.marks.partition_point(|m| m.t_s < s.t_s) as f64 - 0.5
                }
                XUnit::Iteration => s.iteration.map_or(first - 0.5, |i| i as f64 + 0.5),
                XUnit::Second => s.t_s,
            };
            if out.last().is_none_or(|&last| x > last) {
                out.push(x);
            }
        }
        out
    }

    /// The metrics this timeline has data for, in [`known_metrics`] order.
    pub fn metrics(&self) -> Vec<&'static str> {
        known_metrics()
            .into_iter()
            .filter(|m| self.series(m).is_some())
            .collect()
    }

    /// One metric as `(x, bytes, axis)`; `None` for an unknown metric or one without data.
    ///
    /// Metrics the marks carry (`rss`, `alloc.*`, and any name in their `stats`, such
    /// as `py.blocks`) are per iteration. External metrics
    /// (`rss.tree`, `pss.tree`, `gpu.*`) are per iteration too when the child marks
    /// (each sample once, at the fractional iteration of its time), else per second. `rss` falls back to the external root-process RSS
    /// when the marks do not carry it (a writer that only counts iterations, or a
    /// command that never marks).
    pub fn series(&self, metric: &str) -> Option<(Vec<f64>, Vec<f64>, XUnit)> {
        let mark_xs = self.mark_xs();
        let from_marks = |f: &dyn Fn(&MarkRecord) -> Option<f64>| {
            let (x, y): (Vec<f64>, Vec<f64>) = self
                .marks
                .iter()
                .zip(&mark_xs)
                .filter_map(|(m, &x)| Some((x, f(m)?)))
                .unzip();
            non_empty(x, y, XUnit::Iteration)
        };
        let alloc = |f: fn(&AllocStats) -> u64| {
            from_marks(&|m| m.measured.alloc.as_ref().map(|a| f(a) as f64))
        };
        let bytes = |v: Option<u64>| v.map(|v| v as f64);
        match metric {
            metrics::RSS => from_marks(&|m| m.measured.rss_bytes.map(|v| v as f64))
                .or_else(|| self.external(&self.samples, |s| s.t_s, |s| Some(s.rss as f64))),
            metrics::ALLOC_ALLOCATED => alloc(|a| a.allocated),
            metrics::ALLOC_ACTIVE => alloc(|a| a.active),
            metrics::ALLOC_RESIDENT => alloc(|a| a.resident),
            metrics::ALLOC_MAPPED => alloc(|a| a.mapped),
            metrics::ALLOC_METADATA => alloc(|a| a.metadata),
            metrics::RSS_TREE => self.external(&self.samples, |s| s.t_s, |s| bytes(s.rss_tree)),
            metrics::PSS_TREE => self.external(&self.samples, |s| s.t_s, |s| bytes(s.pss_tree)),
            metrics::GPU_PROCESS => self.external(&self.gpu, |g| g.t_s, |g| bytes(g.process)),
            metrics::GPU_DEVICE => self.external(&self.gpu, |g| g.t_s, |g| bytes(g.device)),
            named => from_marks(&|m| m.measured.stats.get(named).copied()).or_else(|| {
                self.external(&self.samples, |s| s.t_s, |s| s.stats.get(named).copied())
            }),
        }
    }

    /// The values of an outside metric's samples that [`Timeline::series`] cannot place on
    /// the iteration axis: `(before the first mark, after the last mark)`, each in time
    /// order. `None` for a metric the marks carry, or a run without marks (every sample is
    /// then in the per-second series). A peak or a growth after the program stopped
    /// marking (an evaluation loop after the training loop) is in these.
    pub fn unplaced(&self, metric: &str) -> Option<(Vec<f64>, Vec<f64>)> {
        let (first, last) = (self.marks.first()?.t_s, self.marks.last()?.t_s);
        let split = |points: Vec<(f64, f64)>| {
            let before = points.iter().filter(|p| p.0 < first).map(|p| p.1).collect();
            let after = points.iter().filter(|p| p.0 > last).map(|p| p.1).collect();
            (before, after)
        };
        let tree =
            |v: &dyn Fn(&TreeRecord) -> Option<f64>| split(timed(&self.samples, |s| s.t_s, v));
        let gpu = |v: &dyn Fn(&GpuRecord) -> Option<f64>| split(timed(&self.gpu, |g| g.t_s, v));
        let bytes = |v: Option<u64>| v.map(|v| v as f64);
        match metric {
            metrics::RSS if self.marks.iter().all(|m| m.measured.rss_bytes.is_none()) => {
                Some(tree(&|s| Some(s.rss as f64)))
            }
            metrics::RSS_TREE => Some(tree(&|s| bytes(s.rss_tree))),
            metrics::PSS_TREE => Some(tree(&|s| bytes(s.pss_tree))),
            metrics::GPU_PROCESS => Some(gpu(&|g| bytes(g.process))),
            metrics::GPU_DEVICE => Some(gpu(&|g| bytes(g.device))),
            named if self.samples.iter().any(|s| s.stats.contains_key(named)) => {
                Some(tree(&|s| s.stats.get(named).copied()))
            }
            _ => None,
        }
    }

    /// An externally sampled metric. Without marks it is per second. With marks every
    /// sample keeps its own clock and is placed once on the iteration axis, at the
    /// fractional iteration interpolated between the marks before and after it, so n is
    /// the number of distinct samples and a peak between two marks is kept. Samples
    /// before the first mark or after the last one have no iteration and are left out.
    fn external<T>(
        &self,
        records: &[T],
        t: fn(&T) -> f64,
        value: impl Fn(&T) -> Option<f64>,
    ) -> Option<(Vec<f64>, Vec<f64>, XUnit)> {
        let points = timed(records, t, value);
        if self.marks.is_empty() {
            let (x, y) = points.into_iter().unzip();
            return non_empty(x, y, XUnit::Second);
        }
        let mark_xs = self.mark_xs();
        let (x, y) = at_fractional_iterations(&self.marks, &mark_xs, &points);
        non_empty(x, y, XUnit::Iteration)
    }
}

/// The `(t_s, value)` of each record that has a value.
fn timed<T>(records: &[T], t: fn(&T) -> f64, value: impl Fn(&T) -> Option<f64>) -> Vec<(f64, f64)> {
    records
        .iter()
        .filter_map(|r| Some((t(r), value(r)?)))
        .collect()
}

/// Each `(t_s, value)` point placed at the x interpolated between the marks around it
/// (both lists in time order, walked once). A point that would not move x forward (two
/// samples at one instant, marks out of time order) is dropped: x stays strictly
/// increasing.
fn at_fractional_iterations(
    marks: &[MarkRecord],
    mark_xs: &[f64],
    points: &[(f64, f64)],
) -> (Vec<f64>, Vec<f64>) {
    let mut x = Vec::with_capacity(points.len());
    let mut y = Vec::with_capacity(points.len());
    let mut next = 0; // the first mark after the point
    for &(t_s, value) in points {
        while next < marks.len() && marks[next].t_s <= t_s {
            next += 1;
        }
        if next == 0 || next == marks.len() {
            continue;
        }
        let (before, after) = (&marks[next - 1], &marks[next]);
        let dt = after.t_s - before.t_s;
        let along = if dt > 0.0 {
            (t_s - before.t_s) / dt
        } else {
            0.0
        };
        let xi = mark_xs[next - 1] + along * (mark_xs[next] - mark_xs[next - 1]);
        if x.last().is_none_or(|&last| xi > last) {
            x.push(xi);
            y.push(value);
        }
    }
    (x, y)
}

fn non_empty(x: Vec<f64>, y: Vec<f64>, axis: XUnit) -> Option<(Vec<f64>, Vec<f64>, XUnit)> {
    (!x.is_empty()).then_some((x, y, axis))
}

/// Record builders for this crate's tests.
#[cfg(test)]
pub(crate) mod build {
    use super::*;

    pub(crate) fn mark(iteration: u64, t_s: f64, rss: Option<u64>) -> Record {
        Record::Mark(MarkRecord {
            iteration,
            t_s,
            measured: Measured {
                rss_bytes: rss,
                ..Measured::default()
            },
        })
    }

    pub(crate) fn tree(t_s: f64, rss: u64, rss_tree: u64) -> Record {
        Record::Tree(TreeRecord {
            t_s,
            rss,
            rss_tree: Some(rss_tree),
            pss_tree: None,
            pids: 1,
            stats: Stats::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::build::{mark, tree};
    use super::*;

    #[test]
    fn external_samples_sit_at_the_fractional_iteration_of_their_own_time() {
        let mut tl = Timeline::default();
        for r in [
            tree(0.05, 10, 100),
            mark(1, 0.10, Some(7)),
            tree(0.10, 11, 110),
            tree(0.15, 12, 120),
            mark(2, 0.20, Some(8)),
            tree(0.25, 13, 130),
            mark(3, 0.30, Some(9)),
            tree(0.35, 14, 140),
        ] {
            tl.apply(&r);
        }
        let (x, y, axis) = tl.series("rss.tree").unwrap();
        assert_eq!(axis, XUnit::Iteration);
        // Before the first mark and after the last one there is no iteration to place
        // a sample at.
        assert_eq!(y, [110.0, 120.0, 130.0]);
        let expected = [1.0, 1.5, 2.5];
        assert!(
            x.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-9),
            "{x:?}"
        );
        // Marks that carry rss win over the external root rss.
        assert_eq!(tl.series("rss").unwrap().1, [7.0, 8.0, 9.0]);
        assert!(tl.series("alloc.allocated").is_none());
        assert!(tl.series("no.such.metric").is_none());
    }

    /// The bug: every outside sample was repeated at each mark after it ("the last sample
    /// before this mark"), so at 350 marks/s and 20 Hz one value counted ~17 times, and
    /// the peak between two marks was lost.
    #[test]
    fn outside_samples_are_counted_once_not_once_per_mark() {
        let mut tl = Timeline::default();
        let mut peak = 0;
        for i in 0..700u64 {
            let t_s = i as f64 / 350.0;
            tl.apply(&mark(i, t_s, None));
            if i % 17 == 8 {
                let v = 1000 + (i * 7919) % 113;
                peak = peak.max(v);
                tl.apply(&tree(t_s + 0.001, v, v));
            }
        }
        let (x, y, _) = tl.series("rss.tree").unwrap();
        assert_eq!(y.len(), tl.samples.len(), "one point per sample");
        assert!(x.windows(2).all(|w| w[1] > w[0]));
        assert_eq!(y.iter().copied().fold(0.0, f64::max), peak as f64);
    }

    #[test]
    fn named_stats_are_per_iteration_series_and_counts_are_counts() {
        let mut tl = Timeline::default();
        for i in 0..3u64 {
            let mut stats = Stats::new();
            stats.insert(metrics::PY_BLOCKS.to_owned(), 1000.0 + 7.0 * i as f64);
            if i > 0 {
                stats.insert(metrics::PY_TRACED.to_owned(), 4096.0 * i as f64);
            }
            tl.apply(&Record::Mark(MarkRecord {
                iteration: i,
                t_s: i as f64 / 10.0,
                measured: Measured {
                    stats,
                    ..Measured::default()
                },
            }));
        }
        let (x, y, axis) = tl.series(metrics::PY_BLOCKS).unwrap();
        assert_eq!(
            (x, y, axis),
            (
                vec![0.0, 1.0, 2.0],
                vec![1000.0, 1007.0, 1014.0],
                XUnit::Iteration
            )
        );
        // A stat the first mark lacked starts where it was first sent.
        assert_eq!(tl.series(metrics::PY_TRACED).unwrap().0, [1.0, 2.0]);
        assert_eq!(tl.metrics(), [metrics::PY_BLOCKS, metrics::PY_TRACED]);
        assert_eq!(unit_of(metrics::PY_BLOCKS), ValueUnit::Count);
        assert_eq!(unit_of(metrics::PY_TRACED), ValueUnit::Bytes);
        // samples.jsonl keeps them: a mark read back has the same stats.
        let line = serde_json::to_string(&Record::Mark(tl.marks[2].clone())).unwrap();
        assert!(
            line.contains(r#""stats":{"py.blocks":1014.0,"py.traced":8192.0}"#),
            "{line}"
        );
        assert_eq!(
            serde_json::from_str::<Record>(&line).unwrap(),
            Record::Mark(tl.marks[2].clone())
        );
    }

    #[test]
    fn without_marks_series_are_per_second_and_rss_falls_back_to_the_root() {
        let mut tl = Timeline::default();
        for r in [tree(0.0, 5, 50), tree(1.0, 6, 60)] {
            tl.apply(&r);
        }
        assert_eq!(
            tl.series("rss").unwrap(),
            (vec![0.0, 1.0], vec![5.0, 6.0], XUnit::Second)
        );
        assert_eq!(tl.metrics(), ["rss", "rss.tree"]);
    }

    fn session(event: SessionEvent, id: u64, t_s: f64, iteration: Option<u64>) -> Record {
        Record::Session(SessionRecord {
            event,
            id,
            label: format!("s{id}"),
            t_s,
            iteration,
        })
    }

    #[test]
    fn session_starts_sit_between_marks_and_increase_strictly() {
        let mut tl = Timeline::default();
        for r in [
            session(SessionEvent::Start, 1, 0.1, None),
            mark(1, 0.2, None),
            mark(2, 0.3, None),
            session(SessionEvent::End, 1, 0.35, Some(2)),
            session(SessionEvent::Start, 2, 0.4, Some(2)),
            session(SessionEvent::Start, 3, 0.5, Some(2)),
            mark(3, 0.6, None),
        ] {
            tl.apply(&r);
        }
        assert_eq!(tl.session_starts(XUnit::Iteration), [0.5, 2.5]);
        assert_eq!(tl.session_starts(XUnit::Second), [0.1, 0.4, 0.5]);
    }

    #[test]
    fn iterations_that_restart_each_session_are_judged_in_arrival_order() {
        let mut tl = Timeline::default();
        for r in [
            session(SessionEvent::Start, 1, 0.0, None),
            mark(0, 0.1, Some(10)),
            mark(1, 0.2, Some(11)),
            session(SessionEvent::Start, 2, 0.25, Some(1)),
            mark(0, 0.3, Some(12)),
            mark(1, 0.4, Some(13)),
        ] {
            tl.apply(&r);
        }
        assert_eq!(tl.iteration_disorder(), Some((2, 0, 1)));
        let (x, y, _) = tl.series("rss").unwrap();
        assert_eq!(
            x,
            [0.0, 1.0, 2.0, 3.0],
            "arrival order, strictly increasing"
        );
        assert_eq!(y, [10.0, 11.0, 12.0, 13.0]);
        assert_eq!(tl.session_starts(XUnit::Iteration), [-0.5, 1.5]);
    }

    #[test]
    fn records_round_trip_through_json() {
        let r = Record::Exit(ExitRecord {
            wall_s: 1.5,
            termination: Termination::Hung {
                no_progress_for: Duration::from_millis(2500),
                last_iteration: Some(41),
            },
            code: None,
            signal: Some(15),
            escalated: false,
            peak_rss_tree: 1 << 20,
            decode: DecodeStats::default(),
            stopped_early: None,
        });
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains(r#""kind":"hung""#), "{line}");
        assert!(line.contains(r#""no_progress_for_s":2.5"#), "{line}");
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), r);
    }
}
