//! The subcommands. `run` and `gate` share [`run_scenario`]: build, run, judge, report.

pub mod attribute;
pub mod compare;
pub mod gate;
pub mod length;
pub mod list;
pub mod lock;
pub mod merge;
pub mod report;
pub mod run;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use leakcheck_judge::{
    Judgement, Judging, LiveJudge, LookPlan, MetricBudget, RunFacts, StopNow, judge,
};
use leakcheck_records::{Termination, Timeline};
use leakcheck_report::{Overall, ScenarioReport};
use leakcheck_runner::{RunOutcome, StopRequest, run_build, run_with};
use leakcheck_settings::{Attribute, ScenarioConfig, parse_budget_flag};
use leakcheck_vocab::XUnit;

pub use length::{LengthRequest, look_plan};

use crate::error::{CliError, ExitStatus};
use crate::output::{say, tell};
use crate::progress::Progress;

/// One scenario's result: its report and its exit status.
#[derive(Debug)]
pub struct ScenarioResult {
    pub report: ScenarioReport,
    pub status: ExitStatus,
}

/// Which run of a scenario to make.
#[derive(Debug, Clone, Copy)]
pub struct RunRequest<'a> {
    pub config_path: &'a Path,
    pub variant: Option<&'a str>,
    pub length: LengthRequest,
    pub out_root: &'a Path,
    /// `--attribute`, over the config's `attribute`.
    pub attribute: Option<Attribute>,
    /// `--limit`: the memory the run may use, for forecasts.
    pub limit: Option<&'a str>,
}

/// Build (when the scenario says how), run, judge and report one scenario.
/// The judging and every sample are on disk before the verdict: a crash loses nothing.
/// The verdict is printed before the report files are written, and a report that cannot
/// be written is a warning: the verdict and its exit code stand.
pub fn run_scenario(
    scenario: &ScenarioConfig,
    request: RunRequest<'_>,
) -> Result<ScenarioResult, CliError> {
    let plan = look_plan(scenario, &request.length)?;
    let dir = create_out_dir(&request.out_root.join(&scenario.name))?;
    let _lock = OutDirLock::take(&dir)?;
    let mut spec = scenario.run_spec(
        request.config_path,
        request.variant,
        iterations_to_pass(scenario, &request, plan.as_ref()),
        &dir,
    )?;
    spec.cancel = Some(interrupt_flag());
    // leakcheck itself, re-run as the supervisor that owns the run's process tree.
    spec.supervisor = std::env::current_exe().ok();
    // Every setting is checked before anything is built, written or started.
    spec.validate()?;
    if let Some(build) = scenario.build_argv() {
        tell!("[{}] building: {}", scenario.name, build.join(" "));
        run_build(&build, &scenario.working_dir())?;
    }
    let mut judging = scenario.judging(
        request.variant,
        spec.argv.clone(),
        request.length.iterations,
        plan,
    );
    // The child starts in this process's cgroup, holding nothing yet.
    judging.limit = memory_limit(request.limit, std::process::id())?;
    judging.save(&dir)?;

    let mut progress = Progress::new(&scenario.name, judging.iterations);
    let told_the_maximum =
        plan.is_some_and(|p| p.unit == XUnit::Iteration) && scenario.iterations_arg.is_some();
    let mut live = LiveJudge::new(&judging, !told_the_maximum);
    let mut early_stop = |timeline: &Timeline| match live.as_mut()?.check(timeline)? {
        StopNow::Decided(why) => Some(StopRequest::Decided(why)),
        StopNow::AtMaximum(why) => Some(StopRequest::AtMaximum(why)),
    };
    let outcome = run_with(
        &spec,
        &mut |event| progress.on_event(event),
        &mut early_stop,
    );
    progress.finish();
    let judgement = judge_outcome(&judging, &outcome?, &dir);
    let mut report = judgement.report;
    let when = request.attribute.unwrap_or(scenario.settings.attribute);
    // Ctrl-C ends the run and what follows it: no attribution pass after an interrupt.
    let interrupted = interrupt_flag().load(Ordering::SeqCst) > 0;
    if attribute::wanted(when, &report) && !interrupted {
        let found = attribute::attribute(scenario, request.variant, &spec, &report, &dir);
        print_attribution(&found);
        report.attribution = Some(found);
        write_scenario_or_warn(&dir, &report);
    }
    Ok(ScenarioResult {
        status: ExitStatus::of_verdict(judgement.verdict, judgement.misconfigured),
        report,
    })
}

/// Judge what the runner recorded, print the verdict and write the scenario's files in
/// `dir` (a file that cannot be written is a warning; the verdict stands).
pub fn judge_outcome(judging: &Judging, outcome: &RunOutcome, dir: &Path) -> Judgement {
    let samples_file = outcome
        .samples_path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let judgement = judge(
        judging,
        &RunFacts {
            timeline: &outcome.timeline,
            termination: Some(outcome.termination),
            reason: outcome.stopped_early.clone(),
            wall_s: outcome.wall_s,
            samples_file,
        },
    );
    print_result(&judgement.report, dir);
    write_scenario_or_warn(dir, &judgement.report);
    judgement
}

