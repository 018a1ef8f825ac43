//! What a run is judged by besides its samples ([`Judging`]), saved beside
//! `samples.jsonl` as `judging.json` so `leakcheck report` re-judges a run offline exactly
//! as it was judged live.

use std::path::{Path, PathBuf};

use leakcheck_analysis::{AnalysisOptions, LookPlan, MetricBudget, Quantity, WarmUp};
use leakcheck_records::{RunHeader, known_metrics, unit_of};
use leakcheck_summary::MemoryLimit;
use leakcheck_vocab::BudgetKind;
use serde::{Deserialize, Serialize};

/// File name of the saved [`Judging`], beside `samples.jsonl`.
pub const JUDGING_FILE: &str = "judging.json";

/// Version of the `judging.json` layout; files written before it carried one are 1.
/// Version 2 added the sequential `plan` (a version-1 file has none: judged once, at the
/// end).
pub const JUDGING_VERSION: u32 = 2;

fn version_one() -> u32 {
    1
}

/// Everything besides the samples that a verdict depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judging {
    /// [`JUDGING_VERSION`] when written by this leakcheck.
    #[serde(default = "version_one")]
    pub version: u32,
    pub scenario: String,
    pub variant: Option<String>,
    pub argv: Vec<String>,
    pub iterations: Option<u64>,
    pub budgets: Vec<MetricBudget>,
    pub warmup: WarmUp,
    pub confidence: f64,
    pub ceiling: Option<u64>,
    /// Judge at looks as the run goes, between a minimum and a maximum length
    /// ([`leakcheck_analysis::sequential`]); `None`: once, at the end, at `confidence`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<LookPlan>,
    /// The memory the run may use: growing metrics in bytes get a forecast of when they
    /// reach it ([`leakcheck_analysis::forecast`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<MemoryLimit>,
    /// Metrics shown (analysed, drawn, forecast) without a budget, besides those always
    /// shown: a cgroup watch's `cgroup.*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub show: Vec<String>,
    /// Decide once, at the end, at `plan.confidence`: the looks only report as the run
    /// goes (a watch that is not stopped when decided, whose verdict must be the job's
    /// state at its end, not at an early look that passed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub decide_at_end: bool,
}

/// Why a judging file cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum JudgingError {
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot read {}: {source} (it is written by `leakcheck run` and `leakcheck gate` beside samples.jsonl)",
        path.display()
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a judging file: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{} has version {found}, newer than this leakcheck understands ({JUDGING_VERSION})",
        path.display()
    )]
    NewerVersion { path: PathBuf, found: u32 },
    /// It parses, but a value is one the config and the flags would refuse: judging by it
    /// could turn a failed run into a pass.
    #[error(
        "{} is not a valid judging file: `{field}` is {value}; expected {expected}",
        path.display()
    )]
    Invalid {
        path: PathBuf,
        field: String,
        value: String,
        expected: String,
    },
}

