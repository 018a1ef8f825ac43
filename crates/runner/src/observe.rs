//! Observing a [`Target`]: outside sampling, the wire when there is one, the look loop
//! and its stops. The merging thread's state ([`Observation`]) merges wire messages and
//! outside samples into the [`Timeline`], streams every record to disk, and decides when
//! to stop (timeout, no progress, ceiling, cancellation, early stop). A target the runner
//! spawned is stopped by signalling its group; an attached one is only left.

use std::fs::{self, File};
use std::io::BufWriter;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use leakcheck_probe::monotonic_ns;
use leakcheck_probe::wire::{Message, WIRE_VERSION};
use leakcheck_records::{
    AttributionRecord, CheckpointRecord, ExitRecord, HelloRecord, MarkRecord, Record, RunEnding,
    RunHeader, SAMPLES_FORMAT, SessionRecord, Termination, Timeline,
};
use leakcheck_vocab::fmt;
use rustix::process::Signal;

use crate::sampling::{Input, SamplerCommand, TICK, since, spawn_reader, spawn_sampler};
use crate::spec::{Event, RunError, RunOutcome, RunSpec, StopRequest};
use crate::target::Target;
use crate::writer::RecordWriter;

/// How often at most the early-stop check runs (only when new data came in; the check
/// itself judges only when the data completes a look).
pub const EARLY_STOP_INTERVAL: Duration = Duration::from_millis(25);

/// A pipe closed this long (and a tenth of the run) before the program exited, without
/// `end`, is worth a warning ([`Observation::warn_if_closed_early`]).
pub const EARLY_CLOSE_S: f64 = 1.0;

/// The runner's decision to stop the child.
pub(crate) struct Stop {
    pub(crate) reason: Termination,
    kill_at: Instant,
}

/// State of the merging thread.
pub(crate) struct Observation<'a> {
    pub(crate) spec: &'a RunSpec,
    pub(crate) out: RecordWriter,
    pub(crate) timeline: Timeline,
    pub(crate) on_event: &'a mut dyn FnMut(&Event),
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

