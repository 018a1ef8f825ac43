//! Running one scenario: spawn, watch, sample, stream to disk, stop.
//!
//! * The child is spawned from its argv (never a shell) in its own process group,
//!   with stdin from `/dev/null` and `LEAKCHECK_FD=<n>` naming the write end of a
//!   pipe. The pipe is created close-on-exec; in the child, between fork and exec,
//!   only that one fd has close-on-exec cleared, so exactly the child (and whatever
//!   it forks) inherits it, never another program this process starts. The parent
//!   closes its copy of the write end, so the reader sees EOF once every writer is gone.
//! * A reader thread decodes the v1 wire format; a sampler thread samples the
//!   process tree every `rss_interval` (PSS every second when asked) and the GPU
//!   every `gpu_interval` when NVML loads. The calling thread merges both into the
//!   [`Timeline`] and appends every record to `<out_dir>/samples.jsonl` as it
//!   arrives (flushed after every batch, at most ~25 ms after it arrived).
//! * The whole group gets SIGTERM, then SIGKILL after `grace`, on the overall
//!   timeout, on no progress (no mark within `no_progress_timeout` of the last mark
//!   or of the start), on the memory ceiling (`rss.tree` above it) and on
//!   cancellation. When the group leader exits, whatever is left of its group is
//!   SIGKILLed before the leader is reaped (so its pid cannot be reused in between):
//!   no orphans, no zombies. The child also gets `PR_SET_PDEATHSIG = SIGKILL`, so it
//!   dies if leakcheck itself is killed. Processes that leave the group (`setsid`)
//!   are out of reach and are not tracked.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use leakcheck_probe::monotonic_ns;
use leakcheck_probe::wire::{DecodeStats, Decoder, Message, SessionEvent};
use serde::{Deserialize, Serialize};

use crate::timeline::{
    ExitRecord, GpuRecord, HelloRecord, MarkRecord, Record, RunHeader, SAMPLES_FORMAT,
    SessionRecord, Timeline, TreeRecord, opt_secs, secs, since,
};
use crate::units::format_duration;

fn format_size(bytes: u64) -> String {
    leakcheck_analysis::format_bytes(bytes as f64)
}

/// File name of the streamed records inside [`RunSpec::out_dir`].
pub const SAMPLES_FILE: &str = "samples.jsonl";

/// How often the merging thread wakes up without input: bounds the latency of exit
/// detection, of deadlines and of flushing.
const TICK: Duration = Duration::from_millis(25);
/// PSS (`smaps_rollup`, whose cost grows with RSS) is read at most this often.
const PSS_INTERVAL: Duration = Duration::from_secs(1);
/// After the child is gone, how long to wait for the pipe's EOF (a process that
/// escaped the group may still hold the write end).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Everything [`run`] needs to know about one run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Scenario name, for the header and messages.
    pub name: String,
    /// Program and arguments; `argv[0]` is looked up in `PATH` when it has no `/`.
    pub argv: Vec<String>,
    /// Extra environment variables (the rest is inherited).
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// Overall limit on the run.
    pub timeout: Duration,
    /// `None`: no hang detection (a command that never marks).
    pub no_progress_timeout: Option<Duration>,
    /// Kill the group when `rss.tree` goes above this many bytes.
    pub ceiling: Option<u64>,
    pub rss_interval: Duration,
    pub gpu_interval: Duration,
    /// Also sample PSS of the tree (at most once a second; it costs ~ms per GiB).
    pub with_pss: bool,
    /// `samples.jsonl` goes here (created if missing).
    pub out_dir: PathBuf,
    /// SIGTERM -> SIGKILL delay.
    pub grace: Duration,
    /// Where the child's stdout and stderr go: `None` inherits leakcheck's.
    pub child_log: Option<PathBuf>,
    /// Set it (from a SIGINT handler, another thread) to stop the child gracefully;
    /// the run then ends with [`Termination::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
}

