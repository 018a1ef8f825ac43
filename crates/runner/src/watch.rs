//! The merging thread's state: it merges wire messages and outside samples into the
//! [`Timeline`], streams every record to disk, and decides when to stop the child
//! (timeout, no progress, ceiling, cancellation, early stop).

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use leakcheck_probe::monotonic_ns;
use leakcheck_probe::wire::{Message, WIRE_VERSION};
use leakcheck_records::{
    AttributionRecord, CheckpointRecord, HelloRecord, MarkRecord, Record, RunEnding, SessionRecord,
    Termination, Timeline,
};
use leakcheck_vocab::fmt;
use rustix::process::Signal;

use crate::sampling::{Input, SamplerCommand};
use crate::spawn::ChildGuard;
use crate::spec::{Event, RunSpec, StopRequest};
use crate::writer::RecordWriter;

/// How often the merging thread wakes up without input: bounds the latency of exit
/// detection, of deadlines and of flushing.
pub(crate) const TICK: Duration = Duration::from_millis(25);

/// How often at most the early-stop check runs (only when new data came in; the check
/// itself judges only when the data completes a look).
pub const EARLY_STOP_INTERVAL: Duration = Duration::from_millis(25);

/// A pipe closed this long (and a tenth of the run) before the program exited, without
/// `end`, is worth a warning ([`Watch::warn_if_closed_early`]).
pub const EARLY_CLOSE_S: f64 = 1.0;

/// Seconds between two `CLOCK_MONOTONIC` readings, negative when `t_ns` is earlier.
pub(crate) fn since(t_ns: u64, origin_ns: u64) -> f64 {
    (t_ns as i128 - origin_ns as i128) as f64 / 1e9
}

/// The runner's decision to stop the child.
pub(crate) struct Stop {
    pub(crate) reason: Termination,
    kill_at: Instant,
}

/// State of the merging thread.
pub(crate) struct Watch<'a> {
    pub(crate) spec: &'a RunSpec,
    pub(crate) out: RecordWriter,
    pub(crate) timeline: Timeline,
    pub(crate) observer: &'a mut dyn FnMut(&Event),
    pub(crate) spawn_ns: u64,
    pub(crate) last_progress: Instant,
    pub(crate) stopping: Option<Stop>,
    pub(crate) peak: u64,
    pub(crate) wire_done: bool,
    /// When the pipe reached EOF (seconds on the run's clock), to tell a program that
    /// closed or replaced its fd long before it exited.
    pub(crate) wire_closed_s: Option<f64>,
    /// The program's clock was found not to be `CLOCK_MONOTONIC` (warned once).
    pub(crate) clock_warned: bool,
    pub(crate) escalated: bool,
    pub(crate) early_stop: &'a mut dyn FnMut(&Timeline) -> Option<StopRequest>,
    pub(crate) next_early_check: Instant,
    /// Marks + samples seen at the last early-stop check (only new data is worth a check).
    pub(crate) data_at_last_check: usize,
    pub(crate) stopped_early: Option<String>,
    /// Asks the outside sampler for a burst at a checkpoint.
    pub(crate) sampler: Sender<SamplerCommand>,
    /// The checkpoint ids seen so far (a burst for the first reading of each).
    pub(crate) checkpoints_seen: Vec<u64>,
}

