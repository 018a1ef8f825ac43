//! `leakcheck gate`: every scenario of the config (or `--only` some), one verdict for CI.
//! Every selected scenario runs, even after one could not start; the gate's files list
//! each of them and are rewritten after every scenario.

use std::path::Path;
use std::sync::atomic::Ordering;

use leakcheck_judge::{Baseline, RatchetTolerance, ratchet};
use leakcheck_report::{GateEntry, Overall};
use leakcheck_runner::{ScenarioConfig, load_config};

use super::{
    RunRequest, ScenarioResult, create_out_dir, interrupt_flag, not_started, run_scenario,
};
use crate::cli::GateArgs;
use crate::error::{CliError, ExitStatus};
use crate::output::{say, tell};

pub fn execute(args: GateArgs) -> Result<ExitStatus, CliError> {
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
        let partition = Partition::parse(text)?;
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
    // A baseline that cannot be read is a usage error before anything runs; one that does
    // not exist yet is empty (recorded by --update-baseline).
    let mut baseline = match &args.baseline {
        Some(path) => Some(Baseline::load(path)?.unwrap_or_default()),
        None => None,
    };
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
        let mut result = match run_scenario(scenario, request) {
            Ok(result) => result,
            Err(e) => {
                tell!("error: [{}] {e}", scenario.name);
                not_started(scenario, request, &e)
            }
        };
        if let Some(b) = baseline.as_mut() {
            if args.update_baseline {
                if result.report.status.is_complete() {
                    b.record(&result.report, cores());
                }
            } else {
                check_against_baseline(scenario, b, &mut result, &args.out);
            }
        }
        status = status.worst(result.status);
        entries.push(GateEntry {
            rel_dir: scenario.name.clone(),
            report: result.report,
        });
        // Rewritten after every scenario, so the gate's files are current while it runs.
        write_gate_or_warn(&args.out, &entries, None);
        let manifest = super::GateManifest {
            partition: args.partition.clone(),
            scenarios: entries.iter().map(|e| e.rel_dir.clone()).collect(),
        };
        if let Err(e) = manifest.write(&args.out) {
            tell!("warning: {e}; `leakcheck merge` will look for the scenarios' folders instead");
        }
        if interrupt_flag().load(Ordering::SeqCst) > 0 {
            tell!("gate: interrupted; the remaining scenarios were not run");
            break;
        }
    }
    write_gate_or_warn(&args.out, &entries, step_summary.as_deref());
    if let (Some(b), Some(path), true) = (&baseline, &args.baseline, args.update_baseline) {
        b.save(path)?;
        say!(
            "gate: baseline {} now holds {} scenarios ({} recorded by this run)",
            path.display(),
            b.scenarios.len(),
            entries
                .iter()
                .filter(|e| e.report.status.is_complete())
                .count()
        );
    }
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

/// `--partition K/N`: cargo-nextest's convention. `count:K/N` (and plain `K/N`) takes every
/// N-th scenario in config order starting with the K-th; `hash:K/N` the scenarios whose
/// name hashes to K (stable across runs and machines: FNV-1a).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Partition {
    by_hash: bool,
    shard: usize,
    of: usize,
}

impl Partition {
    fn parse(text: &str) -> Result<Partition, CliError> {
        let bad = || {
            CliError::Usage(format!(
                "invalid --partition {text:?}: expected K/N with 1 ≤ K ≤ N, optionally as count:K/N or hash:K/N"
            ))
        };
        let (by_hash, rest) = match text.split_once(':') {
            Some(("count", rest)) => (false, rest),
            Some(("hash", rest)) => (true, rest),
            Some(_) => return Err(bad()),
            None => (false, text),
        };
        let (k, n) = rest.split_once('/').ok_or_else(bad)?;
        let (shard, of): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if shard == 0 || of == 0 || shard > of {
            return Err(bad());
        }
        Ok(Partition { by_hash, shard, of })
    }

    fn select<T>(&self, items: Vec<T>, name: impl Fn(&T) -> &str) -> Vec<T> {
        items
            .into_iter()
            .enumerate()
            .filter(|(i, item)| {
                let bucket = if self.by_hash {
                    (fnv1a(name(item).as_bytes()) % self.of as u64) as usize
                } else {
                    i % self.of
                };
                bucket + 1 == self.shard
            })
            .map(|(_, item)| item)
            .collect()
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
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

#[cfg(test)]
mod tests {
    use super::Partition;

    #[test]
    fn partitions_cover_every_scenario_exactly_once() {
        let names: Vec<String> = (0..7).map(|i| format!("scenario-{i}")).collect();
        for form in ["", "count:", "hash:"] {
            let mut seen: Vec<String> = Vec::new();
            for k in 1..=3 {
                let p = Partition::parse(&format!("{form}{k}/3")).unwrap();
                seen.extend(p.select(names.clone(), |s| s.as_str()));
            }
            seen.sort();
            assert_eq!(seen, names, "{form}");
        }
        assert_eq!(
            Partition::parse("1/2")
                .unwrap()
                .select(vec!["a", "b", "c"], |s| s),
            vec!["a", "c"]
        );
    }

    #[test]
    fn bad_partitions_are_usage_errors_naming_the_value() {
        for bad in ["0/2", "3/2", "1/0", "2", "x/2", "slice:1/2", ""] {
            let e = Partition::parse(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }
}
