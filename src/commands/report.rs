//! `leakcheck report SAMPLES`: re-judge a recorded run offline and re-render its report.

use leakcheck_judge::{Judging, RunFacts, judge};
use leakcheck_records::read_run;

use super::{parse_budget_args, print_result};
use crate::cli::ReportArgs;
use crate::error::{CliError, ExitStatus};

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
    let mut judging = match Judging::load(&samples_dir) {
        Ok(judging) => judging,
        Err(e) => {
            eprintln!("note: {e}; judging by the command line's budgets only");
            Judging::from_header(&recorded.header)
        }
    };
    judging.override_budgets(overrides);
    let out = args.out.unwrap_or_else(|| samples_dir.clone());

    let judgement = judge(
        &judging,
        &RunFacts {
            timeline: &recorded.timeline,
            termination: recorded.termination(),
            stopped_early: recorded.exit.as_ref().and_then(|e| e.stopped_early.clone()),
            wall_s: recorded.exit.as_ref().map_or(0.0, |e| e.wall_s),
            samples_file: args
                .samples
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
        },
    );
    leakcheck_report::write_scenario(&out, &judgement.report)?;
    print_result(&judgement.report, &out);
    Ok(ExitStatus::of_verdict(
        judgement.verdict,
        judgement.misconfigured,
    ))
}