impl Watch<'_> {
    /// Merge, stream and check until the group leader has exited; returns its status.
    pub(crate) fn supervise(
        &mut self,
        rx: &Receiver<Input>,
        guard: &mut ChildGuard,
        started: Instant,
    ) -> ExitStatus {
        // Inputs are handled as they arrive; flushing, the exit check and the stop checks
        // run once a tick, not once a sample (at 200 Hz they were most of the runner's
        // cost).
        let mut next_tick = Instant::now();
        loop {
            match rx.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
                Ok(input) => {
                    self.handle(input);
                    while let Ok(input) = rx.try_recv() {
                        self.handle(input);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                // The sampler and the reader are gone: nothing more will arrive.
                Err(RecvTimeoutError::Disconnected) => thread::sleep(TICK),
            }
            let now = Instant::now();
            if now < next_tick {
                continue;
            }
            next_tick = now + TICK;
            self.out.flush();
            if guard.exited() {
                break;
            }
            if self.stopping.is_none() {
                if let Some(reason) = self.stop_reason(now, started) {
                    let ending = RunEnding {
                        termination: Some(reason),
                        last_iteration: self.timeline.last_iteration(),
                        message: None,
                    };
                    self.warn(format!(
                        "{}; stopping the process group (SIGTERM, SIGKILL after {})",
                        ending.describe(),
                        fmt::duration(self.spec.grace)
                    ));
                    guard.signal_group(Signal::TERM);
                    self.stopping = Some(Stop {
                        reason,
                        kill_at: now + self.spec.grace,
                    });
                }
            } else if let Some(stop) = &self.stopping
                && !self.escalated
            {
                if now >= stop.kill_at {
                    self.escalated = true;
                    self.warn(format!(
                        "the process group ignored SIGTERM for {}; sending SIGKILL",
                        fmt::duration(self.spec.grace)
                    ));
                    guard.signal_group(Signal::KILL);
                } else if self.interrupts() >= 2 {
                    // A second Ctrl-C: the user will not wait for the grace period.
                    self.escalated = true;
                    self.warn("interrupted again: sending SIGKILL now".to_owned());
                    guard.signal_group(Signal::KILL);
                }
            }
        }
        match guard.reap() {
            Ok(status) => status,
            Err(e) => {
                self.warn(format!("waiting for pid {} failed: {e}", guard.pid));
                ExitStatus::from_raw(-1)
            }
        }
    }

    /// How many times the user asked to stop so far.
    fn interrupts(&self) -> usize {
        self.spec
            .cancel
            .as_ref()
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn stop_reason(&mut self, now: Instant, started: Instant) -> Option<Termination> {
        if self.interrupts() > 0 {
            return Some(Termination::Cancelled);
        }
        if now.duration_since(started) >= self.spec.timeout {
            return Some(Termination::TimedOut {
                after: self.spec.timeout,
            });
        }
        if let Some(limit) = self.spec.no_progress_timeout {
            let quiet = now.duration_since(self.last_progress);
            if quiet >= limit {
                return Some(Termination::Hung {
                    no_progress_for: quiet,
                    last_iteration: self.timeline.last_iteration(),
                });
            }
        }
        if let Some(ceiling) = self.spec.ceiling
            && self.peak > ceiling
        {
            return Some(Termination::CeilingExceeded {
                ceiling,
                peak: self.peak,
            });
        }
        let data = self.timeline.marks.len() + self.timeline.samples.len();
        if now >= self.next_early_check && data > self.data_at_last_check {
            self.next_early_check = now + EARLY_STOP_INTERVAL;
            self.data_at_last_check = data;
            let last_iteration = self.timeline.last_iteration();
            match (self.early_stop)(&self.timeline) {
                Some(StopRequest::Decided(reason)) => {
                    self.warn(format!("stopping early: {reason}"));
                    self.stopped_early = Some(reason);
                    return Some(Termination::StoppedEarly { last_iteration });
                }
                Some(StopRequest::AtMaximum(reason)) => {
                    self.warn(format!("stopping: {reason}"));
                    self.stopped_early = Some(reason);
                    return Some(Termination::LengthReached { last_iteration });
                }
                None => {}
            }
        }
        None
    }

    fn t_s(&self, t_ns: u64) -> f64 {
        since(t_ns, self.spawn_ns)
    }

    /// The run's time of a `t_ns` the program sent. A time before the spawn, in the
    /// future, or a minute behind is not `CLOCK_MONOTONIC` (`time.time_ns()`, or 0): it is
    /// taken as arriving now, with one warning, so the marks still line up with the
    /// outside samples.
    fn sent_at(&mut self, t_ns: u64) -> f64 {
        let (sent, now) = (self.t_s(t_ns), self.now_s());
        if sent >= -1.0 && sent <= now + 1.0 && now - sent <= 60.0 {
            return sent;
        }
        if !self.clock_warned {
            self.clock_warned = true;
            self.warn(format!(
                "the program sent t_ns {t_ns}, {} on leakcheck's clock when it arrived at {}: not CLOCK_MONOTONIC (Python: time.monotonic_ns(); Rust: leakcheck_probe::monotonic_ns()); its messages are placed when they arrive",
                fmt::seconds(sent),
                fmt::seconds(now)
            ));
        }
        now
    }

    pub(crate) fn now_s(&self) -> f64 {
        self.t_s(monotonic_ns())
    }

    /// A warning when the program closed the pipe (or replaced its fd) at least
    /// [`EARLY_CLOSE_S`] and a tenth of the run before it exited, without saying `end`:
    /// whatever it marked after that was lost, and the run is judged on fewer marks.
    pub(crate) fn warn_if_closed_early(&mut self, exited_s: f64) {
        let Some(closed_s) = self.wire_closed_s else {
            return;
        };
        let gap = exited_s - closed_s;
        if self.timeline.ended
            || self.timeline.marks.is_empty()
            || gap < EARLY_CLOSE_S.max(exited_s / 10.0)
        {
            return;
        }
        self.warn(format!(
            "the program closed LEAKCHECK_FD at {} without `end`, {} before it exited: marks after that were lost (was the fd closed, or another file dup2'ed onto it?); judged on the {} marks before",
            fmt::seconds(closed_s),
            fmt::seconds(gap),
            self.timeline.marks.len()
        ));
    }

    pub(crate) fn handle(&mut self, input: Input) {
        match input {
            Input::Wire(msg) => self.wire(msg),
            Input::WireDone(stats) => {
                self.timeline.decode = stats;
                self.wire_done = true;
                self.wire_closed_s.get_or_insert(self.now_s());
            }
            Input::Tree(t) => {
                if let Some(rss_tree) = t.rss_tree {
                    self.peak = self.peak.max(rss_tree);
                    (self.observer)(&Event::Sample {
                        t_s: t.t_s,
                        rss_tree,
                    });
                }
                self.emit(Record::Tree(t));
            }
            Input::Gpu(g) => self.emit(Record::Gpu(g)),
            Input::GpuStatus(status) => self.emit(Record::GpuStatus { status }),
            Input::Warning(text) => self.warn(text),
        }
    }

    fn wire(&mut self, msg: Message) {
        let record = match msg {
            Message::Hello {
                version,
                pid,
                allocator,
            } => {
                if version != WIRE_VERSION {
                    self.warn(format!(
                        "the program says it speaks wire version {version}; this leakcheck reads version {WIRE_VERSION}: what it does not know is skipped"
                    ));
                }
                Record::Hello(HelloRecord {
                    t_s: self.now_s(),
                    version,
                    pid,
                    allocator,
                })
            }
            Message::Mark {
                iteration,
                t_ns,
                rss_bytes,
                alloc,
                stats,
            } => {
                self.last_progress = Instant::now();
                (self.observer)(&Event::Mark {
                    iteration,
                    rss: rss_bytes,
                    allocated: alloc.map(|a| a.allocated),
                });
                Record::Mark(MarkRecord {
                    iteration,
                    t_s: self.sent_at(t_ns),
                    rss: rss_bytes,
                    alloc,
                    stats,
                })
            }
            Message::Session {
                event,
                id,
                label,
                t_ns,
            } => {
                (self.observer)(&Event::Session {
                    event,
                    id,
                    label: label.clone(),
                });
                Record::Session(SessionRecord {
                    event,
                    id,
                    label,
                    t_s: self.sent_at(t_ns),
                    iteration: self.timeline.last_iteration(),
                })
            }
            Message::Checkpoint {
                id,
                label,
                t_ns,
                rss_bytes,
                alloc,
                stats,
            } => {
                if !self.checkpoints_seen.contains(&id) {
                    self.checkpoints_seen.push(id);
                    let _ = self.sampler.send(SamplerCommand::Burst);
                }
                Record::Checkpoint(CheckpointRecord {
                    id,
                    label,
                    t_s: self.sent_at(t_ns),
                    rss: rss_bytes,
                    alloc,
                    stats,
                })
            }
            Message::Note { text, t_ns } => {
                (self.observer)(&Event::Note(text.clone()));
                Record::Note {
                    t_s: self.sent_at(t_ns),
                    text,
                }
            }
            Message::Attribution {
                method,
                from_iteration,
                to_iteration,
                marks,
                t_ns,
                sites,
            } => Record::Attribution(AttributionRecord {
                t_s: self.sent_at(t_ns),
                method,
                from_iteration,
                to_iteration,
                marks,
                sites,
            }),
            Message::End { t_ns } => Record::End {
                t_s: self.sent_at(t_ns),
            },
        };
        self.emit(record);
    }

    pub(crate) fn warn(&mut self, text: String) {
        (self.observer)(&Event::Warning(text.clone()));
        let t_s = self.now_s();
        self.emit(Record::Warning { t_s, text });
    }

    pub(crate) fn warn_about_decoding(&mut self) {
        let d = self.timeline.decode.clone();
        let bad = d.malformed + d.oversized + d.invalid_utf8 + d.truncated;
        if bad > 0 {
            let first = if d.problems.is_empty() {
                String::new()
            } else {
                format!("; {}", d.problems.join("; "))
            };
            self.warn(format!(
                "LEAKCHECK_FD stream: {bad} of {} lines could not be decoded ({} malformed, {} oversized, {} not utf-8, {} truncated){first}",
                d.lines, d.malformed, d.oversized, d.invalid_utf8, d.truncated
            ));
        }
        if d.unknown_types > 0 {
            let names = d.unknown_type_names.join(", ");
            self.warn(format!(
                "LEAKCHECK_FD stream: {} lines of unknown types ignored ({names})",
                d.unknown_types
            ));
        }
    }

    /// Stream a record to disk and merge it into the timeline.
    pub(crate) fn emit(&mut self, record: Record) {
        self.out.write(&record);
        self.timeline.apply(&record);
    }
}
