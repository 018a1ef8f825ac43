//! Running one scenario: spawn, watch, sample, stream to disk, stop.
//!
//! * The child is spawned from its argv (never a shell) in its own process group,
//!   with stdin from `/dev/null` and `LEAKCHECK_FD=<n>` naming the write end of a
//!   pipe ([`crate::spawn`]). The pipe is created close-on-exec; in the child, between
//!   fork and exec, only that one fd has close-on-exec cleared, so exactly the child (and
//!   whatever it forks) inherits it, never another program this process starts. The
//!   parent closes its copy of the write end, so the reader sees EOF once every writer
//!   is gone.
//! * A reader thread decodes the v1 wire format; a sampler thread samples the
//!   process tree every `rss_interval` (PSS every second when asked) and the GPU
//!   every `gpu_interval` when NVML loads ([`crate::sampling`]). The calling thread
//!   merges both into the [`Timeline`] and appends every record to
//!   `<out_dir>/samples.jsonl` as it arrives, flushed after every batch, at most ~25 ms
//!   after it arrived ([`crate::watch`], [`crate::writer`]).
//! * The whole group gets SIGTERM, then SIGKILL after `grace`, on the overall
//!   timeout, on no progress (no mark within `no_progress_timeout` of the last mark
//!   or of the start), on the memory ceiling (`rss.tree` above it), on cancellation and
//!   on the early-stop check. When the group leader exits, whatever is left of its group
//!   is SIGKILLed before the leader is reaped (so its pid cannot be reused in between):
//!   no orphans, no zombies. The child also gets `PR_SET_PDEATHSIG = SIGKILL`, so it
//!   dies if leakcheck itself is killed. Processes that leave the group (`setsid`)
//!   are out of reach and are not tracked.

use std::fs::{self, File};
use std::io::BufWriter;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use leakcheck_probe::monotonic_ns;
use leakcheck_records::{ExitRecord, Record, RunHeader, SAMPLES_FORMAT, Termination, Timeline};

use crate::sampling::{spawn_reader, spawn_sampler};
use crate::spawn::{ChildGuard, command, pipe, read_supervisor_status};
use crate::spec::{Event, RunError, RunOutcome, RunSpec, StopRequest};
use crate::watch::{EARLY_STOP_INTERVAL, TICK, Watch};
use crate::writer::RecordWriter;

/// After the child is gone, how long to wait for the pipe's EOF (a process that
/// escaped the group may still hold the write end).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Spawn `spec.argv`, watch it to the end and return what happened.
///
/// Errors only when the run cannot start (bad spec, unwritable `out_dir`, a
/// program that cannot be executed); everything the child does is an [`Outcome`](RunOutcome).
pub fn run(spec: &RunSpec, observer: &mut dyn FnMut(&Event)) -> Result<RunOutcome, RunError> {
    run_with(spec, observer, &mut |_| None)
}

