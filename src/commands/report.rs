//! `leakcheck report SAMPLES`: re-judge a recorded run offline and re-render its report.

use leakcheck_judge::{Judging, RunFacts, apply_budget_overrides, judge};
use leakcheck_records::read_run;

use super::{create_out_dir, parse_budget_args, print_result, write_scenario_or_warn};
use crate::cli::ReportArgs;
use crate::error::{CliError, ExitStatus};
use crate::output::tell;

pub fn execute(args: ReportArgs) -> Result<ExitStatus, CliError> {
    let overrides = parse_budget_args(&args.budgets.budgets)?;
    let recorded = read_run(&args.samples)?;
    let samples_dir = args
        .samples
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(std::path::Path::new("."))
        .to_path_buf();
    // A missing judging.json (a samples file copied alone) is judged by the command line's
    // budgets; one that is there but cannot be used is an error, never a silent pass.
    let mut judging = match Judging::load(&samples_dir) {
        Ok(judging) => judging,
        Err(e) if e.is_missing() => {
            tell!("note: {e}; judging by the command line's budgets only");
            Judging::from_header(&recorded.header)
        }
        Err(e) => return Err(e.into()),
    };
    apply_budget_overrides(&mut judging.budgets, overrides);
    let out = create_out_dir(&args.out.unwrap_or_else(|| samples_dir.clone()))?;
    super::check_openmetrics_path(args.openmetrics.openmetrics.as_deref())?;

    let judgement = judge(
        &judging,
        &RunFacts {
            timeline: &recorded.timeline,
            termination: recorded.termination(),
            reason: recorded.exit.as_ref().and_then(|e| e.stopped_early.clone()),
            wall_s: recorded.exit.as_ref().map_or(0.0, |e| e.wall_s),
            samples_file: args
                .samples
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
        },
    );
    print_result(&judgement.report, &out);
    write_scenario_or_warn(&out, &judgement.report);
    let status = ExitStatus::of_verdict(judgement.verdict, judgement.misconfigured);
    super::write_openmetrics_or_warn(
        args.openmetrics.openmetrics.as_deref(),
        &super::single_entry(judgement.report),
    );
    Ok(status)
}
