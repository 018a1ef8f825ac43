//! The report's view model: plain data, filled by the CLI from the analysis.
//!
//! It is also the `summary.json` schema, so every change to a field is a
//! schema change: bump [`SCHEMA_VERSION`] when a field changes meaning or is
//! removed (adding an optional field is compatible).
//!
//! Floats that may legitimately be unknown are written as `null` by
//! `serde_json` when they are NaN; the reader maps `null` back to NaN so a
//! report with a missing number still re-reads instead of failing.

use serde::{Deserialize, Deserializer, Serialize};

/// Version of the `summary.json` layout written by this crate.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything one scenario run produced, as the reports show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// Always [`SCHEMA_VERSION`] when written by this crate.
    pub schema_version: u32,
    /// Scenario name from the config, or a label for an ad-hoc command.
    pub scenario: String,
    /// `leaky` / `fixed` or another variant; `None` for plain runs.
    #[serde(default)]
    pub variant: Option<String>,
    /// The argv that was run (never through a shell).
    #[serde(default)]
    pub command: Vec<String>,
    /// How the run ended.
    pub status: RunStatus,
    /// The overall verdict of the scenario.
    pub verdict: Overall,
    /// One sentence that explains the verdict (shown in titles and tables).
    pub headline: String,
    /// What the x coordinate of every point means.
    pub x_unit: XAxis,
    /// Wall time of the run, seconds.
    #[serde(deserialize_with = "f64_or_nan")]
    pub duration_s: f64,
    /// Iterations completed (last mark seen), if the scenario marks.
    #[serde(default)]
    pub iterations: Option<u64>,
    /// One entry per analysed metric, in display order.
    #[serde(default)]
    pub metrics: Vec<MetricReport>,
    /// Session boundaries (x in `x_unit`).
    #[serde(default)]
    pub sessions: Vec<SessionMarker>,
    /// Free-text notes from the probe (`note` messages) and the runner.
    #[serde(default)]
    pub notes: Vec<String>,
    /// The memory ceiling of the run, bytes, if one was set.
    #[serde(default)]
    pub ceiling_bytes: Option<f64>,
    /// Metric the ceiling applies to (e.g. `rss.tree`); `None` draws it on
    /// every byte-valued panel.
    #[serde(default)]
    pub ceiling_metric: Option<String>,
    /// The highest value of the ceiling metric seen, bytes.
    #[serde(default)]
    pub peak_bytes: Option<f64>,
    /// File name of the raw samples, relative to the scenario directory.
    pub samples_file: String,
    /// Problems met while decoding the probe stream (never fatal).
    #[serde(default)]
    pub decode_warnings: Vec<String>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunStatus {
    /// The child exited by itself.
    Completed { exit_code: i32 },
    /// The child died: a non-zero exit, a signal, or a spawn error.
    Failed {
        exit_code: Option<i32>,
        signal: Option<i32>,
        message: String,
        last_iteration: Option<u64>,
    },
    /// Killed at the overall timeout.
    TimedOut {
        #[serde(deserialize_with = "f64_or_nan")]
        after_s: f64,
        last_iteration: Option<u64>,
    },
    /// Killed because no mark arrived for `no_progress_s`.
    Hung {
        #[serde(deserialize_with = "f64_or_nan")]
        no_progress_s: f64,
        last_iteration: Option<u64>,
    },
    /// Killed because the memory ceiling was crossed.
    CeilingExceeded {
        #[serde(deserialize_with = "f64_or_nan")]
        ceiling_bytes: f64,
        #[serde(deserialize_with = "f64_or_nan")]
        peak_bytes: f64,
        last_iteration: Option<u64>,
    },
    /// The runner stopped the child on purpose (e.g. a leak already certain).
    StoppedEarly { reason: String },
}

impl RunStatus {
    /// True when the run produced a trustworthy series: it exited 0 or was
    /// stopped on purpose. Everything else is a run that did not complete.
    pub fn is_complete(&self) -> bool {
        matches!(
            self,
            RunStatus::Completed { exit_code: 0 } | RunStatus::StoppedEarly { .. }
        )
    }