impl RunSpec {
    /// A spec with the documented defaults: 10 min timeout, no hang detection, no
    /// ceiling, RSS every 50 ms, GPU every 1 s, no PSS, 2 s grace, inherited output.
    pub fn new(name: impl Into<String>, argv: Vec<String>, out_dir: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            argv,
            env: Vec::new(),
            cwd: None,
            timeout: Duration::from_secs(600),
            no_progress_timeout: None,
            ceiling: None,
            rss_interval: Duration::from_millis(50),
            gpu_interval: Duration::from_secs(1),
            with_pss: false,
            out_dir: out_dir.into(),
            grace: Duration::from_secs(2),
            child_log: None,
            cancel: None,
        }
    }

    /// Path of the `samples.jsonl` this run writes.
    pub fn samples_path(&self) -> PathBuf {
        self.out_dir.join(SAMPLES_FILE)
    }
}

/// What the observer hears, as it happens (drives the CLI's progress bar or lines).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Started {
        pid: u32,
    },
    Mark {
        iteration: u64,
        rss: Option<u64>,
        allocated: Option<u64>,
    },
    Sample {
        t_s: f64,
        rss_tree: u64,
    },
    Session {
        event: SessionEvent,
        id: u64,
        label: String,
    },
    /// A note from the child.
    Note(String),
    /// Something the user should see: the runner stopping the child, a broken stream.
    Warning(String),
}

/// How the child's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Termination {
    /// The child exited by itself.
    Exited { code: i32 },
    /// A signal the runner did not send ended the child.
    Signaled { signal: i32 },
    /// Stopped on the overall timeout.
    TimedOut {
        #[serde(rename = "after_s", with = "secs")]
        after: Duration,
    },
    /// Stopped because no mark came within the no-progress timeout.
    Hung {
        #[serde(rename = "no_progress_for_s", with = "secs")]
        no_progress_for: Duration,
        last_iteration: Option<u64>,
    },
    /// Stopped because `rss.tree` went above the ceiling.
    CeilingExceeded { ceiling: u64, peak: u64 },
    /// Stopped because [`RunSpec::cancel`] was set (Ctrl-C).
    Cancelled,
    /// Stopped by the early-stop check of [`run_with`]: a leak was already certain
    /// (the reason is in [`RunOutcome::stopped_early`] and the warnings).
    StoppedEarly { last_iteration: Option<u64> },
}

impl Termination {
    /// The scenario ran to the end and exited with code 0.
    pub fn completed(&self) -> bool {
        matches!(self, Termination::Exited { code: 0 })
    }

    /// CLI exit code when the run itself decides it: 3 for a run that did not
    /// complete; `None` when it completed, and for [`Termination::StoppedEarly`]
    /// (the budget verdict decides: the leak that stopped it fails it, exit 1).
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Termination::StoppedEarly { .. } => None,
            t if t.completed() => None,
            _ => Some(3),
        }
    }

    /// One lowercase line for summaries and reports.
    pub fn describe(&self) -> String {
        match *self {
            Termination::Exited { code: 0 } => "completed (exit code 0)".to_owned(),
            Termination::Exited { code } => format!("exited with code {code}"),
            Termination::Signaled { signal } => {
                format!("killed by signal {signal} ({})", signal_name(signal))
            }
            Termination::TimedOut { after } => {
                format!("timed out: still running after {}", format_duration(after))
            }
            Termination::Hung {
                no_progress_for,
                last_iteration,
            } => {
                let at = match last_iteration {
                    Some(i) => format!("after iteration {i}"),
                    None => "before the first mark".to_owned(),
                };
                format!(
                    "hung: no progress mark for {} {at}",
                    format_duration(no_progress_for)
                )
            }
            Termination::CeilingExceeded { ceiling, peak } => format!(
                "memory ceiling exceeded: process tree rss reached {} (ceiling {})",
                format_size(peak),
                format_size(ceiling)
            ),
            Termination::Cancelled => "cancelled (interrupted by the user)".to_owned(),
            Termination::StoppedEarly { last_iteration } => match last_iteration {
                Some(i) => {
                    format!("stopped early after iteration {i}: the leak was already certain")
                }
                None => "stopped early: the leak was already certain".to_owned(),
            },
        }
    }
}

