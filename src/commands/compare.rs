//! `leakcheck compare A B`: two recorded runs, metric by metric, with intervals on every
//! difference; did the fix work (B better), did B regress (B worse)?

use std::path::{Path, PathBuf};

use leakcheck_judge::Tolerance;
use leakcheck_records::SAMPLES_FILE;
use leakcheck_report::ComparedRun;
use leakcheck_settings::Ratchet;
use leakcheck_vocab::Change;
use leakcheck_vocab::ValueUnit;

use super::create_out_dir;
use super::report::rejudge;
use crate::cli::CompareArgs;
use crate::error::{CliError, ExitStatus};
use crate::output::{say, tell};

pub fn execute(args: CompareArgs) -> Result<ExitStatus, CliError> {
    let tolerance = Ratchet::parse(&args.tolerance, ValueUnit::Bytes).ok_or_else(|| {
        CliError::Usage(format!(
            "invalid --tolerance {:?}: expected {}",
            args.tolerance,
            Ratchet::FORMS
        ))
    })?;
    if !(args.confidence > 0.5 && args.confidence < 1.0) {
        return Err(CliError::Usage(format!(
            "invalid --confidence {}: expected a level between 0.5 and 1, e.g. 0.99",
            args.confidence
        )));
    }
    let a = load(&args.a)?;
    let b = load(&args.b)?;
    if let Tolerance::Rate(_, per) = tolerance.tolerance
        && let Some(run) = [&a, &b].into_iter().find(|r| r.x_unit != per)
    {
        return Err(CliError::Usage(format!(
            "invalid --tolerance {:?}: a rate per {per}, but {} is judged per {}; expected a percentage (\"25%\") or a rate per {} (e.g. \"4KiB/{}\")",
            args.tolerance,
            run.path,
            run.x_unit,
            run.x_unit,
            run.x_unit.suffix()
        )));
    }
    let out = create_out_dir(&args.out)?;
    let report =
        leakcheck_judge::compare(a, b, tolerance.tolerance, &tolerance.text, args.confidence);
    say!("compare: {} — {}", report.verdict.word(), report.headline);
    for (side, run) in [("A", &report.a), ("B", &report.b)] {
        let ending = &run.report.status;
        let incomplete = if ending.is_complete() {
            String::new()
        } else {
            format!(" — INCOMPLETE: it {}", ending.describe())
        };
        say!("  {side}: {} ({}){incomplete}", run.label(), run.path);
    }
    for line in leakcheck_report::compare_lines(&report) {
        say!("  {line}");
    }
    for note in &report.notes {
        say!("  note: {note}");
    }
    match leakcheck_report::write_compare(&out, &report) {
        Ok(_) => say!("  report: {}", out.join("compare.md").display()),
        Err(e) => tell!("warning: {e}; the comparison above stands"),
    }
    let incomplete =
        !(report.a.report.status.is_complete() && report.b.report.status.is_complete());
    Ok(match report.verdict {
        Change::Worse => ExitStatus::BudgetFailed,
        _ if incomplete => ExitStatus::Incomplete,
        Change::Undecided => ExitStatus::Undecided,
        Change::Better | Change::NoSignificantDifference => ExitStatus::Pass,
    })
}

/// A run to compare: a run folder (its samples.jsonl) or a samples.jsonl, judged again
/// by the judging.json beside it.
fn load(path: &Path) -> Result<ComparedRun, CliError> {
    let samples: PathBuf = if path.is_dir() {
        path.join(SAMPLES_FILE)
    } else {
        path.to_path_buf()
    };
    if !samples.is_file() {
        return Err(CliError::Usage(format!(
            "cannot compare {}: expected a run folder with {SAMPLES_FILE} or a {SAMPLES_FILE} file",
            path.display()
        )));
    }
    let (judgement, _) = rejudge(&samples, Vec::new())?;
    let r = judgement.report;
    Ok(ComparedRun {
        path: path.display().to_string(),
        scenario: r.scenario.clone(),
        variant: r.variant.clone(),
        verdict: r.verdict,
        iterations: r.iterations,
        x_unit: r.x_unit,
        report: r,
    })
}