    /// One human line: how the run ended and where.
    pub fn describe(&self) -> String {
        fn at(it: &Option<u64>) -> String {
            match it {
                Some(i) => format!(" after iteration {i}"),
                None => " before the first iteration mark".to_string(),
            }
        }
        match self {
            RunStatus::Completed { exit_code: 0 } => "completed (exit code 0)".to_string(),
            RunStatus::Completed { exit_code } => format!("exited with code {exit_code}"),
            RunStatus::Failed {
                exit_code,
                signal,
                message,
                last_iteration,
            } => {
                let place = match last_iteration {
                    Some(i) => format!("crashed at iteration {i}"),
                    None => "crashed before the first iteration mark".to_string(),
                };
                let mut why = Vec::new();
                if let Some(s) = signal {
                    why.push(format!("signal {s}"));
                }
                if let Some(c) = exit_code {
                    why.push(format!("exit code {c}"));
                }
                let mut out = place;
                if !why.is_empty() {
                    out.push_str(&format!(" ({})", why.join(", ")));
                }
                if !message.is_empty() {
                    out.push_str(": ");
                    out.push_str(message);
                }
                out
            }
            RunStatus::TimedOut {
                after_s,
                last_iteration,
            } => format!(
                "timed out: killed after {}{}",
                crate::units::seconds(*after_s),
                at(last_iteration)
            ),
            RunStatus::Hung {
                no_progress_s,
                last_iteration,
            } => format!(
                "hung: no progress for {}{}",
                crate::units::seconds(*no_progress_s),
                at(last_iteration)
            ),
            RunStatus::CeilingExceeded {
                ceiling_bytes,
                peak_bytes,
                last_iteration,
            } => format!(
                "ceiling {} exceeded, peak {}: killed{}",
                crate::units::bytes(*ceiling_bytes),
                crate::units::bytes(*peak_bytes),
                at(last_iteration)
            ),
            RunStatus::StoppedEarly { reason } => format!("stopped early: {reason}"),
        }
    }
}

/// The verdict of a whole scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    /// Every budget passed and the run completed.
    Pass,
    /// At least one budget failed.
    Fail,
    /// No budget failed but at least one could not be decided.
    Undecided,
    /// The run did not complete, so the budgets cannot be trusted.
    Incomplete,
}

impl Overall {
    /// Upper-case word used in titles and badges.
    pub fn word(self) -> &'static str {
        match self {
            Overall::Pass => "PASS",
            Overall::Fail => "FAIL",
            Overall::Undecided => "UNDECIDED",
            Overall::Incomplete => "INCOMPLETE",
        }
    }

    /// Colour used for this verdict in every format (RGB).
    pub fn rgb(self) -> (u8, u8, u8) {
        match self {
            Overall::Pass => (0x2e, 0x7d, 0x32),
            Overall::Fail => (0xc6, 0x28, 0x28),
            Overall::Undecided => (0xb2, 0x6a, 0x00),
            Overall::Incomplete => (0x6a, 0x1b, 0x9a),
        }
    }
}

/// Outcome of one budget check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The upper confidence bound is within budget.
    Pass,
    /// The lower confidence bound is above the budget.
    Fail,
    /// The interval straddles the budget.
    Undecided,
}

impl Outcome {
    /// Lower-case word for tables.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Undecided => "undecided",
        }
    }
}

/// Unit of the x coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum XAxis {
    /// x is the iteration number (scenarios that mark).
    Iteration,
    /// x is seconds since start (commands that never mark).
    Second,
}

impl XAxis {
    /// Axis caption.
    pub fn caption(self) -> &'static str {
        match self {
            XAxis::Iteration => "iteration",
            XAxis::Second => "time (s)",
        }
    }

    /// Suffix of a slope in this unit, e.g. `/iter`.
    pub fn per(self) -> &'static str {
        match self {
            XAxis::Iteration => "/iter",
            XAxis::Second => "/s",
        }
    }
}

