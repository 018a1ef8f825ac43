//! Starting the child and keeping hold of it: the close-on-exec wire pipe, the command
//! (own process group, `LEAKCHECK_FD`, PDEATHSIG), and [`ChildGuard`], which kills and
//! reaps the group however the runner leaves.

use std::fs::File;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

use rustix::io::FdFlags;
use rustix::pipe::PipeFlags;
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

use crate::spec::{RunError, RunSpec};

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

/// The child's command: argv (never a shell), its own process group, stdin from
/// `/dev/null`, `LEAKCHECK_FD` naming `wire_fd`, which alone loses close-on-exec in the
/// child, and PDEATHSIG so the child dies with leakcheck.
pub(crate) fn command(spec: &RunSpec, wire_fd: RawFd) -> Result<Command, RunError> {
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
    let parent = rustix::process::getpid();
    // SAFETY: the closure runs between fork and exec, so it may only make
    // async-signal-safe calls: these are single raw syscalls (fcntl, prctl, getppid,
    // kill) through rustix on values copied into the closure; nothing allocates.
    unsafe {
        cmd.pre_exec(move || {
            // SAFETY: `wire_fd` is the pipe's write end, open in the parent and so in
            // this forked child until exec.
            let fd = BorrowedFd::borrow_raw(wire_fd);
            rustix::io::fcntl_setfd(fd, FdFlags::empty())?;
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            // The parent may have died before prctl: then nobody would kill us.
            if rustix::process::getppid() != Some(parent) {
                let _ = rustix::process::kill_process(rustix::process::getpid(), Signal::KILL);
            }
            Ok(())
        });
    }
    Ok(cmd)
}

/// Kills the child's group and reaps it when dropped unreaped (an early return or
/// a panic in the runner must not leave the child running).
pub(crate) struct ChildGuard {
    child: Option<Child>,
    pub(crate) pid: u32,
}

impl ChildGuard {
    pub(crate) fn new(child: Child) -> Self {
        let pid = child.id();
        Self {
            child: Some(child),
            pid,
        }
    }

    fn group(&self) -> Option<Pid> {
        Pid::from_raw(self.pid as i32)
    }

    pub(crate) fn signal_group(&self, signal: Signal) {
        if self.child.is_some()
            && let Some(group) = self.group()
        {
            // The leader is not reaped yet, so its pid (the group id) cannot have been
            // reused. A group already gone is not an error worth reporting.
            let _ = rustix::process::kill_process_group(group, signal);
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

    /// Kill what is left of the group, then reap the leader.
    pub(crate) fn reap(&mut self) -> io::Result<ExitStatus> {
        self.signal_group(Signal::KILL);
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