/// `6` -> `"SIGABRT"`.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => "unknown signal",
    }
}

/// The result of a run that was started (whatever the child did).
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub samples_path: PathBuf,
    /// Pid of the spawned child (its process group id too).
    pub pid: u32,
    pub termination: Termination,
    pub timeline: Timeline,
    pub wall_s: f64,
    /// Raw exit code / signal of the child, even when the runner stopped it.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// SIGTERM was not enough: SIGKILL was sent after the grace period.
    pub escalated: bool,
    /// Why the early-stop check of [`run_with`] stopped the run, if it did.
    pub stopped_early: Option<String>,
}

/// Why a run could not be started or recorded. Exit code 2 for all of them: the
/// command, the paths or the file given are wrong (a child that starts and then
/// fails is a [`Termination`], exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("empty command: expected a program and its arguments")]
    EmptyCommand,
    #[error("invalid run setting {what} = {value}: expected {expected}")]
    InvalidSpec {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("cannot start {argv0:?}: {source}")]
    Spawn {
        argv0: String,
        #[source]
        source: io::Error,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: not a leakcheck samples file: {reason}", path.display())]
    NotSamples { path: PathBuf, reason: String },
    #[error("build command {argv:?} failed: {status}")]
    Build { argv: Vec<String>, status: String },
}

impl RunError {
    /// CLI exit code: 2 (usage, configuration or environment).
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// Run a one-off command (a scenario's `build`) to completion, output inherited.
pub fn run_build(argv: &[String], cwd: &Path) -> Result<(), RunError> {
    let (program, args) = argv.split_first().ok_or(RunError::EmptyCommand)?;
    let status = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .status()
        .map_err(|source| RunError::Spawn {
            argv0: program.clone(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(RunError::Build {
            argv: argv.to_vec(),
            status: status.to_string(),
        })
    }
}

/// How often at most [`run_with`] asks its early-stop check (only when new data came in).
pub const EARLY_STOP_INTERVAL: Duration = Duration::from_secs(1);

/// Spawn `spec.argv`, watch it to the end and return what happened.
///
/// Errors only when the run cannot start (bad spec, unwritable `out_dir`, a
/// program that cannot be executed); everything the child does is an [`Outcome`](RunOutcome).
pub fn run(spec: &RunSpec, observer: &mut dyn FnMut(&Event)) -> Result<RunOutcome, RunError> {
    run_with(spec, observer, &mut |_| None)
}

/// [`run`], plus an early-stop check: at most every [`EARLY_STOP_INTERVAL`], when
/// new marks or samples arrived, `early_stop` sees the timeline so far; returning
/// `Some(reason)` (a leak already certain and far above budget) stops the group
/// like a timeout does and ends the run with [`Termination::StoppedEarly`].
pub fn run_with(
    spec: &RunSpec,
    observer: &mut dyn FnMut(&Event),
    early_stop: &mut dyn FnMut(&Timeline) -> Option<String>,
) -> Result<RunOutcome, RunError> {
    validate(spec)?;
    fs::create_dir_all(&spec.out_dir).map_err(|source| RunError::Io {
        path: spec.out_dir.clone(),
        source,
    })?;
    let samples_path = spec.samples_path();
    let file = File::create(&samples_path).map_err(|source| RunError::Io {
        path: samples_path.clone(),
        source,
    })?;
    let (read_end, write_end) = pipe().map_err(|source| RunError::Io {
        path: PathBuf::from("pipe(2)"),
        source,
    })?;
    let mut cmd = command(spec, write_end.as_raw_fd())?;

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
    let mut guard = ChildGuard::new(child);
    let pid = guard.pid;

    let (tx, rx) = mpsc::channel();
    let stop_reader = Arc::new(AtomicBool::new(false));
    let reader = spawn_reader(read_end, tx.clone(), Arc::clone(&stop_reader));
    let (stop_sampler, sampler) = spawn_sampler(spec, pid, spawn_ns, tx);

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
        escalated: false,
        early_stop,
        next_early_check: started + EARLY_STOP_INTERVAL,
        data_at_last_check: 0,
        stopped_early: None,
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
        no_progress_timeout_s: opt_secs(spec.no_progress_timeout),
        ceiling: spec.ceiling,
    }));
    (watch.observer)(&Event::Started { pid });

