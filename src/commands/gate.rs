//! `leakcheck gate`: every scenario of the config (or `--only` some), one verdict for CI.
//! Every selected scenario runs, even after one could not start; the gate's files list
//! each of them and are rewritten after every scenario.

use std::path::Path;
use std::sync::atomic::Ordering;

use leakcheck_judge::{Baseline, RatchetTolerance, ratchet};
use leakcheck_report::{GateEntry, GateManifest, Overall, Partition};
use leakcheck_settings::{ScenarioConfig, load_config};

use super::{
    RunRequest, ScenarioResult, create_out_dir, interrupt_flag, lock, not_started, run_scenario,
};
use crate::cli::GateArgs;
use crate::error::{CliError, ExitStatus};
use crate::output::{say, tell};

pub fn execute(args: GateArgs, judged: &mut Vec<GateEntry>) -> Result<ExitStatus, CliError> {
    let config = load_config(&args.config.config)?;
    for name in &args.only {
        config.scenario(name)?;
    }
    let mut selected: Vec<_> = config
        .scenarios
        .iter()
        .filter(|s| args.only.is_empty() || args.only.contains(&s.name))
        .collect();
    if let Some(text) = &args.partition {
        let partition =
            Partition::parse(text).map_err(|e| CliError::Usage(format!("--partition: {e}")))?;
        let all = selected.len();
        selected = partition.select(selected, |s| &s.name);
        let names: Vec<&str> = selected.iter().map(|s| s.name.as_str()).collect();
        say!(
            "gate: partition {text} runs {} of {all} scenarios: {}",
            names.len(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        );
    }
    // The baseline is checked before anything runs: in check mode it must exist and be
    // valid; to be updated, its path must be writable (a late failure would cost the run).
    let baseline = match (&args.baseline, args.update_baseline) {
        (Some(path), false) => Some(Baseline::load(path)?.ok_or_else(|| {
            CliError::Usage(format!(
                "invalid --baseline {}: no such file; record one first with --baseline {} --update-baseline",
                path.display(),
                path.display()
            ))
        })?),
        (Some(path), true) => {
            match Baseline::load(path) {
                Err(e) if e.is_other_version() => tell!("note: {e}"),
                other => drop(other?),
            }
            super::check_output_file("--baseline", path)?;
            None
        }
        (None, _) => None,
    };
    // A variant must exist in every selected scenario before anything runs.
    for scenario in &selected {
        scenario.argv(&config.path, args.variant.as_deref(), None)?;
    }
    create_out_dir(&args.out)?;
    let step_summary = std::env::var_os("GITHUB_STEP_SUMMARY").map(std::path::PathBuf::from);

    // Written before the first scenario starts: a gate killed half-way leaves the
    // scenarios it never finished in the manifest, and `merge` reports them incomplete.
    let mut manifest = GateManifest {
        partition: args.partition.clone(),
        planned: Some(selected.iter().map(|s| s.name.clone()).collect()),
        scenarios: Vec::new(),
    };
    write_manifest_or_warn(&manifest, &args.out);
    let mut recorded = Baseline::default();
    let mut entries = Vec::new();
    let mut status = ExitStatus::Pass;
    for scenario in selected {
        let request = RunRequest {
            config_path: &config.path,
            variant: args.variant.as_deref(),
            length: super::LengthRequest::default(),
            out_root: &args.out,
            attribute: args.attribute.attribute,
            limit: None,
        };
        let mut result = match run_scenario(scenario, request) {
            Ok(result) => result,
            Err(e) => {
                tell!("error: [{}] {e}", scenario.name);
                not_started(scenario, request, &e)
            }
        };
        if args.update_baseline {
            if result.report.status.is_complete() {
                recorded.record(&result.report, cores());
            }
        } else if let Some(b) = &baseline {
            check_against_baseline(scenario, b, &mut result, &args.out);
        }
        status = status.worst(result.status);
        entries.push(GateEntry {
            rel_dir: scenario.name.clone(),
            report: result.report,
        });
        // Rewritten after every scenario, so the gate's files are current while it runs.
        write_gate_or_warn(&args.out, &entries, None);
        manifest.scenarios.push(scenario.name.clone());
        write_manifest_or_warn(&manifest, &args.out);
        if interrupt_flag().load(Ordering::SeqCst) > 0 {
            tell!("gate: interrupted; the remaining scenarios were not run");
            break;
        }
    }
    write_gate_or_warn(&args.out, &entries, step_summary.as_deref());
    if let (Some(path), true) = (&args.baseline, args.update_baseline) {
        update_baseline_or_warn(path, recorded);
    }
    let passed = entries
        .iter()
        .filter(|e| matches!(e.report.verdict, Overall::Pass | Overall::NoBudgets))
        .count();
    say!(
        "gate: {} of {} scenarios passed; reports in {} (index.html, summary.md, junit.xml)",
        passed,
        entries.len(),
        args.out.display()
    );
    judged.extend(entries);
    Ok(status)
}

fn write_manifest_or_warn(manifest: &GateManifest, out: &Path) {
    if let Err(e) = manifest.write(out) {
        tell!("warning: {e}; `leakcheck merge` will look for the scenarios' folders instead");
    }
}

/// Merges this gate's `recorded` entries into the baseline file under a lock, re-read
/// right before it is replaced: two gates updating one baseline (`--only a`, `--only b`)
/// each keep the other's entries. A failure is a warning: the verdict and its exit code
/// stand, and the other outputs are still written.
fn update_baseline_or_warn(path: &Path, recorded: Baseline) {
    let lock_path = leakcheck_report::tmp_path(path).with_extension("lock");
    let updated = (|| -> Result<usize, CliError> {
        let _lock = lock::FileLock::take(&lock_path, lock::Wait::Yes)
            .map_err(|source| CliError::Io {
                path: lock_path.clone(),
                source,
            })?
            .map_err(|_| CliError::Usage(format!("cannot lock {}", lock_path.display())))?;
        let mut current = match Baseline::load(path) {
            Err(e) if e.is_other_version() => Baseline::default(),
            other => other?.unwrap_or_default(),
        };
        current.scenarios.extend(recorded.scenarios.clone());
        current.save(path)?;
        Ok(current.scenarios.len())
    })();
    match updated {
        Ok(held) => say!(
            "gate: baseline {} now holds {held} scenarios ({} recorded by this run)",
            path.display(),
            recorded.scenarios.len()
        ),
        Err(e) => tell!("warning: {e}; the baseline was not updated (the verdict above stands)"),
    }
}

/// The ratchet: the scenario's budgeted quantities against its baseline entry; a
/// regression fails the scenario, and its lines go to the terminal and its report.
fn check_against_baseline(
    scenario: &ScenarioConfig,
    baseline: &Baseline,
    result: &mut ScenarioResult,
    out: &Path,
) {
    let before = result.report.verdict;
    let tolerance_of = |metric: &str| {
        let r = scenario
            .ratchets
            .get(metric)
            .unwrap_or(&scenario.settings.ratchet);
        RatchetTolerance {
            tolerance: r.tolerance,
            text: r.text.clone(),
        }
    };
    let notes_before = result.report.notes.len();
    ratchet(
        &mut result.report,
        baseline.scenarios.get(&scenario.name),
        &tolerance_of,
        scenario.settings.confidence,
    );
    for check in &result.report.ratchet {
        say!("  {:9} {}", "baseline", check.line);
    }
    for note in &result.report.notes[notes_before..] {
        say!("  note: {note}");
    }
    if result.report.verdict != before {
        say!(
            "{}: {} — {}",
            scenario.name,
            result.report.verdict.word(),
            result.report.headline
        );
        result.status = result.status.worst(ExitStatus::BudgetFailed);
    }
    super::write_scenario_or_warn(&out.join(&scenario.name), &result.report);
}

/// The machine's core count, recorded with a baseline.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// The gate's files; a failure to write them (a full disk) is a warning, never a lost
/// verdict.
fn write_gate_or_warn(out: &Path, entries: &[GateEntry], step_summary: Option<&Path>) {
    if let Err(e) = leakcheck_report::write_gate(out, entries, step_summary) {
        tell!(
            "warning: {e}; the gate's reports in {} are incomplete",
            out.display()
        );
    }
}