/// The memory a run may use, which growing metrics are forecast against: `--limit`
/// (`flag`), else what [`leakcheck_runner::limit::memory_limit`] finds for `pid`.
pub fn memory_limit(
    flag: Option<&str>,
    pid: u32,
) -> Result<Option<leakcheck_judge::MemoryLimit>, CliError> {
    use leakcheck_judge::MemoryLimit;
    let Some(text) = flag else {
        return Ok(
            leakcheck_runner::limit::memory_limit(pid).map(|(bytes, source)| MemoryLimit {
                bytes: bytes as f64,
                source,
            }),
        );
    };
    let bytes = leakcheck_settings::parse_size_flag("--limit", text)?;
    if bytes == 0 {
        return Err(CliError::Usage(format!(
            "invalid --limit {text:?}: expected a size above zero, e.g. \"16GiB\""
        )));
    }
    Ok(Some(MemoryLimit {
        bytes: bytes as f64,
        source: "--limit".to_string(),
    }))
}

/// The result of a scenario that could not start (its program cannot be executed, its
/// build failed, its folder cannot be written): judged as such, so a gate lists it with
/// its reason, and exiting with the error's code.
pub fn not_started(
    scenario: &ScenarioConfig,
    request: RunRequest<'_>,
    error: &CliError,
) -> ScenarioResult {
    let judging = scenario.judging(
        request.variant,
        scenario.command.clone(),
        request.length.iterations,
        None,
    );
    let timeline = Timeline::default();
    let judgement = judge(
        &judging,
        &RunFacts {
            timeline: &timeline,
            termination: Some(Termination::NotStarted),
            reason: Some(error.to_string()),
            wall_s: 0.0,
            samples_file: String::new(),
        },
    );
    let dir = request.out_root.join(&scenario.name);
    print_result(&judgement.report, &dir);
    if dir.is_dir() {
        write_scenario_or_warn(&dir, &judgement.report);
    }
    ScenarioResult {
        report: judgement.report,
        status: error.exit_status(),
    }
}

/// The count the program is started with through its `iterations_arg`: the plan's maximum
/// (leakcheck stops it when decided). A count asked for a scenario without an
/// `iterations_arg` is passed on, so that the config says why it cannot be.
fn iterations_to_pass(
    scenario: &ScenarioConfig,
    request: &RunRequest<'_>,
    plan: Option<&LookPlan>,
) -> Option<u64> {
    match plan {
        Some(p) if p.unit == XUnit::Iteration && scenario.iterations_arg.is_some() => {
            Some(p.max as u64)
        }
        _ => request.length.iterations,
    }
}

/// Create an output folder up front, so a path that cannot hold reports (a file, `/proc`,
/// `/dev/null`) is a usage error before anything runs.
pub fn create_out_dir(dir: &Path) -> Result<PathBuf, CliError> {
    let io = |source| CliError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    // A folder we cannot create files in (read-only, `/sys`) fails here, not after the run.
    let probe = dir.join(".leakcheck-write-test");
    std::fs::write(&probe, b"").map_err(io)?;
    let _ = std::fs::remove_file(&probe);
    Ok(dir.to_path_buf())
}

/// An exclusive lock on a scenario's output folder for the length of its run: two runs
/// writing the same files would silently interleave them.
pub struct OutDirLock;

impl OutDirLock {
    const FILE: &'static str = ".leakcheck.lock";

    pub fn take(dir: &Path) -> Result<lock::FileLock, CliError> {
        let path = dir.join(Self::FILE);
        let taken = lock::FileLock::take(&path, lock::Wait::No).map_err(|source| CliError::Io {
            path: path.clone(),
            source,
        })?;
        taken.map_err(|held| {
            let holder = held
                .pid
                .map(|pid| format!(" (pid {pid})"))
                .unwrap_or_default();
            CliError::Usage(format!(
                "another leakcheck{holder} is writing to {}: wait for it, or give another --out",
                dir.display()
            ))
        })
    }
}

/// Write the per-scenario files; a failure (a full disk) is a loud warning naming the
/// file, and changes neither the verdict nor the exit code.
pub fn write_scenario_or_warn(dir: &Path, report: &ScenarioReport) {
    if let Err(e) = leakcheck_report::write_scenario(dir, report) {
        tell!(
            "warning: {e}; the report in {} is incomplete (the verdict above stands)",
            dir.display()
        );
    }
}

