//! What a run is asked to do ([`RunSpec`]), what it reports as it goes ([`Event`]), what
//! it returns ([`RunOutcome`]) and why it may not start ([`RunError`]).

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use leakcheck_probe::wire::SessionEvent;
use leakcheck_records::{Termination, Timeline};

pub use leakcheck_records::SAMPLES_FILE;

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
    /// Also sample PSS of the tree, every `pss_interval` and in each checkpoint's burst.
    pub with_pss: bool,
    /// How often PSS is read (`smaps_rollup`, whose cost grows with RSS: ~ms per GiB).
    pub pss_interval: Duration,
    /// `samples.jsonl` goes here (created if missing).
    pub out_dir: PathBuf,
    /// SIGTERM -> SIGKILL delay.
    pub grace: Duration,
    /// Where the child's stdout and stderr go: `None` inherits leakcheck's.
    pub child_log: Option<PathBuf>,
    /// The leakcheck executable to re-run as the supervisor between the runner and the
    /// program ([`crate::supervise`]), which makes the whole tree die with leakcheck
    /// however leakcheck dies; `None` spawns the program directly.
    pub supervisor: Option<PathBuf>,
    /// How many times the user asked to stop (counted by a signal handler or another
    /// thread): 1 stops the group gracefully (SIGTERM, SIGKILL after `grace`), 2 or more
    /// sends SIGKILL at once. The run then ends with [`Termination::Cancelled`].
    pub cancel: Option<Arc<AtomicUsize>>,
}

impl RunSpec {
    /// A spec with the documented defaults: 10 min timeout, no hang detection, no
    /// ceiling, RSS every 50 ms, GPU every 1 s, no PSS (1 s when on), 2 s grace, inherited
    /// output.
    pub fn new(name: impl Into<String>, argv: Vec<String>, out_dir: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            argv,
            env: Vec::new(),
            cwd: None,
            timeout: Duration::from_secs(600),
            no_progress_timeout: None,
            ceiling: None,
            rss_interval: Duration::from_millis(5),
            gpu_interval: Duration::from_secs(1),
            with_pss: false,
            pss_interval: Duration::from_secs(1),
            out_dir: out_dir.into(),
            grace: Duration::from_secs(2),
            child_log: None,
            supervisor: None,
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

/// What the early-stop check of [`crate::run_with`] asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum StopRequest {
    /// The verdict is certain: stop, and end the run as [`Termination::StoppedEarly`].
    Decided(String),
    /// The run reached its maximum length: stop, and end it as
    /// [`Termination::LengthReached`].
    AtMaximum(String),
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
    /// Why the early-stop check of [`crate::run_with`] stopped the run, if it did.
    pub stopped_early: Option<String>,
}

/// Why a run could not be started: the command, the settings or the paths given are
/// wrong. (A child that starts and then fails is a [`Termination`], not an error.)
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
    #[error("build command {argv:?} failed: {status}")]
    Build { argv: Vec<String>, status: String },
    /// The runner's own machinery (a pipe, a thread) could not be created: neither the
    /// user's input nor the program's doing.
    #[error("leakcheck could not create {what}: {source}")]
    Internal {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

impl RunError {
    /// The error of the runner's own `what` (a pipe, a thread) failing to be created.
    pub(crate) fn internal(what: &'static str) -> impl FnOnce(io::Error) -> RunError {
        move |source| RunError::Internal { what, source }
    }
}

impl RunSpec {
    /// Checks the spec before anything is created or spawned ([`crate::run`] calls it
    /// too; callers that write files before the run call it first).
    pub fn validate(&self) -> Result<(), RunError> {
        if self.argv.is_empty() || self.argv[0].is_empty() {
            return Err(RunError::EmptyCommand);
        }
        self.validate_observing()
    }

    /// Checks what observing reads ([`crate::observe`]): the intervals, the timeouts and
    /// `cwd`; not the command, which an attached process does not need.
    pub fn validate_observing(&self) -> Result<(), RunError> {
        validate_observing(self)
    }
}

fn validate_observing(spec: &RunSpec) -> Result<(), RunError> {
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
