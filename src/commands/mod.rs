//! The subcommands. `run` and `gate` share [`run_scenario`]: build, run, judge, report.

pub mod gate;
pub mod list;
pub mod report;
pub mod run;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use leakcheck_judge::{Judging, MetricBudget, RunFacts, judge};
use leakcheck_report::{Overall, ScenarioReport};
use leakcheck_runner::config::parse_budget_flag;
use leakcheck_runner::{ScenarioConfig, run_build, run_with};

use crate::error::{CliError, ExitStatus};
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
    pub iterations: Option<u64>,
    pub out_root: &'a Path,
}

/// Build (when the scenario says how), run, judge and report one scenario.
/// The judging and every sample are on disk before the verdict: a crash loses nothing.
pub fn run_scenario(
    scenario: &ScenarioConfig,
    request: RunRequest<'_>,
) -> Result<ScenarioResult, CliError> {
    let dir = request.out_root.join(&scenario.name);
    std::fs::create_dir_all(&dir).map_err(|source| CliError::Io {
        path: dir.clone(),
        source,
    })?;
    if let Some(build) = scenario.build_argv() {
        eprintln!("[{}] building: {}", scenario.name, build.join(" "));
        run_build(&build, &scenario.working_dir())?;
    }
    let mut spec = scenario.run_spec(
        request.config_path,
        request.variant,
        request.iterations,
        &dir,
    )?;
    spec.cancel = Some(interrupt_flag());
    let judging = Judging {
        scenario: scenario.name.clone(),
        variant: scenario.variant(request.variant).map(str::to_string),
        argv: spec.argv.clone(),
        iterations: request.iterations.or(scenario.iterations),
        budgets: scenario.budgets.clone(),
        warmup: scenario.settings.warmup,
        confidence: scenario.settings.confidence,
        ceiling: scenario.settings.ceiling,
    };
    judging.save(&dir)?;

    let mut progress = Progress::new(&scenario.name, judging.iterations);
    let outcome = run_with(&spec, &mut |event| progress.on_event(event), &mut |_| None);
    progress.finish();
    let outcome = outcome?;

    let samples_file = outcome
        .samples_path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let judgement = judge(
        &judging,
        &RunFacts {
            timeline: &outcome.timeline,
            termination: Some(outcome.termination),
            stopped_early: outcome.stopped_early.clone(),
            wall_s: outcome.wall_s,
            samples_file,
        },
    );
    leakcheck_report::write_scenario(&dir, &judgement.report)?;
    print_result(&judgement.report, &dir);
    Ok(ScenarioResult {
        status: ExitStatus::of_verdict(judgement.verdict, judgement.misconfigured),
        report: judgement.report,
    })
}

/// The verdict on stdout: one headline, one line per budget check, where the report is.
pub fn print_result(report: &ScenarioReport, dir: &Path) {
    let variant = report
        .variant
        .as_deref()
        .map(|v| format!(" ({v})"))
        .unwrap_or_default();
    println!(
        "{}{variant}: {} — {}",
        report.scenario,
        report.verdict.word(),
        report.headline
    );
    if report.verdict != Overall::Pass || !report.status.is_complete() {
        println!("  run: {}", report.status.describe());
    }
    for metric in &report.metrics {
        for check in &metric.budgets {
            println!("  {:9} {}", check.outcome.word(), check.line);
        }
    }
    println!("  report: {}", dir.join("summary.md").display());
}

/// Budgets given as `METRIC.KIND=VALUE` on the command line.
pub fn parse_budget_args(args: &[String]) -> Result<Vec<MetricBudget>, CliError> {
    Ok(args
        .iter()
        .map(|arg| parse_budget_flag(arg))
        .collect::<Result<_, _>>()?)
}

/// Set by SIGINT/SIGTERM: the runner then stops the child's process group (which does not
/// get the terminal's Ctrl-C itself) and leakcheck still writes the report of what it saw.
pub fn interrupt_flag() -> Arc<AtomicBool> {
    static INTERRUPTED: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    INTERRUPTED
        .get_or_init(|| {
            let flag = Arc::new(AtomicBool::new(false));
            for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&flag)) {
                    eprintln!("warning: cannot handle signal {signal}: {e}");
                }
            }
            flag
        })
        .clone()
}