/// What the y values of a metric are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueUnit {
    /// Bytes: shown as KiB/MiB/GiB.
    #[default]
    Bytes,
    /// A plain count (handles, objects, ...).
    Count,
}

/// A session boundary (start of session `label`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionMarker {
    /// Position in `x_unit`.
    #[serde(deserialize_with = "f64_or_nan")]
    pub x: f64,
    /// Short label drawn next to the line.
    pub label: String,
}

/// One metric's series and its analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricReport {
    /// Metric name as in the config (`alloc.allocated`, `rss.tree`, ...).
    pub name: String,
    /// Unit of the y values.
    #[serde(default)]
    pub unit: ValueUnit,
    /// `[x, y]` pairs; non-finite pairs are skipped when drawing.
    #[serde(deserialize_with = "points_or_nan")]
    pub points: Vec<[f64; 2]>,
    /// End of the warm-up cut, in `x_unit`.
    #[serde(default)]
    pub warmup_end_x: Option<f64>,
    /// The fitted slope over the steady state.
    #[serde(default)]
    pub fit: Option<FitLine>,
    /// Shape class (`leak`, `saturating`, `flat`, ...).
    pub shape: String,
    /// Highest value seen.
    #[serde(deserialize_with = "f64_or_nan")]
    pub peak: f64,
    /// Budget checks on this metric.
    #[serde(default)]
    pub budgets: Vec<BudgetCheck>,
    /// The full analysis, opaque to the report, embedded as-is.
    #[serde(default)]
    pub stats: serde_json::Value,
}

/// A fitted line `y = y_center + slope * (x - x_center)` with a confidence
/// interval on the slope that pivots around the centre.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitLine {
    #[serde(deserialize_with = "f64_or_nan")]
    pub slope: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub intercept: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub slope_lo: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub slope_hi: f64,
    /// Confidence level of `slope_lo..slope_hi`, e.g. 0.95.
    #[serde(deserialize_with = "f64_or_nan")]
    pub confidence: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub x_center: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub y_center: f64,
}

/// Which quantity a budget limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetKind {
    /// Growth rate, bytes per `x_unit`.
    Slope,
    /// Total growth over the steady state, bytes.
    Growth,
    /// Highest value, bytes.
    Peak,
    /// Memory kept from one session into the next, bytes.
    Retained,
}

impl BudgetKind {
    /// Lower-case name used in tables and test names.
    pub fn name(self) -> &'static str {
        match self {
            BudgetKind::Slope => "slope",
            BudgetKind::Growth => "growth",
            BudgetKind::Peak => "peak",
            BudgetKind::Retained => "retained",
        }
    }
}

/// One budget and how the metric fared against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetCheck {
    pub kind: BudgetKind,
    /// The limit in the metric's unit (per `x_unit` for slopes).
    #[serde(deserialize_with = "f64_or_nan")]
    pub limit: f64,
    /// The limit as the user wrote it (`1 MiB/iter`).
    pub limit_text: String,
    pub outcome: Outcome,
    /// Point estimate and confidence interval of the limited quantity.
    #[serde(deserialize_with = "f64_or_nan")]
    pub estimate: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub lo: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub hi: f64,
    /// One human sentence with the numbers (shown in failures).
    pub line: String,
}

/// One scenario of a gate run and where its files live.
#[derive(Debug, Clone, PartialEq)]
pub struct GateEntry {
    /// Directory of the scenario's files, relative to the reports root
    /// (`loader-loop-leaky`); used for links.
    pub rel_dir: String,
    pub report: ScenarioReport,
}

/// `serde_json` writes NaN as `null`; read it back as NaN.
fn f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Points with a NaN coordinate come back as `[null, y]`; keep them as NaN.
fn points_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[f64; 2]>, D::Error> {
    let raw = Vec::<[Option<f64>; 2]>::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|[x, y]| [x.unwrap_or(f64::NAN), y.unwrap_or(f64::NAN)])
        .collect())
}
