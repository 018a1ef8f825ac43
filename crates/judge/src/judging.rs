//! What a run is judged by besides its samples ([`Judging`]), saved beside
//! `samples.jsonl` as `judging.json` so `leakcheck report` re-judges a run offline exactly
//! as it was judged live.

use std::path::{Path, PathBuf};

use leakcheck_analysis::{AnalysisOptions, LookPlan, MetricBudget, WarmUp};
use leakcheck_records::RunHeader;
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
        let defaults = AnalysisOptions::default();
        Judging {
            version: JUDGING_VERSION,
            scenario: header.scenario.clone(),
            variant: None,
            argv: header.argv.clone(),
            iterations: None,
            budgets: Vec::new(),
            warmup: defaults.warmup,
            confidence: defaults.confidence,
            ceiling: header.ceiling,
            plan: None,
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
        let judging: Judging =
            serde_json::from_str(&text).map_err(|source| JudgingError::Parse {
                path: path.clone(),
                source,
            })?;
        if judging.version > JUDGING_VERSION {
            return Err(JudgingError::NewerVersion {
                path,
                found: judging.version,
            });
        }
        Ok(judging)
    }
}

/// Replace the budgets of the same metric and kind in `budgets`, add the others.
pub fn apply_budget_overrides(budgets: &mut Vec<MetricBudget>, overrides: Vec<MetricBudget>) {
    for o in overrides {
        budgets.retain(|b| !(b.metric == o.metric && b.budget.kind == o.budget.kind));
        budgets.push(o);
    }
}
