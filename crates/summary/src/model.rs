//! The report's view model: plain data, filled by `leakcheck-judge` from the analysis.
//!
//! It is also the `summary.json` schema, so every change to a field is a
//! schema change: bump [`SCHEMA_VERSION`] when a field changes meaning or is
//! removed (adding an optional field is compatible).
//!
//! Floats that may legitimately be unknown are written as `null` by
//! `serde_json` when they are NaN; the reader maps `null` back to NaN so a
//! report with a missing number still re-reads instead of failing.

pub use leakcheck_vocab::{
    BudgetKind, Change, Envelope, Look, Outcome, RunEnding, Termination, ValueUnit, XUnit,
};
use serde::{Deserialize, Deserializer, Serialize};

/// Version of the `summary.json` layout written by this crate. 2: `status` is the shared
/// [`RunEnding`] (`termination`, `last_iteration`, `message`) instead of a report-only
/// enum with its own wording.
pub const SCHEMA_VERSION: u32 = 2;

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
    pub status: RunEnding,
    /// The overall verdict of the scenario.
    pub verdict: Overall,
    /// One sentence that explains the verdict (shown in titles and tables).
    pub headline: String,
    /// What the x coordinate of every point means.
    pub x_unit: XUnit,
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
    /// The look of the sequential plan that decided the verdict (an interim look: the
    /// budgets were judged on the data up to it), or the last look when none did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Look>,
    /// Where the memory grows: the allocation sites an attribution pass measured (only
    /// when one ran; it never changes the verdict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<Attribution>,
    /// The gate's baseline ratchet: each budgeted quantity against the committed
    /// baseline (only with `gate --baseline`); a `worse` one fails the scenario.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ratchet: Vec<QuantityDiff>,
    /// Which process of a tree of several grows: its roles, fastest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<ProcessRole>,
}

/// The processes of a tree that share a command line and a depth (the job at 0, its
/// workers at 1, ...): a worker re-forked every epoch stays one role. `slope` is how one
/// of them grows: the fit of their mean RSS, per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessRole {
    /// The command line, shortened for one line.
    pub command: String,
    pub depth: u32,
    /// Every pid the role had, in the order they were seen.
    pub pids: Vec<u32>,
    /// The most of them alive at once.
    pub at_once: u32,
    #[serde(deserialize_with = "f64_or_nan")]
    pub slope: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub lo: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub hi: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub confidence: f64,
    /// `leak`, `flat`, ... as for a metric.
    pub shape: String,
}

/// The result of an attribution pass: allocation sites and what each adds per unit of
/// the run (iteration or session), against the growth the judged run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    /// `dhat` (Rust scenarios, two lengths compared) or `tracemalloc` (the Python client).
    pub method: String,
    /// The runs the pass took.
    pub passes: Vec<AttributionPass>,
    /// What `bytes_per_iter` is per: `iteration` or `session`.
    pub per: String,
    /// The metric and rate the shares are of (the judged run's failing growth).
    #[serde(default)]
    pub metric: Option<String>,
    #[serde(default)]
    pub measured: Option<f64>,
    /// Largest first; sites that add ~nothing are left out.
    pub sites: Vec<AttributionSite>,
    /// Why there are no sites, when the pass could not run or measure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// One run of an attribution pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributionPass {
    /// Iterations or sessions the run was given.
    pub length: u64,
    /// Its folder, relative to the scenario's (profile, samples, log).
    pub dir: String,
    #[serde(deserialize_with = "f64_or_nan")]
    pub wall_s: f64,
}

/// One allocation site and its growth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttributionSite {
    /// `path:line`: for Rust the workspace file, for Python the script.
    pub location: String,
    pub function: String,
    #[serde(deserialize_with = "f64_or_nan")]
    pub bytes_per_iter: f64,
    /// `bytes_per_iter` over the measured rate (NaN without one).
    #[serde(deserialize_with = "f64_or_nan")]
    pub share: f64,
    /// The frames, innermost first.
    pub stack: Vec<String>,
}