impl Observation<'_> {
    /// Merge, stream and check until the target has exited (or, attached, until a stop
    /// reason ends the observation); returns the exit status when the runner reaps it.
    pub(crate) fn until_exit(
        &mut self,
        rx: &Receiver<Input>,
        target: &mut Target,
        started: Instant,
    ) -> Option<ExitStatus> {
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
            if target.exited() {
                break;
            }
            if self.stopping.is_none() {
                if let Some(reason) = self.stop_reason(now, started) {
                    let ending = RunEnding {
                        termination: Some(reason),
                        last_iteration: self.timeline.last_iteration(),
                        message: None,
                    };
                    if !target.may_signal() {
                        self.warn(format!(
                            "{}; stopped observing pid {} (leakcheck did not start it and does not signal it)",
                            ending.describe(),
                            target.pid()
                        ));
                        self.stopping = Some(Stop {
                            reason,
                            kill_at: now,
                        });
                        break;
                    }
                    self.warn(format!(
                        "{}; stopping the process group (SIGTERM, SIGKILL after {})",
                        ending.describe(),
                        fmt::duration(self.spec.grace)
                    ));
                    target.signal_group(Signal::TERM);
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
                    target.signal_group(Signal::KILL);
                } else if self.interrupts() >= 2 {
                    // A second Ctrl-C: the user will not wait for the grace period.
                    self.escalated = true;
                    self.warn("interrupted again: sending SIGKILL now".to_owned());
                    target.signal_group(Signal::KILL);
                }
            }
        }
        match target.reap() {
            Ok(status) => status,
            Err(e) => {
                self.warn(format!(
                    "waiting for pid {} failed: {e}",
                    target.reaped_pid()
                ));
                Some(ExitStatus::from_raw(-1))
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
                    (self.on_event)(&Event::Sample {
                        t_s: t.t_s,
                        rss_tree,
                    });
                }
                self.emit(Record::Tree(t));
            }
            Input::Procs(p) => self.emit(Record::Procs(p)),
            Input::Process(p) => self.emit(Record::Process(p)),
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
                measured,
            } => {
                self.last_progress = Instant::now();
                (self.on_event)(&Event::Mark {
                    iteration,
                    rss: measured.rss_bytes,
                    allocated: measured.alloc.map(|a| a.allocated),
                });
                Record::Mark(MarkRecord {
                    iteration,
                    t_s: self.sent_at(t_ns),
                    measured,
                })
            }
            Message::Session {
                event,
                id,
                label,
                t_ns,
            } => {
                (self.on_event)(&Event::Session {
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
                measured,
            } => {
                if !self.checkpoints_seen.contains(&id) {
                    self.checkpoints_seen.push(id);
                    let _ = self.sampler.send(SamplerCommand::Burst);
                }
                Record::Checkpoint(CheckpointRecord {
                    id,
                    label,
                    t_s: self.sent_at(t_ns),
                    measured,
                })
            }
            Message::Note { text, t_ns } => {
                (self.on_event)(&Event::Note(text.clone()));
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
        (self.on_event)(&Event::Warning(text.clone()));
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

    /// Decide the termination, write the `exit` record and hand the outcome back, keeping it
    /// when the samples file could not be written (the timeline in memory is complete).
    fn finish(
        mut self,
        status: Option<ExitStatus>,
        started: Instant,
        samples_path: PathBuf,
        pid: u32,
    ) -> RunOutcome {
        let wall_s = started.elapsed().as_secs_f64();
        let termination = match self.stopping.take() {
            Some(stop) => match stop.reason {
                Termination::CeilingExceeded { ceiling, .. } => Termination::CeilingExceeded {
                    ceiling,
                    peak: self.peak,
                },
                reason => reason,
            },
            None => match status.map(|s| (s.code(), s.signal())) {
                Some((Some(code), _)) => Termination::Exited { code },
                Some((None, Some(signal))) => Termination::Signaled { signal },
                Some((None, None)) => Termination::Exited { code: -1 },
                None => Termination::Ended,
            },
        };
        let escalated = self.escalated;
        let stopped_early = self.stopped_early.take();
        self.emit(Record::Exit(ExitRecord {
            wall_s,
            termination,
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            escalated,
            peak_rss_tree: self.peak,
            decode: self.timeline.decode.clone(),
            stopped_early: stopped_early.clone(),
        }));
        self.out.flush();
        if let Some(err) = self.out.error.take() {
            let text = format!(
                "writing {} failed: {err}; the file is incomplete",
                samples_path.display()
            );
            (self.on_event)(&Event::Warning(text.clone()));
            self.timeline.warnings.push(text);
        }
        RunOutcome {
            samples_path,
            pid,
            termination,
            timeline: std::mem::take(&mut self.timeline),
            wall_s,
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()),
            escalated,
            stopped_early,
        }
    }
}

/// After the target is gone, how long to wait for the pipe's EOF (a process that
/// escaped the group may still hold the write end).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// When observation began, on the clocks the records use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    /// `CLOCK_MONOTONIC` at the start: `t_s` is seconds since it.
    pub(crate) spawn_ns: u64,
    pub(crate) started: Instant,
    /// Wall-clock start, seconds since the Unix epoch.
    pub(crate) started_unix: f64,
}

