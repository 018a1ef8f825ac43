//! The gate's baseline ratchet: a committed JSON file of what each scenario's budgeted
//! metrics measured (slope with interval, growth, peak, retained, and the run's context),
//! and the check of a new run against it. A budgeted quantity significantly worse than
//! its baseline by more than the tolerance fails the scenario even within budget; one
//! significantly better says the baseline can be ratcheted down.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use leakcheck_analysis::{Change, Tolerance};
use leakcheck_summary::{Overall, QuantityDiff, ScenarioReport};
use leakcheck_vocab::{BudgetKind, ValueUnit, XUnit};
use serde::{Deserialize, Serialize};

use crate::compare::{DiffSpec, Quantities, diff_quantity};

/// The `format` field of every baseline file.
pub const BASELINE_FORMAT: &str = "leakcheck-baseline";
/// The layout version this build reads and writes.
pub const BASELINE_VERSION: u32 = 1;

/// A baseline file: per scenario, what its last recorded run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub format: String,
    pub version: u32,
    pub scenarios: BTreeMap<String, BaselineEntry>,
}

/// One scenario's recorded run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineEntry {
    pub variant: Option<String>,
    pub iterations: Option<u64>,
    pub x_unit: XUnit,
    /// The recording machine's core count (a baseline from a bigger machine may not hold).
    pub cores: usize,
    pub leakcheck_version: String,
    pub metrics: BTreeMap<String, BaselineMetric>,
}

/// One metric of a recorded run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineMetric {
    #[serde(default)]
    pub unit: ValueUnit,
    #[serde(flatten)]
    pub quantities: Quantities,
}

/// A baseline file that cannot be read or used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("cannot read baseline {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write baseline {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a leakcheck baseline: {source}; expected the JSON `leakcheck gate --update-baseline` writes", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{} is baseline version {found} ({format}), expected {BASELINE_FORMAT} version {BASELINE_VERSION} (re-record it with --update-baseline, which replaces it)", path.display())]
    Version {
        path: PathBuf,
        format: String,
        found: u32,
    },
    /// One entry of a readable baseline is not usable; `at` is its dotted path.
    #[error("{} is not a valid baseline: `{at}` {problem}", path.display())]
    Invalid {
        path: PathBuf,
        at: String,
        problem: String,
    },
}

impl BaselineError {
    /// The file is a baseline of another format or version: `--update-baseline` replaces
    /// it rather than failing the way the message told the user to get out of.
    pub fn is_other_version(&self) -> bool {
        matches!(self, BaselineError::Version { .. })
    }
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            format: BASELINE_FORMAT.to_string(),
            version: BASELINE_VERSION,
            scenarios: BTreeMap::new(),
        }
    }
}

impl Baseline {
    /// Reads a baseline; `Ok(None)` when the file does not exist yet.
    pub fn load(path: &Path) -> Result<Option<Baseline>, BaselineError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(BaselineError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Baseline::parse(&text, path).map(Some)
    }

    /// A baseline file's text, read and validated exactly as [`Baseline::load`] does
    /// (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Baseline, BaselineError> {
        let parse = |source| BaselineError::Parse {
            path: path.to_path_buf(),
            source,
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(parse)?;
        let format = value["format"]
            .as_str()
            .unwrap_or("(no format)")
            .to_string();
        let found = value["version"].as_u64().unwrap_or(0) as u32;
        if format != BASELINE_FORMAT || found != BASELINE_VERSION {
            return Err(BaselineError::Version {
                path: path.to_path_buf(),
                format,
                found,
            });
        }
        let invalid = |at: String, problem: String| BaselineError::Invalid {
            path: path.to_path_buf(),
            at,
            problem,
        };
        let entries = value
            .get("scenarios")
            .and_then(serde_json::Value::as_object)
            .ok_or_else(|| invalid("scenarios".into(), "is missing or not an object".into()))?;
        let mut scenarios = BTreeMap::new();
        for (name, entry) in entries {
            let at = format!("scenarios.{name}");
            let entry: BaselineEntry =
                serde_path_to_error::deserialize(entry.clone()).map_err(|e| {
                    let key = e.path().to_string();
                    let at = if key == "." {
                        at.clone()
                    } else {
                        format!("{at}.{key}")
                    };
                    invalid(at, format!("is not usable: {}", e.into_inner()))
                })?;
            entry
                .check()
                .map_err(|(key, problem)| invalid(format!("{at}.{key}"), problem))?;
            scenarios.insert(name.clone(), entry);
        }
        Ok(Baseline {
            format,
            version: found,
            scenarios,
        })
    }

