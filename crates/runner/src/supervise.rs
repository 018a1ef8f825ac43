//! The supervisor: a small process between leakcheck and the workload (leakcheck itself,
//! re-executed as `leakcheck __supervise -- PROGRAM ARGS…`), so that the run's whole
//! process tree dies with leakcheck however leakcheck dies, `kill -KILL` included.
//!
//! * It is a child subreaper (`PR_SET_CHILD_SUBREAPER`): every orphaned descendant,
//!   `setsid` escapees included, is reparented to it, so it can find and kill them.
//! * It starts the workload in a process group of its own, with PDEATHSIG = SIGKILL.
//! * It ends the whole tree (the workload's group, then every descendant) when leakcheck
//!   dies (its own PDEATHSIG, SIGUSR1, or a changed parent pid), when the runner asks
//!   (SIGUSR2: kill now), and when the workload exits (what it left behind).
//! * SIGTERM, SIGINT and SIGHUP sent to it are forwarded to the workload's group: the
//!   runner's graceful stop.
//! * It tells the runner the workload's pid, or why the workload could not start, on
//!   the fd named by [`STATUS_FD_ENV`], and its own ending mirrors the workload's: the same
//!   exit code, or death by the same signal.

use std::io::{self, Write};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use leakcheck_probe::process::ProcessTree;
use rustix::process::{Pid, Signal, WaitOptions};

/// The first argument that makes leakcheck a supervisor.
pub const SUPERVISE_ARG: &str = "__supervise";

/// The fd on which the supervisor reports `pid N` or `error MESSAGE`, one line.
pub const STATUS_FD_ENV: &str = "LEAKCHECK_SUPERVISOR_FD";

/// How often the supervisor looks at its children and its parent: the most it adds to a
/// run's wall time. Each look wakes a process on a core the program may need; at 5 ms
/// those wake-ups were a tenth of leakcheck's own CPU time.
const POLL: Duration = Duration::from_millis(20);
/// How long it keeps killing and reaping what is left before it gives up.
const CLEANUP: Duration = Duration::from_secs(2);

/// How the supervisor should end: as its workload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mirror {
    /// Exit with this code.
    Exit(i32),
    /// Die of this signal.
    Signal(i32),
}

/// What the supervisor's signal handlers have seen.
struct Flags {
    /// SIGTERM, SIGINT, SIGHUP: stop requests to forward.
    stops: Arc<AtomicUsize>,
    /// SIGUSR2: the runner wants everything dead now.
    kill_now: Arc<AtomicBool>,
    /// SIGUSR1 (PDEATHSIG): leakcheck is gone.
    parent_gone: Arc<AtomicBool>,
}

impl Flags {
    fn install() -> io::Result<Flags> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
        let flags = Flags {
            stops: Arc::new(AtomicUsize::new(0)),
            kill_now: Arc::new(AtomicBool::new(false)),
            parent_gone: Arc::new(AtomicBool::new(false)),
        };
        for signal in [SIGTERM, SIGINT, SIGHUP] {
            let stops = Arc::clone(&flags.stops);
            // SAFETY: the handler only increments an atomic (async-signal-safe).
            unsafe {
                signal_hook::low_level::register(signal, move || {
                    stops.fetch_add(1, Ordering::SeqCst);
                })
            }?;
        }
        signal_hook::flag::register(SIGUSR2, Arc::clone(&flags.kill_now))?;
        signal_hook::flag::register(SIGUSR1, Arc::clone(&flags.parent_gone))?;
        Ok(flags)
    }
}

/// Run `argv` under supervision until it and everything it started are gone.
pub fn supervise(argv: &[String]) -> Mirror {
    let mut status = StatusPipe::from_env();
    let started = (|| {
        let flags = Flags::install()?;
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
        let parent = rustix::process::getppid();
        rustix::process::set_parent_process_death_signal(Some(Signal::USR1))?;
        let workload = spawn_workload(argv)?;
        Ok::<_, io::Error>((flags, parent, workload))
    })();
    let (flags, parent, workload) = match started {
        Ok(started) => started,
        Err(e) => {
            status.send(&format!("error {e}"));
            return Mirror::Exit(127);
        }
    };
    status.send(&format!("pid {workload}"));
    if status.0.is_some() {
        close_own_wire_fd();
    }
    drop(status);
    watch(workload, parent, &flags)
}

/// The workload: its own process group, PDEATHSIG = SIGKILL (it dies with us), our
/// stdio and environment minus the status fd's name.
fn spawn_workload(argv: &[String]) -> io::Result<u32> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| io::Error::other("empty command: expected a program and its arguments"))?;
    let mut cmd = Command::new(program);
    cmd.args(args).env_remove(STATUS_FD_ENV).process_group(0);
    let parent = rustix::process::getpid();
    // SAFETY: between fork and exec only raw syscalls through rustix on copied values.
    unsafe {
        cmd.pre_exec(move || die_with_parent(parent));
    }
    // The runner's error already says "cannot start PROGRAM": send the bare reason.
    let child = cmd.stdin(Stdio::inherit()).spawn()?;
    Ok(child.id())
}

