//! What [`crate::observe`] watches: a process the runner started (it may stop the group
//! and reaps it) or one it attached to by pid (it only watches). One observer, two ways to
//! get a target, as py-spy samples a process whether it spawned it or attached to it.

use std::os::fd::OwnedFd;
use std::process::ExitStatus;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{Pid, PidfdFlags, Signal};

use leakcheck_probe::process::{ProcessInfo, process_info};

use crate::spawn::ChildGuard;
use crate::spec::RunError;

/// The process being observed.
#[derive(Debug)]
pub struct Target {
    /// Where the tree walk starts: the program, or the supervisor above it (then left out
    /// of the sums).
    pub(crate) tree_root: u32,
    /// The program, whose RSS is `rss`.
    pub(crate) pid: u32,
    hold: Hold,
}

/// How the runner holds the process.
#[derive(Debug)]
enum Hold {
    /// Started by the runner: it signals the group and reaps the direct child.
    Spawned(ChildGuard),
    /// Started by someone else: a pidfd tells when it ended (immune to pid reuse); it is
    /// never signalled and its exit status belongs to its own parent.
    Attached { pidfd: OwnedFd },
}

impl Target {
    /// A process that runs already, started by anyone: observed, never signalled.
    pub fn attach(pid: u32) -> Result<Target, RunError> {
        let invalid = |expected| RunError::InvalidSpec {
            what: "pid",
            value: pid.to_string(),
            expected,
        };
        let raw = Pid::from_raw(pid as i32).ok_or_else(|| invalid("a process id above zero"))?;
        let pidfd = rustix::process::pidfd_open(raw, PidfdFlags::empty())
            .map_err(|_| invalid("the id of a running process"))?;
        Ok(Target {
            tree_root: pid,
            pid,
            hold: Hold::Attached { pidfd },
        })
    }

    /// The process `picked` describes, checked to be that very process once it is held:
    /// a pid that was reused since `picked` was read (its start time differs) is refused.
    pub fn attach_picked(picked: &ProcessInfo) -> Result<Target, RunError> {
        let target = Target::attach(picked.pid)?;
        match process_info(picked.pid) {
            Some(now) if now.start_ticks == picked.start_ticks => Ok(target),
            _ => Err(RunError::InvalidSpec {
                what: "pid",
                value: picked.pid.to_string(),
                expected: "the process that was picked (it exited, and its pid now names another)",
            }),
        }
    }

    /// A process the runner spawned: `guard` holds the direct child (the program or the
    /// supervisor, which is then `tree_root`), `pid` is the program.
    pub(crate) fn spawned(guard: ChildGuard, tree_root: u32, pid: u32) -> Target {
        Target {
            tree_root,
            pid,
            hold: Hold::Spawned(guard),
        }
    }

    /// The observed program's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The runner started it, so it may stop it.
    pub(crate) fn may_signal(&self) -> bool {
        matches!(self.hold, Hold::Spawned(_))
    }

    /// SIGTERM or SIGKILL to the run's whole group; nothing for an attached process.
    pub(crate) fn signal_group(&self, signal: Signal) {
        if let Hold::Spawned(guard) = &self.hold {
            guard.signal_group(signal);
        }
    }

    /// Has the process exited? Without reaping it.
    pub(crate) fn exited(&self) -> bool {
        match &self.hold {
            Hold::Spawned(guard) => guard.exited(),
            Hold::Attached { pidfd } => {
                // A pidfd polls readable once its process has exited.
                let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
                let now = Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                !matches!(rustix::event::poll(&mut fds, Some(&now)), Ok(0))
            }
        }
    }

    /// Kill what is left of a spawned run and reap it: its exit status, `Ok(None)` for an
    /// attached process (only its parent can know it).
    pub(crate) fn reap(&mut self) -> std::io::Result<Option<ExitStatus>> {
        match &mut self.hold {
            Hold::Spawned(guard) => guard.reap().map(Some),
            Hold::Attached { .. } => Ok(None),
        }
    }

    /// The pid of the direct child the runner reaps (for messages).
    pub(crate) fn reaped_pid(&self) -> u32 {
        match &self.hold {
            Hold::Spawned(guard) => guard.pid,
            Hold::Attached { .. } => self.pid,
        }
    }
}