    /// Writes the baseline through `PATH.tmp`, renamed when complete.
    pub fn save(&self, path: &Path) -> Result<(), BaselineError> {
        let mut text = serde_json::to_string_pretty(self).map_err(|e| BaselineError::Write {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?;
        text.push('\n');
        leakcheck_summary::write_atomically(path, text.as_bytes()).map_err(|source| {
            BaselineError::Write {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    /// Records (or replaces) a scenario's entry from its judged run: every budgeted metric.
    pub fn record(&mut self, report: &ScenarioReport, cores: usize) {
        let metrics = report
            .metrics
            .iter()
            .filter(|m| !m.budgets.is_empty())
            .map(|m| {
                let metric = BaselineMetric {
                    unit: m.unit,
                    quantities: Quantities::of(m),
                };
                (m.name.clone(), metric)
            })
            .collect();
        let entry = BaselineEntry {
            variant: report.variant.clone(),
            iterations: report.iterations,
            x_unit: report.x_unit,
            cores,
            leakcheck_version: env!("CARGO_PKG_VERSION").to_string(),
            metrics,
        };
        self.scenarios.insert(report.scenario.clone(), entry);
    }
}

impl BaselineEntry {
    /// Every interval ordered (lo ≤ hi) at a confidence in (0.5, 1), every
    /// value finite where there is one: a hand-edited `lo > hi` or `confidence: 7` would
    /// make every comparison against it meaningless. The error is `(key, problem)`.
    fn check(&self) -> Result<(), (String, String)> {
        for (name, m) in &self.metrics {
            let q = &m.quantities;
            let intervals = [
                ("slope", q.slope),
                ("growth", q.growth),
                ("retained", q.retained),
            ];
            for (kind, interval) in intervals {
                let Some(i) = interval else { continue };
                let key = format!("metrics.{name}.{kind}");
                if !i.estimate.is_finite() {
                    return Err((
                        key,
                        format!("has estimate {}; expected a number", i.estimate),
                    ));
                }
                if !i.has_bounds() {
                    continue;
                }
                if i.lo > i.hi {
                    return Err((
                        key,
                        format!("has lo {} > hi {}; expected lo ≤ hi", i.lo, i.hi),
                    ));
                }
                if !(i.confidence > 0.5 && i.confidence < 1.0) {
                    return Err((
                        key,
                        format!(
                            "has confidence {}; expected a level between 0.5 and 1",
                            i.confidence
                        ),
                    ));
                }
            }
            if let Some(peak) = q.peak.filter(|p| !p.is_finite()) {
                return Err((
                    format!("metrics.{name}.peak"),
                    format!("is {peak}; expected a number"),
                ));
            }
        }
        Ok(())
    }
}

/// The tolerance of one metric's ratchet, with the text the user wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct RatchetTolerance {
    pub tolerance: Tolerance,
    pub text: String,
}

/// Checks `report` against its baseline `entry`: every budgeted quantity with an interval
/// in both (slopes, growth, retained between checkpoints) is differenced and classified;
/// a worse one fails the scenario (the headline says so when the budgets passed), a better
/// one adds a note to ratchet the baseline down. No entry, or a metric missing from it, is
/// a note, never a failure.
pub fn ratchet(
    report: &mut ScenarioReport,
    entry: Option<&BaselineEntry>,
    tolerance_of: &dyn Fn(&str) -> RatchetTolerance,
    confidence: f64,
) {
    let Some(entry) = entry else {
        report.notes.push(format!(
            "the baseline has no entry for {}: record one with --update-baseline",
            report.scenario
        ));
        return;
    };
    if entry.x_unit != report.x_unit {
        report.notes.push(format!(
            "the baseline of {} is per {}, this run per {}: not compared",
            report.scenario, entry.x_unit, report.x_unit
        ));
        return;
    }
    let mut checks: Vec<QuantityDiff> = Vec::new();
    let mut missing = Vec::new();
    for m in report.metrics.iter().filter(|m| !m.budgets.is_empty()) {
        let Some(base) = entry.metrics.get(&m.name) else {
            missing.push(m.name.clone());
            continue;
        };
        let now = Quantities::of(m);
        let tol = tolerance_of(&m.name);
        let mut kinds: Vec<BudgetKind> = m.budgets.iter().map(|b| b.kind).collect();
        kinds.dedup();
        for kind in kinds {
            let (Some(a), Some(b)) = (base.quantities.get(kind), now.get(kind)) else {
                continue;
            };
            if !(a.has_bounds() && b.has_bounds()) {
                continue;
            }
            let spec = DiffSpec {
                metric: &m.name,
                kind,
                unit: m.unit,
                x_unit: report.x_unit,
                tolerance: tol.tolerance,
                tolerance_text: &tol.text,
                confidence,
                judged: true,
                reference: "baseline",
            };
            checks.push(diff_quantity(&spec, a, b));
        }
    }
    if !missing.is_empty() {
        report.notes.push(format!(
            "the baseline of {} has no {}: record it with --update-baseline",
            report.scenario,
            missing.join(", ")
        ));
    }
    let worse: Vec<&QuantityDiff> = checks
        .iter()
        .filter(|c| c.change == Some(Change::Worse))
        .collect();
    if let Some(first) = worse.first() {
        if matches!(report.verdict, Overall::Pass | Overall::NoBudgets) {
            report.headline = first.line.clone();
        }
        if report.verdict != Overall::Incomplete {
            report.verdict = Overall::Fail;
        }
    }
    if checks.iter().any(|c| c.change == Some(Change::Better)) && worse.is_empty() {
        report.notes.push(format!(
            "ratchet down: {} is better than its baseline; run with --update-baseline",
            report.scenario
        ));
    }
    report.ratchet = checks;
}
