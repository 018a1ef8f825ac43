//! `leakcheck gate`: every scenario of the config (or `--only` some), one verdict for CI.

use leakcheck_report::GateEntry;
use leakcheck_runner::load_config;

use super::{RunRequest, run_scenario};
use crate::cli::GateArgs;
use crate::error::{CliError, ExitStatus};

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
    let step_summary = std::env::var_os("GITHUB_STEP_SUMMARY").map(std::path::PathBuf::from);

    let mut entries = Vec::new();
    let mut status = ExitStatus::Pass;
    for scenario in selected {
        let result = run_scenario(
            scenario,
            RunRequest {
                config_path: &config.path,
                variant: args.variant.as_deref(),
                iterations: None,
                out_root: &args.out,
            },
        )?;
        status = status.worst(result.status);
        entries.push(GateEntry {
            rel_dir: scenario.name.clone(),
            report: result.report,
        });
        // Rewritten after every scenario, so the gate's files are current while it runs.
        leakcheck_report::write_gate(&args.out, &entries, None)?;
    }
    leakcheck_report::write_gate(&args.out, &entries, step_summary.as_deref())?;
    let failed = entries
        .iter()
        .filter(|e| e.report.verdict != leakcheck_report::Overall::Pass)
        .count();
    println!(
        "gate: {} of {} scenarios passed; reports in {} (index.html, summary.md, junit.xml)",
        entries.len() - failed,
        entries.len(),
        args.out.display()
    );
    Ok(status)
}