impl Clock {
    /// Now, on every clock.
    pub(crate) fn now() -> Clock {
        Clock {
            spawn_ns: monotonic_ns(),
            started: Instant::now(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }
}

/// `samples.jsonl` under `spec.out_dir`, created (with the folder) before anything runs.
pub(crate) fn create_samples(spec: &RunSpec) -> Result<(File, PathBuf), RunError> {
    let io_error = |path: PathBuf| move |source| RunError::Io { path, source };
    fs::create_dir_all(&spec.out_dir).map_err(io_error(spec.out_dir.clone()))?;
    let path = spec.samples_path();
    let file = File::create(&path).map_err(io_error(path.clone()))?;
    Ok((file, path))
}

/// Observe `target` to its end and return what happened: outside samples of its tree
/// (and GPU), the marks it sends on `wire` when it has the runner's pipe, and the same
/// stops as a run (timeout, no progress, ceiling, cancellation, `early_stop`). A target
/// from [`Target::attach`] is never signalled: a stop ends the observation, and its end
/// is [`Termination::Ended`] (its exit status is its parent's).
///
/// `spec` gives the observing settings (`name`, `out_dir`, the intervals, `timeout`,
/// `no_progress_timeout`, `ceiling`, `cancel`, `grace`) and `argv` for the record's header;
/// what only starting a program needs (`env`, `cwd`, `child_log`, `supervisor`) is unused.
pub fn observe(
    spec: &RunSpec,
    target: Target,
    wire: Option<OwnedFd>,
    on_event: &mut dyn FnMut(&Event),
    early_stop: &mut dyn FnMut(&Timeline) -> Option<StopRequest>,
) -> Result<RunOutcome, RunError> {
    spec.validate_observing()?;
    let samples = create_samples(spec)?;
    observe_into(
        spec,
        target,
        wire,
        samples,
        Clock::now(),
        on_event,
        early_stop,
    )
}

/// [`observe`] into a samples file created already (a run creates it before spawning).
pub(crate) fn observe_into(
    spec: &RunSpec,
    mut target: Target,
    wire: Option<OwnedFd>,
    (file, samples_path): (File, PathBuf),
    clock: Clock,
    on_event: &mut dyn FnMut(&Event),
    early_stop: &mut dyn FnMut(&Timeline) -> Option<StopRequest>,
) -> Result<RunOutcome, RunError> {
    let (tx, rx) = mpsc::channel();
    let stop_reader = Arc::new(AtomicBool::new(false));
    let reader = match wire {
        Some(read_end) => Some(
            spawn_reader(read_end, tx.clone(), Arc::clone(&stop_reader))
                .map_err(RunError::internal("the wire reader thread"))?,
        ),
        None => None,
    };
    let (stop_sampler, sampler) =
        spawn_sampler(spec, target.tree_root, target.pid, clock.spawn_ns, tx)
            .map_err(RunError::internal("the sampler thread"))?;

    let pid = target.pid;
    let mut observation = Observation {
        spec,
        out: RecordWriter::new(BufWriter::new(file), samples_path.clone()),
        timeline: Timeline::default(),
        on_event,
        spawn_ns: clock.spawn_ns,
        last_progress: clock.started,
        stopping: None,
        peak: 0,
        // Without a pipe there is nothing to drain.
        wire_done: reader.is_none(),
        wire_closed_s: None,
        clock_warned: false,
        escalated: false,
        early_stop,
        next_early_check: clock.started + EARLY_STOP_INTERVAL,
        data_at_last_check: 0,
        stopped_early: None,
        sampler: stop_sampler.clone(),
        checkpoints_seen: Vec::new(),
    };
    observation.emit(Record::Run(RunHeader {
        format: SAMPLES_FORMAT,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario: spec.name.clone(),
        argv: spec.argv.clone(),
        started_unix: clock.started_unix,
        pid,
        rss_interval_s: spec.rss_interval.as_secs_f64(),
        gpu_interval_s: spec.gpu_interval.as_secs_f64(),
        timeout_s: spec.timeout.as_secs_f64(),
        no_progress_timeout_s: spec.no_progress_timeout.map(|d| d.as_secs_f64()),
        ceiling: spec.ceiling,
    }));
    (observation.on_event)(&Event::Started { pid });

    let status = observation.until_exit(&rx, &mut target, clock.started);
    let exited_s = observation.now_s();

    // The target is gone (or left): stop sampling (both senders gone), then drain the
    // pipe until EOF (bounded).
    drop(stop_sampler);
    observation.sampler = mpsc::channel().0;
    let _ = sampler.join();
    let drain_until = Instant::now() + DRAIN_TIMEOUT;
    while !observation.wire_done && Instant::now() < drain_until {
        match rx.recv_timeout(TICK) {
            Ok(input) => observation.handle(input),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    // Whether the pipe reached EOF by itself: once told to stop, the reader also
    // reports "done", so this must be known before.
    let reached_eof = observation.wire_done;
    stop_reader.store(true, Ordering::Relaxed);
    if let Some(reader) = reader {
        let _ = reader.join();
    }
    while let Ok(input) = rx.try_recv() {
        observation.handle(input);
    }
    if !reached_eof {
        observation.warn("the LEAKCHECK_FD pipe stayed open after the child exited (a process outside its group holds it); stopped reading".to_owned());
    }
    observation.warn_if_closed_early(exited_s);
    observation.warn_about_decoding();
    Ok(observation.finish(status, clock.started, samples_path, pid))
}