    let status = watch.supervise(&rx, &mut guard, started);

    // The child is reaped: stop sampling, then drain the pipe until EOF (bounded).
    drop(stop_sampler);
    let _ = sampler.join();
    let drain_until = Instant::now() + DRAIN_TIMEOUT;
    while !watch.wire_done && Instant::now() < drain_until {
        match rx.recv_timeout(TICK) {
            Ok(input) => watch.handle(input),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    stop_reader.store(true, Ordering::Relaxed);
    let _ = reader.join();
    while let Ok(input) = rx.try_recv() {
        watch.handle(input);
    }
    if !watch.wire_done {
        watch.warn("the LEAKCHECK_FD pipe stayed open after the child exited (a process outside its group holds it); stopped reading".to_owned());
    }
    watch.warn_about_decoding();

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
    let exit = ExitRecord {
        wall_s,
        termination,
        code: status.code(),
        signal: status.signal(),
        escalated,
        peak_rss_tree: watch.peak,
        decode: watch.timeline.decode.clone(),
        stopped_early: stopped_early.clone(),
    };
    watch.emit(Record::Exit(exit));
    watch.out.flush();
    if let Some(err) = watch.out.error.take() {
        // Keep the outcome: the timeline in memory is complete; say the file is not.
        let text = format!(
            "writing {} failed: {err}; the file is incomplete",
            samples_path.display()
        );
        (watch.observer)(&Event::Warning(text.clone()));
        watch.timeline.warnings.push(text);
    }
    Ok(RunOutcome {
        samples_path,
        pid,
        termination,
        timeline: watch.timeline,
        wall_s,
        code: status.code(),
        signal: status.signal(),
        escalated,
        stopped_early,
    })
}

fn validate(spec: &RunSpec) -> Result<(), RunError> {
    if spec.argv.is_empty() || spec.argv[0].is_empty() {
        return Err(RunError::EmptyCommand);
    }
    let positive = |what, d: Duration| {
        if d.is_zero() {
            Err(RunError::InvalidSpec {
                what,
                value: format!("{d:?}"),
                expected: "a duration above zero",
            })
        } else {
            Ok(())
        }
    };
    positive("rss_interval", spec.rss_interval)?;
    positive("gpu_interval", spec.gpu_interval)?;
    positive("timeout", spec.timeout)?;
    if let Some(d) = spec.no_progress_timeout {
        positive("no_progress_timeout", d)?;
    }
    // Else a missing cwd surfaces as "cannot start <program>: not found", naming the wrong thing.
    if let Some(cwd) = &spec.cwd
        && !cwd.is_dir()
    {
        return Err(RunError::Io {
            path: cwd.clone(),
            source: io::Error::new(
                io::ErrorKind::NotFound,
                "the working directory of the run does not exist or is not a directory",
            ),
        });
    }
    Ok(())
}

/// A close-on-exec pipe: `(read end, write end)`.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn command(spec: &RunSpec, wire_fd: RawFd) -> Result<Command, RunError> {
    let mut cmd = Command::new(&spec.argv[0]);
    cmd.args(&spec.argv[1..])
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env("LEAKCHECK_FD", wire_fd.to_string())
        .stdin(Stdio::null())
        .process_group(0);
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    if let Some(log) = &spec.child_log {
        let open = || {
            File::options()
                .create(true)
                .append(true)
                .open(log)
                .map_err(|source| RunError::Io {
                    path: log.clone(),
                    source,
                })
        };
        cmd.stdout(open()?).stderr(open()?);
    }
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure only calls async-signal-safe functions (fcntl, prctl,
    // getppid, kill) on values copied into it; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::fcntl(wire_fd, libc::F_SETFD, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            // The parent may have died before prctl: then nobody would kill us.
            if libc::getppid() != parent {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            Ok(())
        });
    }
    Ok(cmd)
}