/// The verdict on stdout: one headline, one line per budget check, where the report is.
pub fn print_result(report: &ScenarioReport, dir: &Path) {
    let variant = report
        .variant
        .as_deref()
        .map(|v| format!(" ({v})"))
        .unwrap_or_default();
    say!(
        "{}{variant}: {} — {}",
        report.scenario,
        report.verdict.word(),
        report.headline
    );
    if report.verdict != Overall::Pass || !report.status.is_complete() {
        say!("  run: {}", report.status.describe());
    }
    for metric in &report.metrics {
        for check in &metric.budgets {
            say!("  {:9} {}", check.outcome.word(), check.line);
        }
        // A run without budgets still answers how its memory grows, on the terminal.
        if report.verdict == Overall::NoBudgets {
            let line = leakcheck_report::words::unbudgeted_line(metric, report.x_unit);
            say!("  {:9} {line}", "no budget");
        }
        if let Some(p) = &metric.retained_per_session {
            let line = leakcheck_report::words::per_session_line(&metric.name, p, metric.unit);
            say!("  {:9} {line}", "");
        }
        if let Some(f) = &metric.forecast {
            let line = leakcheck_report::words::forecast_line(f, report.x_unit);
            say!("  {:9} {}: {line}", "forecast", metric.name);
        }
    }
    // Which process of a tree grows (the top roles, fastest first).
    if report.processes.len() >= 2 {
        say!("  processes, fastest growing first:");
        for role in report.processes.iter().take(5) {
            say!("    {}", leakcheck_report::words::process_line(role));
        }
    }
    say!("  report: {}", dir.join("summary.md").display());
}

/// The outputs that flags add (`--openmetrics FILE`, and those to come), for every
/// subcommand that judges: validated once before the subcommand starts (a bad path is a
/// usage error, not a warning after a long run) and written once after it, from the
/// entries it judged. A failure to write one is a warning, never a lost verdict.
#[derive(Debug)]
pub struct Outputs(crate::cli::OutputArgs);

impl Outputs {
    /// The outputs `flags` ask for, each checked writable; none without flags.
    pub fn check(flags: Option<&crate::cli::OutputArgs>) -> Result<Outputs, CliError> {
        let flags = flags.cloned().unwrap_or_default();
        if let Some(path) = &flags.openmetrics {
            check_output_file("--openmetrics", path)?;
        }
        Ok(Outputs(flags))
    }

    /// Writes every requested output of `entries`.
    pub fn write(&self, entries: &[leakcheck_report::GateEntry]) {
        if let Some(path) = &self.0.openmetrics
            && let Err(e) = leakcheck_report::write_openmetrics(path, entries)
        {
            tell!("warning: {e}; no OpenMetrics file (the verdict above stands)");
        }
    }
}

/// An output file given by `flag` can be written where it will be written (its
/// [`leakcheck_report::destination`]): a folder, a missing or read-only folder, a
/// dangling device is a usage error before anything runs.
pub fn check_output_file(flag: &str, path: &Path) -> Result<(), CliError> {
    use leakcheck_report::Destination;
    let usage = |e: std::io::Error| {
        CliError::Usage(format!(
            "invalid {flag} {}: cannot write there ({e}); expected a file path in an existing, writable folder",
            path.display()
        ))
    };
    match leakcheck_report::destination(path).map_err(usage)? {
        Destination::Through(device) => {
            use std::os::unix::fs::OpenOptionsExt;
            // Non-blocking: a FIFO without a reader is refused, not waited on.
            std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
                .open(device)
                .map(drop)
                .map_err(usage)
        }
        Destination::Replace(file) => {
            let probe = leakcheck_report::tmp_path(&file);
            std::fs::File::create(&probe).map_err(usage)?;
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
    }
}

/// One scenario's report as the entry the gate-wide writers take.
pub fn single_entry(report: ScenarioReport) -> [leakcheck_report::GateEntry; 1] {
    [leakcheck_report::GateEntry {
        rel_dir: report.scenario.clone(),
        report,
    }]
}

/// "Where it grows" on stdout: the top sites and what they add up to.
fn print_attribution(a: &leakcheck_report::Attribution) {
    use leakcheck_report::words;
    say!("  where it grows: {}", words::attribution_sum(a));
    for s in a.sites.iter().take(5) {
        say!(
            "    {:>14}  {} ({})",
            words::per_unit(s.bytes_per_iter, &a.per),
            s.location,
            s.function
        );
    }
}

/// Budgets given as `METRIC.KIND=VALUE` on the command line.
pub fn parse_budget_args(args: &[String]) -> Result<Vec<MetricBudget>, CliError> {
    Ok(args
        .iter()
        .map(|arg| parse_budget_flag(arg))
        .collect::<Result<_, _>>()?)
}

/// Counts SIGINT, SIGTERM and SIGHUP: the first makes the runner stop the child's process
/// group gracefully (the group does not get the terminal's Ctrl-C itself), a second kills
/// it at once; either way leakcheck still writes the report of what it saw.
pub fn interrupt_flag() -> Arc<AtomicUsize> {
    static INTERRUPTS: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    INTERRUPTS
        .get_or_init(|| {
            let count = Arc::new(AtomicUsize::new(0));
            use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
            for signal in [SIGINT, SIGTERM, SIGHUP] {
                let count = Arc::clone(&count);
                // SAFETY: the handler only increments an atomic, which is async-signal-safe
                // (no lock, no allocation).
                let registered = unsafe {
                    signal_hook::low_level::register(signal, move || {
                        count.fetch_add(1, Ordering::SeqCst);
                    })
                };
                if let Err(e) = registered {
                    tell!("warning: cannot handle signal {signal}: {e}");
                }
            }
            count
        })
        .clone()
}