impl Attribution {
    /// The top `n` sites' bytes per unit, summed.
    pub fn top_sum(&self, n: usize) -> f64 {
        self.sites.iter().take(n).map(|s| s.bytes_per_iter).sum()
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
    /// The run completed and had no budget to judge: a report only, never a pass.
    NoBudgets,
}

impl Overall {
    /// Upper-case word used in titles and badges.
    pub fn word(self) -> &'static str {
        match self {
            Overall::Pass => "PASS",
            Overall::Fail => "FAIL",
            Overall::Undecided => "UNDECIDED",
            Overall::Incomplete => "INCOMPLETE",
            Overall::NoBudgets => "NO BUDGETS",
        }
    }

    /// Colour used for this verdict in every format (RGB).
    pub fn rgb(self) -> (u8, u8, u8) {
        match self {
            Overall::Pass => (0x2e, 0x7d, 0x32),
            Overall::Fail => (0xc6, 0x28, 0x28),
            Overall::Undecided => (0xb2, 0x6a, 0x00),
            Overall::Incomplete => (0x6a, 0x1b, 0x9a),
            Overall::NoBudgets => (0x55, 0x55, 0x55),
        }
    }
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
    /// Retained growth per session, from four or more checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retained_per_session: Option<PerSession>,
    /// The levels a `retained` budget on this metric was judged on, in order: one per
    /// checkpoint (or, in a run without checkpoints, per session start). Retained memory is
    /// the last one's rise over the first; empty without a retained budget.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checkpoints: Vec<CheckpointLevel>,
    /// When the metric reaches the run's memory limit at its rate, for a growing series
    /// in bytes when the run knows a limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<Forecast>,
    /// Under churn, the envelopes the series was judged by (troughs, then peaks): drawn
    /// instead of the fit (which is then the troughs' line).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub envelopes: Vec<EnvelopeTrace>,
    /// The numbers behind the verdicts; `None` when the series could not be analysed.
    #[serde(default)]
    pub stats: Option<crate::stats::Analysis>,
}

/// The memory a run may use before it runs out, and where that number came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryLimit {
    /// Bytes.
    #[serde(deserialize_with = "f64_or_nan")]
    pub bytes: f64,
    /// `--limit`, `cgroup memory.max`, `MemAvailable + held`, ...
    pub source: String,
}

/// When a growing metric reaches the memory limit, counted from `from` (the end of the
/// data judged), in `x_unit`s; the interval is at `confidence` (the fit's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    pub limit: MemoryLimit,
    /// Where the count starts: the last sample judged, in `x_unit`.
    #[serde(deserialize_with = "f64_or_nan")]
    pub from: f64,
    pub crossing: Crossing,
    #[serde(deserialize_with = "f64_or_nan")]
    pub confidence: f64,
}

/// The crossing of a forecast.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Crossing {
    /// After `estimate`, between `earliest` and `latest`.
    In {
        #[serde(deserialize_with = "f64_or_nan")]
        estimate: f64,
        #[serde(deserialize_with = "f64_or_nan")]
        earliest: f64,
        #[serde(deserialize_with = "f64_or_nan")]
        latest: f64,
    },
    /// The line is past the limit already.
    Reached,
}

/// One envelope of a churning series: each period's trough (or peak) and the line through
/// them, with the slope's interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeTrace {
    pub envelope: Envelope,
    /// `[x, y]` of each period's extreme.
    pub points: Vec<[f64; 2]>,
    #[serde(deserialize_with = "f64_or_nan")]
    pub slope: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub intercept: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub slope_lo: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub slope_hi: f64,
    /// The cycle, in x units.
    #[serde(deserialize_with = "f64_or_nan")]
    pub period: f64,
}

/// One level a retained budget was judged on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointLevel {
    /// Where it was measured, in `x_unit`: between the marks around it on an iteration
    /// axis (half an iteration after the last mark before it), else its time.
    #[serde(deserialize_with = "f64_or_nan")]
    pub x: f64,
    /// The level retained memory used: the median of the checkpoint's readings (of a
    /// session start's first three samples).
    #[serde(deserialize_with = "f64_or_nan")]
    pub level: f64,
    /// How many readings `level` is the median of.
    pub readings: usize,
    /// What was measured: a checkpoint, or the start of a session.
    #[serde(default, skip_serializing_if = "LevelKind::is_checkpoint")]
    pub kind: LevelKind,
    /// The checkpoint's label, as the program sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// What a [`CheckpointLevel`] was measured at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LevelKind {
    /// A checkpoint the program marked at a quiescent point.
    #[default]
    Checkpoint,
    /// The start of a session (a run without checkpoints judges retained memory on these).
    SessionStart,
}