/// Kills the child's group and reaps it when dropped unreaped (an early return or
/// a panic in the runner must not leave the child running).
struct ChildGuard {
    child: Option<Child>,
    pid: u32,
}

impl ChildGuard {
    fn new(child: Child) -> Self {
        let pid = child.id();
        Self {
            child: Some(child),
            pid,
        }
    }

    fn signal_group(&self, signal: i32) {
        if self.child.is_some() {
            // SAFETY: plain syscall; the leader is not reaped yet, so its pid
            // (the group id) cannot have been reused.
            unsafe { libc::kill(-(self.pid as libc::pid_t), signal) };
        }
    }

    /// Has the leader exited? Checked without reaping it (`WNOWAIT`).
    fn exited(&self) -> bool {
        if self.child.is_none() {
            return true;
        }
        // SAFETY: zeroed siginfo_t is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer; WNOHANG makes it non-blocking.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: si_pid is valid to read after waitid with WEXITED.
        rc == 0 && unsafe { info.si_pid() } != 0
    }

    /// Kill what is left of the group, then reap the leader.
    fn reap(&mut self) -> io::Result<ExitStatus> {
        self.signal_group(libc::SIGKILL);
        let mut child = self.child.take().expect("reaped twice");
        child.wait()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.reap();
        }
    }
}

/// Input of the merging thread.
enum Input {
    Wire(Message),
    WireDone(DecodeStats),
    Tree(TreeRecord),
    Gpu(GpuRecord),
    GpuStatus(String),
    Warning(String),
}

fn spawn_reader(read_end: OwnedFd, tx: Sender<Input>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    thread::Builder::new()
        .name("leakcheck-wire".to_owned())
        .spawn(move || {
            let mut file = File::from(read_end);
            let mut decoder = Decoder::new();
            let mut buf = vec![0u8; 64 * 1024];
            let mut messages = Vec::new();
            let fd = file.as_raw_fd();
            loop {
                // Poll with a timeout so a pipe held open by an escaped process
                // cannot keep this thread (and the run) alive forever.
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                let ready = unsafe { libc::poll(&mut pfd, 1, 100) };
                if ready == 0 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    continue;
                }
                if ready < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                match io::Read::read(&mut file, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => decoder.feed(&buf[..n], &mut messages),
                }
                for m in messages.drain(..) {
                    let _ = tx.send(Input::Wire(m));
                }
            }
            decoder.finish(&mut messages);
            for m in messages.drain(..) {
                let _ = tx.send(Input::Wire(m));
            }
            let _ = tx.send(Input::WireDone(decoder.stats().clone()));
        })
        .expect("spawning the wire reader thread")
}

/// Starts the sampler thread; dropping the returned sender stops it.
fn spawn_sampler(
    spec: &RunSpec,
    pid: u32,
    spawn_ns: u64,
    tx: Sender<Input>,
) -> (Sender<()>, JoinHandle<()>) {
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let rss_interval = spec.rss_interval;
    let gpu_interval = spec.gpu_interval;
    let with_pss = spec.with_pss;
    let handle = thread::Builder::new()
        .name("leakcheck-sampler".to_owned())
        .spawn(move || {
            sampler_loop(
                pid,
                spawn_ns,
                rss_interval,
                gpu_interval,
                with_pss,
                &tx,
                &stop_rx,
            )
        })
        .expect("spawning the sampler thread");
    (stop_tx, handle)
}