impl JudgingError {
    /// The file is not there at all (a samples file copied alone): the caller may judge
    /// by the samples alone. Any other error means the file is there and cannot be used.
    pub fn is_missing(&self) -> bool {
        matches!(self, JudgingError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

impl Judging {
    /// What a samples file alone says: no budgets, default statistics.
    pub fn from_header(header: &RunHeader) -> Judging {
        Judging {
            argv: header.argv.clone(),
            ceiling: header.ceiling,
            ..Judging::named(&header.scenario)
        }
    }

    /// A scenario known by its name alone (one that never started): no budgets, default
    /// statistics.
    pub fn named(scenario: &str) -> Judging {
        let defaults = AnalysisOptions::default();
        Judging {
            version: JUDGING_VERSION,
            scenario: scenario.to_string(),
            variant: None,
            argv: Vec::new(),
            iterations: None,
            budgets: Vec::new(),
            warmup: defaults.warmup,
            confidence: defaults.confidence,
            ceiling: None,
            plan: None,
            limit: None,
            show: Vec::new(),
            decide_at_end: false,
        }
    }

    /// Write `dir/judging.json`.
    pub fn save(&self, dir: &Path) -> Result<(), JudgingError> {
        let path = dir.join(JUDGING_FILE);
        // Plain data of strings and numbers: serialising cannot fail.
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        std::fs::write(&path, text).map_err(|source| JudgingError::Write { path, source })
    }

    /// Read `dir/judging.json`.
    pub fn load(dir: &Path) -> Result<Judging, JudgingError> {
        let path = dir.join(JUDGING_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| JudgingError::Read {
            path: path.clone(),
            source,
        })?;
        Judging::parse(&text, &path)
    }

    /// A judging file's text, read and validated exactly as [`Judging::load`] does
    /// (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Judging, JudgingError> {
        let path = path.to_path_buf();
        let judging: Judging =
            serde_json::from_str(text).map_err(|source| JudgingError::Parse {
                path: path.clone(),
                source,
            })?;
        if judging.version > JUDGING_VERSION {
            return Err(JudgingError::NewerVersion {
                path,
                found: judging.version,
            });
        }
        judging
            .check()
            .map_err(|(field, value, expected)| JudgingError::Invalid {
                path,
                field,
                value,
                expected,
            })?;
        Ok(judging)
    }

    /// Every value within what the config and the flags accept, or `(field, value,
    /// expected)` of the first that is not: a budget on a metric leakcheck does not know,
    /// a budget whose quantity does not fit its kind or metric, a confidence outside
    /// (0.5, 1), a plan whose minimum is above its maximum.
    pub fn check(&self) -> Result<(), (String, String, String)> {
        let bad = |field: String, value: String, expected: &str| {
            Err((field, value, expected.to_string()))
        };
        if self.version == 0 {
            return bad("version".into(), "0".into(), "1 or 2");
        }
        let level = |c: f64| c > 0.5 && c < 1.0;
        if !level(self.confidence) {
            return bad(
                "confidence".into(),
                self.confidence.to_string(),
                "a level between 0.5 and 1, e.g. 0.99",
            );
        }
        match self.warmup {
            WarmUp::Fraction(f) if !(f.is_finite() && (0.0..1.0).contains(&f)) => {
                return bad("warmup".into(), f.to_string(), "a fraction 0 ≤ f < 1");
            }
            WarmUp::UntilX(x) if !x.is_finite() => {
                return bad("warmup".into(), x.to_string(), "a finite x");
            }
            _ => {}
        }
        for (i, b) in self.budgets.iter().enumerate() {
            let field = |name: &str| format!("budgets[{i}].{name}");
            if !known_metrics().contains(&b.metric.as_str()) {
                return bad(
                    field("metric"),
                    format!("{:?}", b.metric),
                    &format!("one of {}", known_metrics().join(", ")),
                );
            }
            if b.budget.unit != unit_of(&b.metric) {
                return bad(
                    field("budget.unit"),
                    format!("{:?}", b.budget.unit),
                    &format!("{:?}, the unit of {}", unit_of(&b.metric), b.metric),
                );
            }
            let fits = matches!(
                (b.budget.kind, b.budget.limit),
                (BudgetKind::Slope, Quantity::Rate { .. })
                    | (
                        BudgetKind::Growth | BudgetKind::Peak | BudgetKind::Retained,
                        Quantity::Bytes(_)
                    )
            );
            if !fits {
                return bad(
                    field("budget.limit"),
                    format!(
                        "{:?} for a {} budget",
                        b.budget.limit,
                        b.budget.kind.as_str()
                    ),
                    "a rate for a slope budget, a size for growth, peak and retained",
                );
            }
            let amount = b.budget.limit.bytes();
            if !(amount.is_finite() && amount >= 0.0) {
                return bad(
                    field("budget.limit"),
                    amount.to_string(),
                    "a finite amount ≥ 0",
                );
            }
        }
        if let Some(p) = &self.plan {
            let finite = |v: f64| v.is_finite() && v >= 0.0;
            let max = finite(p.max) || p.is_open_ended();
            if !(finite(p.min) && max && p.max > 0.0) {
                return bad(
                    "plan".into(),
                    format!("min {} max {}", p.min, p.max),
                    "finite lengths ≥ 0 and a maximum > 0 (null: no maximum)",
                );
            }
            if p.min > p.max {
                return bad(
                    "plan.min".into(),
                    p.min.to_string(),
                    &format!("at most the maximum ({})", p.max),
                );
            }
            if !level(p.confidence) {
                return bad(
                    "plan.confidence".into(),
                    p.confidence.to_string(),
                    "a level between 0.5 and 1, e.g. 0.99",
                );
            }
        }
        Ok(())
    }
}

/// Replace the budgets of the same metric and kind in `budgets`, add the others.
pub fn apply_budget_overrides(budgets: &mut Vec<MetricBudget>, overrides: Vec<MetricBudget>) {
    for o in overrides {
        budgets.retain(|b| !(b.metric == o.metric && b.budget.kind == o.budget.kind));
        budgets.push(o);
    }
}
