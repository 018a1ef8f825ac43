//! `leakcheck gate`: every scenario of the config (or `--only` some), one verdict for CI.
//! Every selected scenario runs, even after one could not start; the gate's files list
//! each of them and are rewritten after every scenario.

use std::path::Path;
use std::sync::atomic::Ordering;

use leakcheck_report::{GateEntry, Overall};
use leakcheck_runner::load_config;

use super::{RunRequest, create_out_dir, interrupt_flag, not_started, run_scenario};
use crate::cli::GateArgs;
use crate::error::{CliError, ExitStatus};
use crate::output::{say, tell};

pub fn execute(args: GateArgs) -> Result<ExitStatus, CliError> {
    let config = load_config(&args.config.config)?;
    for name in &args.only {
        config.scenario(name)?;
    }
    let selected: Vec<_> = config
        .scenarios
        .iter()
        .filter(|s| args.only.is_empty() || args.only.contains(&s.name))
        .collect();
    // A variant must exist in every selected scenario before anything runs.
    for scenario in &selected {
        scenario.argv(&config.path, args.variant.as_deref(), None)?;
    }
    create_out_dir(&args.out)?;
    super::check_openmetrics_path(args.openmetrics.openmetrics.as_deref())?;
    let step_summary = std::env::var_os("GITHUB_STEP_SUMMARY").map(std::path::PathBuf::from);

    let mut entries = Vec::new();
    let mut status = ExitStatus::Pass;
    for scenario in selected {
        let request = RunRequest {
            config_path: &config.path,
            variant: args.variant.as_deref(),
            length: super::LengthRequest::default(),
            out_root: &args.out,
            attribute: args.attribute.attribute,
        };
        let result = match run_scenario(scenario, request) {
            Ok(result) => result,
            Err(e) => {
                tell!("error: [{}] {e}", scenario.name);
                not_started(scenario, request, &e)
            }
        };
        status = status.worst(result.status);
        entries.push(GateEntry {
            rel_dir: scenario.name.clone(),
            report: result.report,
        });
        // Rewritten after every scenario, so the gate's files are current while it runs.
        write_gate_or_warn(&args.out, &entries, None);
        if interrupt_flag().load(Ordering::SeqCst) > 0 {
            tell!("gate: interrupted; the remaining scenarios were not run");
            break;
        }
    }
    write_gate_or_warn(&args.out, &entries, step_summary.as_deref());
    super::write_openmetrics_or_warn(args.openmetrics.openmetrics.as_deref(), &entries);
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
    Ok(status)
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
