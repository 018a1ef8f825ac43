//! Starting the child and keeping hold of it: the close-on-exec wire pipe, the command
//! (own process group, `LEAKCHECK_FD`, PDEATHSIG), and [`ChildGuard`], which kills and
//! reaps the group however the runner leaves.

use std::fs::File;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use rustix::io::FdFlags;
use rustix::pipe::PipeFlags;
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

use crate::spec::{RunError, RunSpec};
use crate::supervise::{STATUS_FD_ENV, SUPERVISE_ARG, die_with_parent};

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

/// A close-on-exec pipe: `(read end, write end)`.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?)
}

/// The child's command: argv (never a shell), or the supervisor with argv after `--`
/// when [`RunSpec::supervisor`] is set; its own process group, stdin from `/dev/null`,
/// `LEAKCHECK_FD` naming `wire_fd` (and the supervisor's `status_fd`), which alone lose
/// close-on-exec in the child, and PDEATHSIG so the child dies with leakcheck.
pub(crate) fn command(
    spec: &RunSpec,
    wire_fd: RawFd,
    status_fd: Option<RawFd>,
) -> Result<Command, RunError> {
    let mut cmd = match &spec.supervisor {
        Some(supervisor) => {
            let mut cmd = Command::new(supervisor);
            cmd.arg(SUPERVISE_ARG).arg("--").args(&spec.argv);
            if let Some(fd) = status_fd {
                cmd.env(STATUS_FD_ENV, fd.to_string());
            }
            cmd
        }
        None => {
            let mut cmd = Command::new(&spec.argv[0]);
            cmd.args(&spec.argv[1..]);
            cmd
        }
    };
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env(leakcheck_probe::FD_ENV, wire_fd.to_string())
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
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs between fork and exec, so it may only make
    // async-signal-safe calls: these are single raw syscalls (fcntl, prctl, getppid,
    // kill) through rustix on values copied into the closure; nothing allocates.
    unsafe {
        cmd.pre_exec(move || {
            for fd in std::iter::once(wire_fd).chain(status_fd) {
                // SAFETY: both are pipe write ends, open in the parent and so in this
                // forked child until exec.
                let fd = BorrowedFd::borrow_raw(fd);
                rustix::io::fcntl_setfd(fd, FdFlags::empty())?;
            }
            die_with_parent(parent)
        });
    }
    Ok(cmd)
}

/// Kills the child's group and reaps it when dropped unreaped (an early return or
/// a panic in the runner must not leave the child running).
pub(crate) struct ChildGuard {
    child: Option<Child>,
    /// The direct child: the program, or the supervisor.
    pub(crate) pid: u32,
    /// The direct child is the supervisor: signals go to it, and it passes them on.
    supervised: bool,
}

/// How long a supervisor asked to kill everything may take before it is killed itself.
const SUPERVISOR_CLEANUP: Duration = Duration::from_secs(3);

impl ChildGuard {
    pub(crate) fn new(child: Child, supervised: bool) -> Self {
        let pid = child.id();
        Self {
            child: Some(child),
            pid,
            supervised,
        }
    }

    fn group(&self) -> Option<Pid> {
        Pid::from_raw(self.pid as i32)
    }

    /// SIGTERM or SIGKILL to the whole run: to the program's group directly, or through
    /// the supervisor (SIGTERM forwarded; SIGKILL as SIGUSR2, "kill everything now", so
    /// it can also reach the processes that left the group).
    pub(crate) fn signal_group(&self, signal: Signal) {
        let Some(pid) = self.group().filter(|_| self.child.is_some()) else {
            return;
        };
        // The child is not reaped yet, so its pid (the group id) cannot have been reused.
        // A group already gone is not an error worth reporting.
        if self.supervised {
            let signal = if signal == Signal::KILL {
                Signal::USR2
            } else {
                signal
            };
            let _ = rustix::process::kill_process(pid, signal);
        } else {
            let _ = rustix::process::kill_process_group(pid, signal);
        }
    }

    /// Has the leader exited? Checked without reaping it (`WNOWAIT`).
    pub(crate) fn exited(&self) -> bool {
        let (Some(_), Some(pid)) = (&self.child, self.group()) else {
            return true;
        };
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        matches!(
            rustix::process::waitid(WaitId::Pid(pid), options),
            Ok(Some(_))
        )
    }

    /// Kill what is left of the run, then reap the direct child. A supervisor gets
    /// [`SUPERVISOR_CLEANUP`] to kill and reap the tree before it is killed itself.
    pub(crate) fn reap(&mut self) -> io::Result<ExitStatus> {
        self.signal_group(Signal::KILL);
        if self.supervised {
            let deadline = std::time::Instant::now() + SUPERVISOR_CLEANUP;
            while !self.exited() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if let (false, Some(pid)) = (self.exited(), self.group()) {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
        }
        match self.child.take() {
            Some(mut child) => child.wait(),
            None => Err(io::Error::other("the child was already reaped")),
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.reap();
        }
    }
}

impl std::fmt::Debug for ChildGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildGuard")
            .field("pid", &self.pid)
            .finish()
    }
}

/// How long the supervisor may take to report the program's pid.
const SUPERVISOR_START: Duration = Duration::from_secs(10);

/// The supervisor's one status line: the program's pid, or why it could not start.
pub(crate) fn read_supervisor_status(read_end: OwnedFd) -> Result<u32, String> {
    use std::io::Read;
    let mut file = File::from(read_end);
    let mut line = Vec::new();
    let deadline = std::time::Instant::now() + SUPERVISOR_START;
    let mut buf = [0u8; 512];
    while !line.contains(&b'\n') {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err("the supervisor did not report the program's pid in time".to_owned());
        }
        let timeout = rustix::event::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [rustix::event::PollFd::new(
            &file,
            rustix::event::PollFlags::IN,
        )];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(format!("reading the supervisor's status: {e}")),
        }
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => line.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading the supervisor's status: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&line);
    let text = text.trim();
    match text.split_once(' ') {
        Some(("pid", pid)) => pid
            .parse()
            .map_err(|_| format!("the supervisor reported {text:?}")),
        Some(("error", why)) => Err(why.to_owned()),
        _ if text.is_empty() => Err("the supervisor exited before starting the program".to_owned()),
        _ => Err(format!("the supervisor reported {text:?}")),
    }
}