fn sampler_loop(
    pid: u32,
    spawn_ns: u64,
    rss_interval: Duration,
    gpu_interval: Duration,
    with_pss: bool,
    tx: &Sender<Input>,
    stop: &Receiver<()>,
) {
    let mut tree = leakcheck_probe::process::ProcessTree::new(pid);
    // NVML is loaded after the first tree sample: its init can take a while on a
    // machine with a driver, and the start of the run matters most.
    let mut gpu: Option<crate::gpu::Gpu> = None;
    let mut warned = false;
    let mut pids: Vec<u32> = vec![pid];
    let now = Instant::now();
    let (mut next_rss, mut next_gpu, mut next_pss) = (now, now, now);
    loop {
        let now = Instant::now();
        if now >= next_rss {
            let pss = with_pss && now >= next_pss;
            if pss {
                next_pss = now + PSS_INTERVAL;
            }
            match tree.sample(pss) {
                Ok(s) => {
                    let t_s = since(monotonic_ns(), spawn_ns);
                    let root = s
                        .per_process
                        .iter()
                        .find(|&&(p, _)| p == pid)
                        .map_or(0, |&(_, rss)| rss);
                    pids.clone_from(&s.pids);
                    let _ = tx.send(Input::Tree(TreeRecord {
                        t_s,
                        rss: root,
                        rss_tree: s.rss_bytes,
                        pss_tree: s.pss_bytes,
                        pids: s.pids.len() as u32,
                    }));
                }
                // The root exited; the merging thread is about to notice.
                Err(leakcheck_probe::SampleError::Gone { .. }) => {}
                Err(e) if !warned => {
                    warned = true;
                    let _ = tx.send(Input::Warning(format!(
                        "sampling the process tree of pid {pid} failed: {e}"
                    )));
                }
                Err(_) => {}
            }
            // Keep the cadence; after a stall, skip the missed ticks.
            next_rss += rss_interval;
            if next_rss < now {
                next_rss = now + rss_interval;
            }
        }
        let gpu = gpu.get_or_insert_with(|| {
            let gpu = crate::gpu::Gpu::open();
            let _ = tx.send(Input::GpuStatus(gpu.status()));
            gpu
        });
        if gpu.available() && now >= next_gpu {
            let (process, device) = gpu.sample(&pids);
            let t_s = since(monotonic_ns(), spawn_ns);
            let _ = tx.send(Input::Gpu(GpuRecord {
                t_s,
                process,
                device,
            }));
            next_gpu = now + gpu_interval;
        }
        let wake = if gpu.available() {
            next_rss.min(next_gpu)
        } else {
            next_rss
        };
        match stop.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => break,
        }
    }
}

/// The runner's decision to stop the child.
struct Stop {
    reason: Termination,
    kill_at: Instant,
}

/// State of the merging thread.
struct Watch<'a> {
    spec: &'a RunSpec,
    out: RecordWriter,
    timeline: Timeline,
    observer: &'a mut dyn FnMut(&Event),
    spawn_ns: u64,
    last_progress: Instant,
    stopping: Option<Stop>,
    peak: u64,
    wire_done: bool,
    escalated: bool,
    early_stop: &'a mut dyn FnMut(&Timeline) -> Option<String>,
    next_early_check: Instant,
    /// Marks + samples seen at the last early-stop check (only new data is worth a check).
    data_at_last_check: usize,
    stopped_early: Option<String>,
}