/// Our copy of the wire pipe's write end goes: the runner must see EOF when the workload
/// and its children are done, not when we are. Called only when the runner started us
/// (it passed the status fd), so `LEAKCHECK_FD` names an fd it opened for us.
fn close_own_wire_fd() {
    let Some(fd) = std::env::var(leakcheck_probe::FD_ENV)
        .ok()
        .and_then(|v| v.parse::<RawFd>().ok())
        .filter(|&fd| fd > 2)
    else {
        return;
    };
    // SAFETY: the runner cleared close-on-exec on this open fd for our exec; nothing in
    // this process uses it, and the workload holds its own copy.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
}

/// Forward stop requests, reap whatever exits, and end everything when the workload is
/// done, when asked, or when leakcheck is gone.
fn watch(workload: u32, parent: Option<Pid>, flags: &Flags) -> Mirror {
    let mut forwarded = 0;
    let mut outcome = None;
    loop {
        if flags.parent_gone.load(Ordering::SeqCst) || rustix::process::getppid() != parent {
            kill_everything(workload, &mut outcome);
            return outcome.unwrap_or(Mirror::Signal(Signal::KILL.as_raw()));
        }
        if flags.kill_now.swap(false, Ordering::SeqCst) {
            kill_everything(workload, &mut outcome);
        }
        let stops = flags.stops.load(Ordering::SeqCst);
        if stops > forwarded {
            forwarded = stops;
            if let Some(group) = Pid::from_raw(workload as i32) {
                let _ = rustix::process::kill_process_group(group, Signal::TERM);
            }
        }
        reap(workload, &mut outcome);
        if let Some(mirror) = outcome {
            // The workload is gone: so goes what it left behind.
            kill_everything(workload, &mut None);
            return mirror;
        }
        std::thread::sleep(POLL);
    }
}

/// Reap every child that has exited; the workload's ending goes into `outcome`. Returns
/// false when there is no child left at all.
fn reap(workload: u32, outcome: &mut Option<Mirror>) -> bool {
    loop {
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some((pid, status))) => {
                if pid.as_raw_nonzero().get() as u32 == workload {
                    *outcome = Some(match (status.exit_status(), status.terminating_signal()) {
                        (Some(code), _) => Mirror::Exit(code),
                        (None, Some(signal)) => Mirror::Signal(signal),
                        (None, None) => Mirror::Exit(1),
                    });
                }
            }
            Ok(None) => return true,
            // ECHILD: nothing left to reap.
            Err(_) => return false,
        }
    }
}

/// SIGKILL the workload's group and every descendant (adopted escapees included), and
/// reap them (the workload's ending into `outcome`), until none is left or [`CLEANUP`]
/// has passed.
fn kill_everything(workload: u32, outcome: &mut Option<Mirror>) {
    let me = rustix::process::getpid();
    let mut tree = ProcessTree::new(me.as_raw_nonzero().get() as u32);
    let deadline = Instant::now() + CLEANUP;
    loop {
        if let Some(group) = Pid::from_raw(workload as i32) {
            let _ = rustix::process::kill_process_group(group, Signal::KILL);
        }
        for pid in tree.descendants().unwrap_or_default() {
            if let Some(pid) = Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
        }
        if !reap(workload, outcome) || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The status fd, when the runner gave one.
struct StatusPipe(Option<std::fs::File>);

impl StatusPipe {
    fn from_env() -> StatusPipe {
        let fd = std::env::var(STATUS_FD_ENV)
            .ok()
            .and_then(|v| v.parse::<RawFd>().ok())
            .filter(|&fd| fd > 2);
        StatusPipe(fd.map(|fd| {
            // SAFETY: the runner opened this fd for us alone (its close-on-exec flag was
            // cleared for our exec only); nothing else in this process owns it.
            let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
            // The workload must not inherit it.
            let _ = rustix::io::fcntl_setfd(&file, rustix::io::FdFlags::CLOEXEC);
            file
        }))
    }

    fn send(&mut self, line: &str) {
        if let Some(file) = self.0.as_mut() {
            let _ = writeln!(file, "{line}");
        }
    }
}

/// In a forked child before exec: SIGKILL when `parent` dies (PDEATHSIG), and at once if
/// it already died before the prctl (then nobody would kill us). Raw syscalls only, so
/// it is safe between fork and exec.
pub(crate) fn die_with_parent(parent: rustix::process::Pid) -> io::Result<()> {
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
    if rustix::process::getppid() != Some(parent) {
        let _ = rustix::process::kill_process(rustix::process::getpid(), Signal::KILL);
    }
    Ok(())
}