/// [`run`], plus an early-stop check: at most every [`EARLY_STOP_INTERVAL`], when
/// new marks or samples arrived, `early_stop` sees the timeline so far; a
/// [`StopRequest`] stops the group like a timeout does and ends the run with
/// [`Termination::StoppedEarly`] (the verdict is already certain) or
/// [`Termination::LengthReached`] (the run reached its maximum length).
pub fn run_with(
    spec: &RunSpec,
    observer: &mut dyn FnMut(&Event),
    early_stop: &mut dyn FnMut(&Timeline) -> Option<StopRequest>,
) -> Result<RunOutcome, RunError> {
    spec.validate()?;
    let io_error = |path: PathBuf| move |source| RunError::Io { path, source };
    fs::create_dir_all(&spec.out_dir).map_err(io_error(spec.out_dir.clone()))?;
    let samples_path = spec.samples_path();
    let file = File::create(&samples_path).map_err(io_error(samples_path.clone()))?;
    let internal = |what| move |source| RunError::Internal { what, source };
    let (read_end, write_end) = pipe().map_err(internal("the wire pipe"))?;
    let status_pipe = match spec.supervisor {
        Some(_) => Some(pipe().map_err(internal("the supervisor's status pipe"))?),
        None => None,
    };
    let status_fd = status_pipe.as_ref().map(|(_, w)| w.as_raw_fd());
    let mut cmd = command(spec, write_end.as_raw_fd(), status_fd)?;

    let spawn_ns = monotonic_ns();
    let started = Instant::now();
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let child = cmd.spawn().map_err(|source| RunError::Spawn {
        argv0: spec.argv[0].clone(),
        source,
    })?;
    // Our copy of the write end must go, or the reader never sees EOF.
    drop(write_end);
    let mut guard = ChildGuard::new(child, status_pipe.is_some());
    // With a supervisor, the tree is sampled from it (without its own memory) and the
    // program's pid is the one it reports.
    let (tree_root, pid) = match status_pipe {
        Some((status_read, status_write)) => {
            drop(status_write);
            let program = read_supervisor_status(status_read).map_err(|why| RunError::Spawn {
                argv0: spec.argv[0].clone(),
                source: std::io::Error::other(why),
            })?;
            (guard.pid, program)
        }
        None => (guard.pid, guard.pid),
    };

    let (tx, rx) = mpsc::channel();
    let stop_reader = Arc::new(AtomicBool::new(false));
    let reader = spawn_reader(read_end, tx.clone(), Arc::clone(&stop_reader))
        .map_err(internal("the wire reader thread"))?;
    let (stop_sampler, sampler) = spawn_sampler(spec, tree_root, pid, spawn_ns, tx)
        .map_err(internal("the sampler thread"))?;

    let mut watch = Watch {
        spec,
        out: RecordWriter::new(BufWriter::new(file), samples_path.clone()),
        timeline: Timeline::default(),
        observer,
        spawn_ns,
        last_progress: started,
        stopping: None,
        peak: 0,
        wire_done: false,
        wire_closed_s: None,
        clock_warned: false,
        escalated: false,
        early_stop,
        next_early_check: started + EARLY_STOP_INTERVAL,
        data_at_last_check: 0,
        stopped_early: None,
        sampler: stop_sampler.clone(),
        checkpoints_seen: Vec::new(),
    };
    watch.emit(Record::Run(RunHeader {
        format: SAMPLES_FORMAT,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        scenario: spec.name.clone(),
        argv: spec.argv.clone(),
        started_unix,
        pid,
        rss_interval_s: spec.rss_interval.as_secs_f64(),
        gpu_interval_s: spec.gpu_interval.as_secs_f64(),
        timeout_s: spec.timeout.as_secs_f64(),
        no_progress_timeout_s: spec.no_progress_timeout.map(|d| d.as_secs_f64()),
        ceiling: spec.ceiling,
    }));
    (watch.observer)(&Event::Started { pid });

    let status = watch.supervise(&rx, &mut guard, started);
    let exited_s = watch.now_s();

    // The child is reaped: stop sampling (both senders gone), then drain the pipe until
    // EOF (bounded).
    drop(stop_sampler);
    watch.sampler = mpsc::channel().0;
    let _ = sampler.join();
    let drain_until = Instant::now() + DRAIN_TIMEOUT;
    while !watch.wire_done && Instant::now() < drain_until {
        match rx.recv_timeout(TICK) {
            Ok(input) => watch.handle(input),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    // Whether the pipe reached EOF by itself: once told to stop, the reader also
    // reports "done", so this must be known before.
    let reached_eof = watch.wire_done;
    stop_reader.store(true, Ordering::Relaxed);
    let _ = reader.join();
    while let Ok(input) = rx.try_recv() {
        watch.handle(input);
    }
    if !reached_eof {
        watch.warn("the LEAKCHECK_FD pipe stayed open after the child exited (a process outside its group holds it); stopped reading".to_owned());
    }
    watch.warn_if_closed_early(exited_s);
    watch.warn_about_decoding();
    Ok(finish(watch, status, started, samples_path, pid))
}

/// Decide the termination, write the `exit` record and hand the outcome back, keeping it
/// when the samples file could not be written (the timeline in memory is complete).
fn finish(
    mut watch: Watch<'_>,
    status: ExitStatus,
    started: Instant,
    samples_path: PathBuf,
    pid: u32,
) -> RunOutcome {
    let wall_s = started.elapsed().as_secs_f64();
    let termination = match watch.stopping.take() {
        Some(stop) => match stop.reason {
            Termination::CeilingExceeded { ceiling, .. } => Termination::CeilingExceeded {
                ceiling,
                peak: watch.peak,
            },
            reason => reason,
        },
        None => match (status.code(), status.signal()) {
            (Some(code), _) => Termination::Exited { code },
            (None, Some(signal)) => Termination::Signaled { signal },
            (None, None) => Termination::Exited { code: -1 },
        },
    };
    let escalated = watch.escalated;
    let stopped_early = watch.stopped_early.take();
    watch.emit(Record::Exit(ExitRecord {
        wall_s,
        termination,
        code: status.code(),
        signal: status.signal(),
        escalated,
        peak_rss_tree: watch.peak,
        decode: watch.timeline.decode.clone(),
        stopped_early: stopped_early.clone(),
    }));
    watch.out.flush();
    if let Some(err) = watch.out.error.take() {
        let text = format!(
            "writing {} failed: {err}; the file is incomplete",
            samples_path.display()
        );
        (watch.observer)(&Event::Warning(text.clone()));
        watch.timeline.warnings.push(text);
    }
    RunOutcome {
        samples_path,
        pid,
        termination,
        timeline: watch.timeline,
        wall_s,
        code: status.code(),
        signal: status.signal(),
        escalated,
        stopped_early,
    }
}