impl LevelKind {
    fn is_checkpoint(&self) -> bool {
        *self == LevelKind::Checkpoint
    }
}

/// Growth of the checkpoint levels per checkpoint (per session), with its interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerSession {
    #[serde(deserialize_with = "f64_or_nan")]
    pub slope: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub lo: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub hi: f64,
    pub confidence: f64,
    pub checkpoints: usize,
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

/// One quantity of one metric in two runs (A the reference, B the one judged) and the
/// difference B − A: a comparison's row, or a ratchet check against a baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantityDiff {
    pub metric: String,
    /// `slope`, `growth`, `peak` or `retained`.
    pub quantity: BudgetKind,
    #[serde(default)]
    pub unit: ValueUnit,
    /// The x unit of slopes.
    pub x_unit: XUnit,
    /// A's estimate and interval (NaN bounds: a point value).
    pub a: Interval,
    pub b: Interval,
    /// B − A, with its interval when both runs give one.
    pub difference: Interval,
    /// How much worse counts, in the quantity's unit, and as the user wrote it.
    #[serde(deserialize_with = "f64_or_nan")]
    pub tolerance: f64,
    pub tolerance_text: String,
    /// `None` for quantities shown but not judged (a peak, a growth over another length).
    #[serde(default)]
    pub change: Option<Change>,
    /// One sentence with the numbers.
    pub line: String,
}

/// An estimate with its interval at `confidence` (NaN bounds when there is none).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    #[serde(deserialize_with = "f64_or_nan")]
    pub estimate: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub lo: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub hi: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub confidence: f64,
}

impl Interval {
    /// A value without an interval.
    pub fn point(estimate: f64) -> Interval {
        Interval {
            estimate,
            lo: f64::NAN,
            hi: f64::NAN,
            confidence: f64::NAN,
        }
    }

    pub fn has_bounds(&self) -> bool {
        self.lo.is_finite() && self.hi.is_finite()
    }
}

/// Schema version of `compare.json`.
pub const COMPARE_SCHEMA_VERSION: u32 = 1;

/// `leakcheck compare A B`: two runs, metric by metric (written as `compare.json`,
/// `compare.md`, `compare.svg` and `compare.png`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareReport {
    pub schema_version: u32,
    /// The reference run.
    pub a: ComparedRun,
    /// The run compared with it.
    pub b: ComparedRun,
    /// The confidence of every difference's interval.
    pub confidence: f64,
    pub tolerance: String,
    pub verdict: Change,
    pub headline: String,
    /// One per metric present in both runs.
    pub metrics: Vec<MetricComparison>,
    /// Metrics in only one run, runs of different scenarios, and the like.
    pub notes: Vec<String>,
}

/// One of the two runs of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparedRun {
    /// Where it was read from, as given.
    pub path: String,
    pub scenario: String,
    pub variant: Option<String>,
    pub verdict: Overall,
    pub iterations: Option<u64>,
    pub x_unit: XUnit,
    /// The whole judged run, for the overlay plot (not written to compare.json).
    #[serde(skip)]
    pub report: ScenarioReport,
}

impl ComparedRun {
    /// `loader-loop (leaky)`.
    pub fn label(&self) -> String {
        match &self.variant {
            Some(v) => format!("{} ({v})", self.scenario),
            None => self.scenario.clone(),
        }
    }
}

/// One metric in both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricComparison {
    pub name: String,
    pub unit: ValueUnit,
    /// The verdict of its judged quantities together.
    pub verdict: Change,
    /// Slope, growth, peak and retained (those the runs give).
    pub quantities: Vec<QuantityDiff>,
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
pub(crate) fn f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// A list of floats with NaNs in it comes back with `null`s; keep them as NaN.
pub(crate) fn floats_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let raw = Vec::<Option<f64>>::deserialize(d)?;
    Ok(raw.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// Points with a NaN coordinate come back as `[null, y]`; keep them as NaN.
fn points_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[f64; 2]>, D::Error> {
    let raw = Vec::<[Option<f64>; 2]>::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|[x, y]| [x.unwrap_or(f64::NAN), y.unwrap_or(f64::NAN)])
        .collect())
}
