//! `leakcheck report SAMPLES`: re-judge a recorded run offline and re-render its report.

use std::path::{Path, PathBuf};

use leakcheck_judge::{Judgement, Judging, MetricBudget, RunFacts, apply_budget_overrides, judge};
use leakcheck_records::read_run;

use super::{create_out_dir, parse_budget_args, print_result, write_scenario_or_warn};
use crate::cli::ReportArgs;
use crate::error::{CliError, ExitStatus};
use crate::output::tell;

pub fn execute(
    args: ReportArgs,
    judged: &mut Vec<leakcheck_report::GateEntry>,
) -> Result<ExitStatus, CliError> {
    let overrides = parse_budget_args(&args.budgets.budgets)?;
    let (judgement, samples_dir) = rejudge(&args.samples, overrides)?;
    let out = create_out_dir(&args.out.unwrap_or(samples_dir))?;
    print_result(&judgement.report, &out);
    write_scenario_or_warn(&out, &judgement.report);
    let status = ExitStatus::of_verdict(judgement.verdict, judgement.misconfigured);
    judged.extend(super::single_entry(judgement.report));
    Ok(status)
}

/// Judges a recorded `samples.jsonl` again, by the `judging.json` beside it (or by the
/// `overrides` alone when there is none), with `overrides` on top. Returns the judgement
/// and the samples' folder.
pub fn rejudge(
    samples: &Path,
    overrides: Vec<MetricBudget>,
) -> Result<(Judgement, PathBuf), CliError> {
    let recorded = read_run(samples)?;
    let samples_dir = match samples.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
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
    let samples_file = samples
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let judgement = judge(&judging, &RunFacts::recorded(&recorded, samples_file));
    Ok((judgement, samples_dir))
}
