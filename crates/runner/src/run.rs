//! Running one scenario: get a target by spawning it, then observe it (sample, stream to
//! disk, stop) with [`crate::observe`].
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
//!   after it arrived ([`crate::observe`], [`crate::writer`]).
//! * The whole group gets SIGTERM, then SIGKILL after `grace`, on the overall
//!   timeout, on no progress (no mark within `no_progress_timeout` of the last mark
//!   or of the start), on the memory ceiling (`rss.tree` above it), on cancellation and
//!   on the early-stop check. When the group leader exits, whatever is left of its group
//!   is SIGKILLed before the leader is reaped (so its pid cannot be reused in between):
//!   no orphans, no zombies. The child also gets `PR_SET_PDEATHSIG = SIGKILL`, so it
//!   dies if leakcheck itself is killed. Processes that leave the group (`setsid`)
//!   are out of reach and are not tracked.

use leakcheck_records::Timeline;
use std::os::fd::AsRawFd;

use crate::observe::{Clock, create_samples, observe_into};
use crate::spawn::{ChildGuard, command, pipe, read_supervisor_status};
use crate::spec::{Event, RunError, RunOutcome, RunSpec, StopRequest};
use crate::target::Target;

/// Spawn `spec.argv`, observe it to the end and return what happened.
///
/// Errors only when the run cannot start (bad spec, unwritable `out_dir`, a
/// program that cannot be executed); everything the child does is an [`Outcome`](RunOutcome).
pub fn run(spec: &RunSpec, on_event: &mut dyn FnMut(&Event)) -> Result<RunOutcome, RunError> {
    run_with(spec, on_event, &mut |_| None)
}

/// [`run`], plus an early-stop check: at most every [`crate::EARLY_STOP_INTERVAL`], when
/// new marks or samples arrived, `early_stop` sees the timeline so far; a
/// [`StopRequest`] stops the group like a timeout does and ends the run with
/// [`Termination::StoppedEarly`] (the verdict is already certain) or
/// [`Termination::LengthReached`] (the run reached its maximum length).
pub fn run_with(
    spec: &RunSpec,
    on_event: &mut dyn FnMut(&Event),
    early_stop: &mut dyn FnMut(&Timeline) -> Option<StopRequest>,
) -> Result<RunOutcome, RunError> {
    spec.validate()?;
    // Before the program starts: an output folder that cannot be written is the user's
    // to fix, not a run to judge.
    let samples = create_samples(spec)?;
    let (read_end, write_end) = pipe().map_err(RunError::internal("the wire pipe"))?;
    let status_pipe = match spec.supervisor {
        Some(_) => Some(pipe().map_err(RunError::internal("the supervisor's status pipe"))?),
        None => None,
    };
    let status_fd = status_pipe.as_ref().map(|(_, w)| w.as_raw_fd());
    let mut cmd = command(spec, write_end.as_raw_fd(), status_fd)?;

    let clock = Clock::now();
    let child = cmd.spawn().map_err(|source| RunError::Spawn {
        argv0: spec.argv[0].clone(),
        source,
    })?;
    // Our copy of the write end must go, or the reader never sees EOF.
    drop(write_end);
    let guard = ChildGuard::new(child, status_pipe.is_some());
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
    let target = Target::spawned(guard, tree_root, pid);
    observe_into(
        spec,
        target,
        Some(read_end),
        samples,
        clock,
        on_event,
        early_stop,
    )
}