impl Watch<'_> {
    /// Merge, stream and check until the group leader has exited; returns its status.
    fn supervise(
        &mut self,
        rx: &Receiver<Input>,
        guard: &mut ChildGuard,
        started: Instant,
    ) -> ExitStatus {
        let mut escalated = false;
        loop {
            match rx.recv_timeout(TICK) {
                Ok(input) => {
                    self.handle(input);
                    // Drain the batch, then flush once.
                    while let Ok(input) = rx.try_recv() {
                        self.handle(input);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
            }
            self.out.flush();
            if guard.exited() {
                break;
            }
            let now = Instant::now();
            if self.stopping.is_none() {
                if let Some(reason) = self.stop_reason(now, started) {
                    self.warn(format!(
                        "{}; stopping the process group (SIGTERM, SIGKILL after {})",
                        reason.describe(),
                        format_duration(self.spec.grace)
                    ));
                    guard.signal_group(libc::SIGTERM);
                    self.stopping = Some(Stop {
                        reason,
                        kill_at: now + self.spec.grace,
                    });
                }
            } else if let Some(stop) = &self.stopping
                && !escalated
                && now >= stop.kill_at
            {
                escalated = true;
                self.warn(format!(
                    "the process group ignored SIGTERM for {}; sending SIGKILL",
                    format_duration(self.spec.grace)
                ));
                guard.signal_group(libc::SIGKILL);
            }
        }
        self.escalated = escalated;
        match guard.reap() {
            Ok(status) => status,
            Err(e) => {
                self.warn(format!("waiting for pid {} failed: {e}", guard.pid));
                ExitStatus::from_raw(-1)
            }
        }
    }

    fn stop_reason(&mut self, now: Instant, started: Instant) -> Option<Termination> {
        if self
            .spec
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
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
            if let Some(reason) = (self.early_stop)(&self.timeline) {
                self.warn(format!("stopping early: {reason}"));
                self.stopped_early = Some(reason);
                return Some(Termination::StoppedEarly {
                    last_iteration: self.timeline.last_iteration(),
                });
            }
        }
        None
    }

    fn t_s(&self, t_ns: u64) -> f64 {
        since(t_ns, self.spawn_ns)
    }

    fn now_s(&self) -> f64 {
        self.t_s(monotonic_ns())
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Wire(msg) => self.wire(msg),
            Input::WireDone(stats) => {
                self.timeline.decode = stats;
                self.wire_done = true;
            }
            Input::Tree(t) => {
                self.peak = self.peak.max(t.rss_tree);
                (self.observer)(&Event::Sample {
                    t_s: t.t_s,
                    rss_tree: t.rss_tree,
                });
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
            } => Record::Hello(HelloRecord {
                t_s: self.now_s(),
                version,
                pid,
                allocator,
            }),
            Message::Mark {
                iteration,
                t_ns,
                rss_bytes,
                alloc,
            } => {
                self.last_progress = Instant::now();
                (self.observer)(&Event::Mark {
                    iteration,
                    rss: rss_bytes,
                    allocated: alloc.map(|a| a.allocated),
                });
                Record::Mark(MarkRecord {
                    iteration,
                    t_s: self.t_s(t_ns),
                    rss: rss_bytes,
                    alloc,
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
                    t_s: self.t_s(t_ns),
                    iteration: self.timeline.last_iteration(),
                })
            }
            Message::Note { text, t_ns } => {
                (self.observer)(&Event::Note(text.clone()));
                Record::Note {
                    t_s: self.t_s(t_ns),
                    text,
                }
            }
            Message::End { t_ns } => Record::End {
                t_s: self.t_s(t_ns),
            },
        };
        self.emit(record);
    }

    fn warn(&mut self, text: String) {
        (self.observer)(&Event::Warning(text.clone()));
        let t_s = self.now_s();
        self.emit(Record::Warning { t_s, text });
    }

    fn warn_about_decoding(&mut self) {
        let d = self.timeline.decode.clone();
        let bad = d.malformed + d.oversized + d.invalid_utf8 + d.truncated;
        if bad > 0 {
            self.warn(format!(
                "LEAKCHECK_FD stream: {bad} of {} lines could not be decoded ({} malformed, {} oversized, {} not utf-8, {} truncated)",
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
    fn emit(&mut self, record: Record) {
        self.out.write(&record);
        self.timeline.apply(&record);
    }
}

/// Appends records as JSON lines; remembers the first error instead of failing the run.
struct RecordWriter {
    out: BufWriter<File>,
    path: PathBuf,
    line: Vec<u8>,
    error: Option<io::Error>,
}

impl RecordWriter {
    fn new(out: BufWriter<File>, path: PathBuf) -> Self {
        Self {
            out,
            path,
            line: Vec::with_capacity(512),
            error: None,
        }
    }

    fn write(&mut self, record: &Record) {
        if self.error.is_some() {
            return;
        }
        self.line.clear();
        if serde_json::to_writer(&mut self.line, record).is_err() {
            return; // cannot happen for these types; a lost line beats a lost run
        }
        self.line.push(b'\n');
        if let Err(e) = self.out.write_all(&self.line) {
            self.error = Some(e);
        }
    }

    fn flush(&mut self) {
        if self.error.is_none()
            && let Err(e) = self.out.flush()
        {
            self.error = Some(e);
        }
    }
}

impl std::fmt::Debug for RecordWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter")
            .field("path", &self.path)
            .finish()
    }
}
