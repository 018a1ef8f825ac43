//! One metric, end to end: warm-up cut, slopes, trend, shape, sessions,
//! verdicts.

use serde::{Deserialize, Serialize};

use crate::AnalysisError;
use crate::budget::{Budget, BudgetKind, Quantity};
use crate::churn::{
    Churn, Envelope, EnvelopeFit, churn_of, fit_envelope, largest_fall, late_half, noise_sd,
};
use crate::mann_kendall::{MannKendall, mann_kendall};
use crate::ols::ols_hac;
use crate::retained::{CheckpointRetained, checkpoint_retained};
use crate::sequential::Steadiness;
use crate::series::{Series, XUnit, bin_means, resolution_step};
use crate::slope::SlopeEstimate;
use crate::theil_sen::{PairSlopes, median_of};
use crate::warmup::{WarmUp, WarmUpCut, auto_cut};
pub use leakcheck_vocab::{CheckReason, Outcome};

/// Knobs of [`analyze_metric`]. `Default` is 99 % confidence, automatic
/// warm-up, x in iterations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisOptions {
    /// Two-sided confidence of every interval and 1 - the trend test's α.
    pub confidence: f64,
    pub warmup: WarmUp,
    pub x_unit: XUnit,
    /// Longer series are averaged into this many bins before the O(n²)
    /// estimators (Theil–Sen, Mann–Kendall). OLS always uses every point.
    pub max_pairwise_points: usize,
    /// Below this many points after warm-up the shape is `Inconclusive` and
    /// slope/growth verdicts are `Undecided`.
    pub min_points: usize,
    /// A look that may stop a run still going: a fail on a churn's troughs must then clear
    /// the Student's-t bound ([`crate::churn::EnvelopeFit::lo_small`]), not only the
    /// normal one. Scatter estimated from a handful of troughs is taken as known at a
    /// run's end; a run is not stopped on it (a cache fill under a 50-iteration sawtooth
    /// at 0.9× the budget failed 1 seed in 200 at looks of 8 and 10 periods).
    #[serde(default)]
    pub interim: bool,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            confidence: 0.99,
            warmup: WarmUp::Auto,
            x_unit: XUnit::Iteration,
            max_pairwise_points: 1024,
            min_points: 10,
            interim: false,
        }
    }
}

/// The growth pattern of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// Significant growth, confirmed on the second half of the steady state
    /// alone at no less than half the overall pace.
    Leak,
    /// Growth that slows toward a plateau (a bounded cache filling).
    Saturating,
    /// Resident/RSS grows while allocator `allocated` does not (two metrics).
    Fragmentation,
    /// No significant growth (a significant decrease counts as flat too).
    Flat,
    /// Too few points, the trend test and the slope interval disagree, or
    /// growth that the second half alone does not confirm.
    Inconclusive,
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Shape::Leak => "leak",
            Shape::Saturating => "saturating",
            Shape::Fragmentation => "fragmentation",
            Shape::Flat => "flat",
            Shape::Inconclusive => "inconclusive",
        })
    }
}

/// One session of a multi-session series (samples with start ≤ x < next start).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionStats {
    /// 0-based session number (empty sessions are skipped, numbers kept).
    pub index: usize,
    pub start_x: f64,
    pub end_x: f64,
    pub points: usize,
    /// Median of the first 3 samples (one sample can be a spike).
    pub start_level: f64,
    pub peak: f64,
    /// Median of the last 3 samples.
    pub end_level: f64,
    /// `start_level` minus the first session's `start_level`.
    pub retained: f64,
}

/// The judgement of one budget, with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub budget: Budget,
    pub outcome: Outcome,
    /// Slope (bytes per x unit) or bytes, as the budget.
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
    /// The smallest slope this series could have detected (see
    /// [`MetricAnalysis::sensitivity`]).
    pub sensitivity: f64,
    /// For an undecided slope budget: about how much longer to run, in x
    /// units (iterations, or seconds when x is seconds), assuming the
    /// estimate holds and the interval narrows as span^(-3/2).
    pub more_iterations: Option<u64>,
    /// Why it came out so, besides the interval (the report words it).
    pub reason: CheckReason,
    /// Under churn, the envelope whose interval the verdict shows: the troughs for a fail,
    /// else the envelope with the highest upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Envelope>,
}

/// Everything the report shows about one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricAnalysis {
    pub metric: String,
    /// Samples in the series (before warm-up).
    pub n: usize,
    pub x_unit: XUnit,
    pub warmup: WarmUpCut,
    /// OLS after warm-up, Newey–West interval, every point.
    pub ols: SlopeEstimate,
    /// Theil–Sen after warm-up with the autocorrelation-corrected Sen interval:
    /// the slope the verdicts use.
    pub theil_sen: SlopeEstimate,
    /// Mann–Kendall (corrected variance) after warm-up.
    pub trend: MannKendall,
    /// Theil–Sen of the second half of the steady state (the "still
    /// growing?" check behind `Leak` vs `Saturating`); None when too short.
    pub late: Option<SlopeEstimate>,
    pub shape: Shape,
    pub sessions: Vec<SessionStats>,
    /// Retained growth of the last session (None without 2+ sessions).
    pub retained: Option<f64>,
    /// Highest sample of the whole series.
    pub peak: f64,
    /// Growth after warm-up: Theil–Sen slope × x span of the steady state.
    pub growth: f64,
    pub growth_lo: f64,
    pub growth_hi: f64,
    /// Half-width of the verdict slope's interval: a slope of this size
    /// would have lifted the lower bound above zero.
    pub sensitivity: f64,
    /// The allocate-and-free cycle found in the steady state, when there is one, with its
    /// envelopes: the slope, trend and shape are then those of its lower envelope, and
    /// slope and growth budgets are judged on the envelopes ([`crate::churn`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<Churn>,
    /// The deepest dip of the steady state (a fall below its running maximum that it
    /// climbed back from) when it stands out of the noise, else 0: memory the program gave
    /// back ([`MetricAnalysis::gave_back`]).
    #[serde(default)]
    pub fall: f64,
    /// Retained memory between the first and last checkpoint, with an interval, when the
    /// run sent two or more; retained budgets are then judged on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_retained: Option<CheckpointRetained>,
    pub verdicts: Vec<Verdict>,
}

impl MetricAnalysis {
    /// Is this a leak a look early in a run may fail on? It must be shaped `leak`, with a
    /// steady state at least three times as long as the warm-up it follows (a transient
    /// that just ended may be a cache fill about to level off), and the second half of the
    /// steady state must keep the overall pace (a fill slows down; a leak does not):
    /// [`Steadiness::Sure`] when its lower bound keeps at least half of it,
    /// [`Steadiness::Paced`] when only its estimate does, keeping three quarters.
    ///
    /// A warm-up that rose no faster than the steady state ([`WarmUpCut::no_steeper`]) is
    /// no fill, so its length does not count: the leaky loader starts its staircase of
    /// cache blocks slowly, and a cut of 30 at 82 iterations kept its look from failing.
    pub fn steadiness(&self) -> Steadiness {
        let cut = self.warmup.index;
        let steady_state = self.warmup.no_steeper || self.n - cut >= 3 * cut;
        if self.shape != Shape::Leak || !steady_state || self.gave_back() {
            return Steadiness::Unsteady;
        }
        let slope = self.theil_sen.slope;
        match &self.late {
            None => Steadiness::Sure,
            Some(late) if late.lo >= SURE_PACE * slope => Steadiness::Sure,
            Some(late) if late.slope >= PACED_PACE * slope => Steadiness::Paced,
            Some(_) => Steadiness::Unsteady,
        }
    }
}

impl MetricAnalysis {
    /// May a look early in the run not settle a fail on this series? A series without a
    /// period that gave back more than [`GIVE_BACK`] × its fitted growth is a cycle whose
    /// first ramps a look cannot tell from a leak (a sawtooth of 3 s seen for 4 s). A
    /// churning series needs `2 ×` [`crate::churn::MIN_PERIODS`] periods: a line through
    /// four to seven troughs, whose scatter rests on a handful of residuals, may decide a
    /// run at its end but not stop one early (a cache fill under a 50-iteration sawtooth at
    /// 0.9× the budget failed 1 seed in 200 at five periods).
    pub fn gave_back(&self) -> bool {
        match &self.churn {
            Some(c) => c.windows < 2 * crate::churn::MIN_PERIODS,
            None => self.fall > GIVE_BACK * self.growth.max(0.0),
        }
    }
}

/// See [`MetricAnalysis::gave_back`]. A leak under white noise falls by a few standard
/// deviations, far less than it grows; one ramp and a drop of a sawtooth fall by about
/// all they grew.
pub const GIVE_BACK: f64 = 0.5;

/// The share of the overall pace the second half of the steady state must keep, by its
/// lower bound, for a look to be [`Steadiness::Sure`] of a leak.
const SURE_PACE: f64 = 0.5;

/// The share it must keep by its estimate for [`Steadiness::Paced`]. At 0.5 a zero-leak
/// cache fill under 1 MiB noise failed 4 % of the detection simulation's seeds, at 0.75
/// 2 % (1 % when every fail needed two `Sure` looks); the leaky loader's second half
/// keeps 0.85–0.97 of its pace.
const PACED_PACE: f64 = 0.75;

/// The shape's own tests (Mann–Kendall's trend, and the fit of the second half of the
/// steady state) run at no more than this confidence. They say what the growth looks like
/// (does it go on?); the test that fails a budget is judged at the look's own confidence,
/// whose α the plan spends. At a look's 99.98 % the leaky loader's staircase (10–20 MiB
/// every ~6 iterations, one step per worker) left the second half's interval reaching
/// down to 7 % of the slope at 66 iterations, so a leak of 1.7 MiB/iter against a
/// 16 KiB/iter budget waited for the fourth look; at 99 % the detection simulation's
/// false-fail rate stays 0 % up to sd 256 KiB (1 % at sd 1 MiB).
pub const SHAPE_CONFIDENCE: f64 = 0.99;

/// Analyses one metric. `session_starts` are the x values where sessions
/// begin (increasing; may be empty); samples before the first start belong
/// to no session.
pub fn analyze_metric(
    metric: &str,
    series: &Series,
    session_starts: &[f64],
    budgets: &[Budget],
    opts: &AnalysisOptions,
) -> Result<MetricAnalysis, AnalysisError> {
    analyze_metric_with(metric, series, session_starts, &[], budgets, opts)
}

/// [`analyze_metric`], plus the readings of the metric at each checkpoint (in order):
/// with two or more, retained memory and its budgets are judged on them, with an
/// interval ([`crate::retained`]), instead of on the session starts.
pub fn analyze_metric_with(
    metric: &str,
    series: &Series,
    session_starts: &[f64],
    checkpoints: &[Vec<f64>],
    budgets: &[Budget],
    opts: &AnalysisOptions,
) -> Result<MetricAnalysis, AnalysisError> {
    check_options(opts)?;
    let (x, y) = (series.x(), series.y());
    let n = series.len();
    let too_few = |k: usize| AnalysisError::TooFewPoints {
        metric: metric.to_string(),
        n: k,
        min: 3,
    };
    if n < 3 {
        return Err(too_few(n));
    }
    let cut = match opts.warmup {
        WarmUp::Auto => auto_cut(x, y),
        WarmUp::Count(c) => c,
        WarmUp::Fraction(f) => (f * n as f64).floor() as usize,
        WarmUp::UntilX(v) => x.partition_point(|&xi| xi < v),
    };
    if n.saturating_sub(cut) < 3 {
        return Err(too_few(n.saturating_sub(cut)));
    }
    let conf = opts.confidence;
    // Under churn the slope is the floor's: the minimum of each cycle. The automatic cut
    // reads a churning series' first cycles as a transient (a cache filling to its cap);
    // when the steady state it leaves shows too few periods and the whole run gives memory
    // back in large falls, the whole run is cut into cycles. A start-up that only climbs
    // (imports in steps, slow on a loaded machine) has no falls and stays cut.
    let gives_back = || crate::churn::cycles_by_falls(x, y).is_some();
    let (cut, mut churn) = match churn_of(&x[cut..], &y[cut..], conf) {
        Some((c, start)) => (cut + start, Some(c)),
        None if cut > 0 && opts.warmup == WarmUp::Auto && gives_back() => {
            match churn_of(x, y, conf) {
                Some((c, start)) => (start, Some(c)),
                None => (cut, None),
            }
        }
        None => (cut, None),
    };
    let (px, py) = (&x[cut..], &y[cut..]);
    let span = px[px.len() - 1] - px[0];
    let step = resolution_step(py);
    let (mut theil_sen, trend, late) = match &mut churn {
        Some(c) => {
            for fit in [&mut c.lower, &mut c.upper, &mut c.mean] {
                widen_to_resolution(fit.slope, (&mut fit.lo, &mut fit.hi), step, span);
            }
            envelope_fit(c, conf)
        }
        None => {
            let (bx, by) = bin_means(px, py, opts.max_pairwise_points);
            let (mut fit, trend) = robust_fit(&bx, &by, conf);
            widen_to_resolution(fit.slope, (&mut fit.lo, &mut fit.hi), step, span);
            let m = bx.len();
            let late = (m >= 2 * opts.min_points)
                .then(|| robust_fit(&bx[m / 2..], &by[m / 2..], conf.min(SHAPE_CONFIDENCE)).0);
            (fit, trend, late)
        }
    };
    let ols = ols_hac(px, py, conf, None);
    let rose_in_warmup = cut > 0 && warmup_rise(x, y, cut, &theil_sen);
    // A churning series has at least `MIN_PERIODS` whole periods by construction.
    let enough = churn.is_some() || n - cut >= opts.min_points;
    let shape = match &churn {
        Some(c) => churn_shape(c, late.as_ref()),
        None => classify(
            enough,
            &theil_sen,
            &trend,
            late.as_ref(),
            rose_in_warmup,
            1.0 - conf.min(SHAPE_CONFIDENCE),
        ),
    };
    if churn.is_some() {
        // The interval the verdicts read is the lower envelope's; keep its method.
        theil_sen.points = theil_sen.points.max(3);
    }

    let sessions = sessions(x, y, session_starts)?;
    let retained = (sessions.len() >= 2).then(|| sessions[sessions.len() - 1].retained);
    let peak = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sensitivity = (theil_sen.hi - theil_sen.lo) / 2.0;
    let fall = standing_fall(px, py, &theil_sen);
    let mut a = MetricAnalysis {
        metric: metric.to_string(),
        n,
        x_unit: opts.x_unit,
        warmup: WarmUpCut {
            index: cut,
            x: x[cut],
            no_steeper: churn.is_none() && warmup_no_steeper(x, y, cut, &theil_sen),
        },
        ols,
        growth: theil_sen.slope * span,
        growth_lo: theil_sen.lo * span,
        growth_hi: theil_sen.hi * span,
        theil_sen,
        trend,
        late,
        shape,
        sessions,
        retained,
        peak,
        sensitivity,
        fall,
        churn,
        checkpoint_retained: checkpoint_retained(checkpoints, conf),
        verdicts: Vec::new(),
    };
    check_finite(&a)?;
    a.verdicts = budgets
        .iter()
        .map(|b| verdict(&a, b, enough, span, opts))
        .collect::<Result<_, _>>()?;
    Ok(a)
}

impl MetricAnalysis {
    /// Counts the outside samples the series could not place (taken before the first mark
    /// or after the last one, `before`/`after` in time order): the peak is the highest of
    /// every sample, and a level held after the last mark (the highest median of three
    /// consecutive samples there) above the steady state's start is growth the fit never
    /// saw; it fails a growth budget it exceeds. Peak and growth verdicts are judged again.
    pub fn include_unplaced(&mut self, before: &[f64], after: &[f64]) {
        let highest = before
            .iter()
            .chain(after)
            .copied()
            .fold(self.peak, f64::max);
        self.peak = highest;
        let start = self.theil_sen.intercept + self.theil_sen.slope * self.warmup.x;
        let held_after = held_level(after).map(|level| level - start);
        for v in &mut self.verdicts {
            match (v.budget.kind, v.budget.limit) {
                (BudgetKind::Peak, Quantity::Bytes(limit)) => {
                    (v.estimate, v.lo, v.hi) = (highest, highest, highest);
                    v.outcome = judge(highest, highest, limit);
                }
                (BudgetKind::Growth, Quantity::Bytes(limit)) => {
                    if let Some(g) = held_after.filter(|&g| g > limit && g > v.estimate) {
                        (v.estimate, v.lo, v.hi) = (g, g, g);
                        v.outcome = Outcome::Fail;
                        v.reason = CheckReason::Decided;
                    }
                }
                // Slopes and retained levels are not read off the highest sample; a peak
                // or growth given in other units was judged as given.
                (BudgetKind::Slope | BudgetKind::Retained, _)
                | (BudgetKind::Peak | BudgetKind::Growth, _) => {}
            }
        }
    }
}

/// The highest level held for three consecutive samples (their median), or for fewer
/// samples their lowest: a spike of one sample is no level.
fn held_level(values: &[f64]) -> Option<f64> {
    if values.len() < 3 {
        return values.iter().copied().reduce(f64::min);
    }
    values
        .windows(3)
        .map(|w| {
            let mut w = [w[0], w[1], w[2]];
            w.sort_by(f64::total_cmp);
            w[1]
        })
        .reduce(f64::max)
}

/// Theil–Sen slope, Mann–Kendall with the autocorrelation factor of the
/// Sen-detrended series, and Sen's interval with Var(S) inflated by the same
/// factor.
fn robust_fit(x: &[f64], y: &[f64], conf: f64) -> (SlopeEstimate, MannKendall) {
    let mut pairs = PairSlopes::new(x, y);
    let mk = mann_kendall(x, y, pairs.slope());
    let method = "theil-sen+sen(var(S)×max(hamed-rao, leading-run))";
    let est = pairs.estimate(conf, mk.correction, method);
    (est, mk)
}

/// Under churn: the verdict slope is the lower envelope's line (what a leak lifts), the
/// trend test runs on its points, and the late fit is its second half (from eight
/// periods; fewer leave too few points to tell a leak from a fill).
fn envelope_fit(c: &Churn, conf: f64) -> (SlopeEstimate, MannKendall, Option<SlopeEstimate>) {
    let lower = &c.lower;
    let method = format!(
        "least squares on the minima of {} periods of {}, normal interval",
        c.windows,
        fmt_number(c.period)
    );
    let estimate = |fit: &EnvelopeFit, confidence: f64, method: &str| SlopeEstimate {
        slope: fit.slope,
        intercept: fit.intercept,
        lo: fit.lo_sampled,
        hi: fit.hi,
        confidence,
        method: method.to_string(),
        points: fit.x.len(),
    };
    let (_, trend) = robust_fit(&lower.x, &lower.y, conf);
    let m = lower.x.len();
    let late_conf = conf.min(SHAPE_CONFIDENCE);
    let late = (m >= 2 * crate::churn::MIN_PERIODS)
        .then(|| fit_envelope(late_half(lower), late_conf))
        .flatten()
        .map(|f| estimate(&f, late_conf, &method));
    (estimate(lower, conf, &method), trend, late)
}

/// A number with four significant digits, for the method's words.
fn fmt_number(v: f64) -> String {
    format!("{}", (v * 1e4).round() / 1e4)
}

/// The shape of a churning series: a leak when its troughs climb (confirmed, from eight
/// periods, by their second half), flat when neither troughs nor peaks climb, and
/// inconclusive when only the peaks do (growth the cycles give back).
fn churn_shape(c: &Churn, late: Option<&SlopeEstimate>) -> Shape {
    if c.troughs_climb_past(0.0) {
        match late {
            Some(l) if l.hi < 0.5 * c.lower.slope => Shape::Saturating,
            Some(l) if l.lo <= 0.0 => Shape::Inconclusive,
            _ => Shape::Leak,
        }
    } else if c.upper.lo <= 0.0 {
        Shape::Flat
    } else {
        Shape::Inconclusive
    }
}

/// A dip counts as memory given back when it exceeds this many times the noise: the
/// robust standard deviation of the residuals around the fitted line, or the noise from
/// second differences ([`noise_sd`]) when smaller. The residuals of a series pinned at a
/// cap are its plateau's, but a pass on it must see flushes of 8 noise deviations (a
/// floor climbing 2 MiB/s under a cap, 0.12 s periods, passed 5 seeds in 20 at 12).
pub const FALL_SIGMAS: f64 = 8.0;

/// The deepest dip of `y` ([`largest_fall`]) if it exceeds [`FALL_SIGMAS`] × the smaller
/// of the residuals' 1.4826·MAD around `fit` and the second-difference noise, else 0.
fn standing_fall(x: &[f64], y: &[f64], fit: &SlopeEstimate) -> f64 {
    let (_, sd) = residual_spread(x, y, fit);
    let sd = sd.min(noise_sd(y));
    let fall = largest_fall(y);
    if fall > FALL_SIGMAS * sd { fall } else { 0.0 }
}

/// Values measured in steps (RSS is a count of 4 KiB pages) cannot resolve a slope finer
/// than one step over the span, however many samples tie: the interval is at least that
/// wide on each side of the estimate. Without it, a floor that repeats to the page (the
/// same pages after every free) gave `0 B/s (CI 0–0)`. The step is the largest power of
/// two up to 64 KiB that divides every value (1 for byte counts).
/// Widens the interval `lo..hi` of `slope` in place; for a Theil–Sen fit and for an
/// envelope's line alike.
fn widen_to_resolution(slope: f64, (lo, hi): (&mut f64, &mut f64), step: Option<f64>, span: f64) {
    if let Some(step) = step.filter(|_| span > 0.0) {
        let half = step / span;
        *lo = lo.min(slope - half);
        *hi = hi.max(slope + half);
    }
}

/// Did the series climb to its steady state? The steady-state line at the
/// cut must sit above the median of the first (up to 5) samples by more than
/// 4 robust standard deviations (1.4826·MAD) of the steady state's residuals.
fn warmup_rise(x: &[f64], y: &[f64], cut: usize, fit: &SlopeEstimate) -> bool {
    let start = median_of(&y[..cut.min(5)]);
    let (mid, sd) = residual_spread(&x[cut..], &y[cut..], fit);
    let rise = fit.intercept + fit.slope * x[cut] + mid - start;
    rise > 0.0 && rise > 4.0 * sd
}

/// The median of the residuals of `(x, y)` around `fit`, and their robust standard
/// deviation, 1.4826·MAD.
fn residual_spread(x: &[f64], y: &[f64], fit: &SlopeEstimate) -> (f64, f64) {
    let resid: Vec<f64> = x
        .iter()
        .zip(y)
        .map(|(&xi, &yi)| yi - fit.intercept - fit.slope * xi)
        .collect();
    let mid = median_of(&resid);
    let dev: Vec<f64> = resid.iter().map(|r| (r - mid).abs()).collect();
    (mid, 1.4826 * median_of(&dev))
}

/// Did the warm-up rise no faster than the steady state? The median of the first (up to
/// 5) samples is at or above the steady-state line at the median of their x.
fn warmup_no_steeper(x: &[f64], y: &[f64], cut: usize, fit: &SlopeEstimate) -> bool {
    let first = cut.min(5);
    cut > 0 && median_of(&y[..first]) >= fit.intercept + fit.slope * median_of(&x[..first])
}

fn check_options(o: &AnalysisOptions) -> Result<(), AnalysisError> {
    let bad = |name, value: String, expected| {
        Err(AnalysisError::InvalidOption {
            name,
            value,
            expected,
        })
    };
    if !(o.confidence > 0.5 && o.confidence < 1.0) {
        return bad(
            "confidence",
            o.confidence.to_string(),
            "a number between 0.5 and 1, e.g. 0.99",
        );
    }
    if let WarmUp::Fraction(f) = o.warmup
        && !(f.is_finite() && (0.0..1.0).contains(&f))
    {
        return bad("warmup", o.warmup.to_string(), "a fraction 0 ≤ f < 1");
    }
    if let WarmUp::UntilX(v) = o.warmup
        && !v.is_finite()
    {
        return bad("warmup", o.warmup.to_string(), "a finite x");
    }
    if o.max_pairwise_points < 16 {
        return bad(
            "max_pairwise_points",
            o.max_pairwise_points.to_string(),
            "at least 16",
        );
    }
    Ok(())
}

fn classify(
    enough: bool,
    ts: &SlopeEstimate,
    mk: &MannKendall,
    late: Option<&SlopeEstimate>,
    rose_in_warmup: bool,
    alpha: f64,
) -> Shape {
    if !enough {
        return Shape::Inconclusive;
    }
    let mk_up = mk.p < alpha && mk.s > 0.0;
    let ts_up = ts.lo > 0.0;
    match (mk_up, ts_up) {
        (true, true) => match late {
            // Clearly slower in the second half: levelling off.
            Some(l) if l.hi < 0.5 * ts.slope => Shape::Saturating,
            // Growth confirmed on the second half alone: a leak. A chance
            // trend in noise rarely passes both tests.
            Some(l) if l.lo > 0.0 => Shape::Leak,
            // Not confirmed by the second half, after a climb: the tail of a fill.
            Some(_) if rose_in_warmup => Shape::Saturating,
            Some(_) => Shape::Inconclusive,
            None => Shape::Leak,
        },
        (false, false) if rose_in_warmup => Shape::Saturating,
        (false, false) => Shape::Flat,
        // One test sees a weak rise after a climb that the second half does not go on
        // with: the tail of the fill.
        _ if rose_in_warmup && late.is_some_and(|l| l.lo <= 0.0) => Shape::Saturating,
        _ => Shape::Inconclusive,
    }
}

/// The two-metric class: resident (or RSS) grows while `allocated` does not.
/// Returns `Fragmentation` when the resident metric is `Leak`/`Saturating`
/// and allocated is `Flat` or grows at under a tenth of resident's lower
/// bound, unless allocated memory is also retained across sessions (more than
/// a tenth of what resident retains: Theil–Sen looks through a step at a
/// session boundary, so resident growth that allocated memory retains is that
/// retention, not fragmentation); otherwise the resident metric's own shape.
pub fn classify_fragmentation(
    resident_or_rss: &MetricAnalysis,
    allocated: &MetricAnalysis,
) -> Shape {
    let r = resident_or_rss;
    let grows = matches!(r.shape, Shape::Leak | Shape::Saturating) && r.theil_sen.lo > 0.0;
    let alloc_quiet = allocated.shape == Shape::Flat
        || (allocated.shape != Shape::Inconclusive
            && allocated.theil_sen.hi < 0.1 * r.theil_sen.lo);
    let alloc_retains = matches!(
        (r.retained, allocated.retained),
        (Some(resident), Some(alloc)) if alloc > 0.1 * resident.abs()
    );
    if grows && alloc_quiet && !alloc_retains {
        Shape::Fragmentation
    } else {
        r.shape
    }
}

fn sessions(x: &[f64], y: &[f64], starts: &[f64]) -> Result<Vec<SessionStats>, AnalysisError> {
    for (i, &s) in starts.iter().enumerate() {
        if !s.is_finite() || (i > 0 && s <= starts[i - 1]) {
            return Err(AnalysisError::InvalidSessions { index: i, value: s });
        }
    }
    let mut out: Vec<SessionStats> = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let a = x.partition_point(|&xi| xi < s);
        let b = starts
            .get(k + 1)
            .map_or(x.len(), |&e| x.partition_point(|&xi| xi < e));
        if a >= b {
            continue;
        }
        let seg = &y[a..b];
        let head = median_of(&seg[..seg.len().min(3)]);
        let tail = median_of(&seg[seg.len().saturating_sub(3)..]);
        let first = out.first().map_or(head, |f| f.start_level);
        out.push(SessionStats {
            index: k,
            start_x: x[a],
            end_x: x[b - 1],
            points: b - a,
            start_level: head,
            peak: seg.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            end_level: tail,
            retained: head - first,
        });
    }
    Ok(out)
}

fn check_finite(a: &MetricAnalysis) -> Result<(), AnalysisError> {
    let fields = [
        ("ols slope", a.ols.slope),
        ("ols interval", a.ols.hi - a.ols.lo),
        ("ols intercept", a.ols.intercept),
        ("theil-sen slope", a.theil_sen.slope),
        ("theil-sen interval", a.theil_sen.hi - a.theil_sen.lo),
        ("theil-sen intercept", a.theil_sen.intercept),
        ("growth", a.growth_hi - a.growth_lo),
        ("mann-kendall z", a.trend.z),
    ];
    match fields.iter().find(|(_, v)| !v.is_finite()) {
        Some((what, _)) => Err(AnalysisError::NumericalOverflow {
            metric: a.metric.clone(),
            what,
        }),
        None => Ok(()),
    }
}

fn judge(lo: f64, hi: f64, limit: f64) -> Outcome {
    if hi <= limit {
        Outcome::Pass
    } else if lo > limit {
        Outcome::Fail
    } else {
        Outcome::Undecided
    }
}

/// Judges one budget on the interval of its quantity. Slope and growth need
/// `enough` points after warm-up; peak and retained are point values, so
/// they always decide (retained needs two sessions).
/// The fewest points after warm-up on which a slope or growth budget may fail (when the
/// whole interval is above it) before the run reaches `min_points`. With fewer, pure
/// noise orders itself upward too often: 3 exchangeable points are increasing with
/// probability 1/6, 6 points with 1/720.
pub const MIN_FAIL_POINTS: usize = 6;

fn verdict(
    a: &MetricAnalysis,
    budget: &Budget,
    enough: bool,
    span: f64,
    opts: &AnalysisOptions,
) -> Result<Verdict, AnalysisError> {
    let (min_points, interim) = (opts.min_points, opts.interim);
    let ts = &a.theil_sen;
    let wrong_quantity = |expected| AnalysisError::InvalidOption {
        name: "budget",
        value: budget.to_string(),
        expected,
    };
    let mut v = Verdict {
        budget: budget.clone(),
        outcome: Outcome::Undecided,
        estimate: 0.0,
        lo: 0.0,
        hi: 0.0,
        sensitivity: a.sensitivity,
        more_iterations: None,
        reason: CheckReason::Decided,
        envelope: None,
    };
    // The points the slope was fitted to: the steady state, or its cycle minima.
    let points = a.theil_sen.points;
    let interval = |v: &mut Verdict, (est, lo, hi): (f64, f64, f64), limit: f64| {
        (v.estimate, v.lo, v.hi) = (est, lo, hi);
        if enough {
            v.outcome = judge(lo, hi, limit);
            if v.outcome == Outcome::Undecided {
                v.reason = CheckReason::Straddles;
            }
        } else if points >= MIN_FAIL_POINTS && lo > limit {
            // Short, but the whole interval is above the budget: that decides a fail.
            v.outcome = Outcome::Fail;
        } else {
            v.reason = CheckReason::TooFewPoints { points };
            // How much longer: the missing points at the run's own spacing.
            let spacing = span / points.saturating_sub(1).max(1) as f64;
            let missing = min_points.saturating_sub(points) as f64;
            let more = (missing * spacing).ceil();
            v.more_iterations = (more.is_finite() && more >= 1.0).then_some(more as u64);
        }
    };
    match (budget.kind, budget.limit) {
        (BudgetKind::Slope, Quantity::Rate { per, .. }) if per != a.x_unit => {
            v.estimate = ts.slope;
            (v.lo, v.hi) = (ts.lo, ts.hi);
            v.reason = CheckReason::UnitMismatch { series: a.x_unit };
        }
        (BudgetKind::Slope, Quantity::Rate { bytes: limit, .. }) => {
            let (est, lo, hi) = match &a.churn {
                Some(c) => {
                    let (which, fit) = envelope_for(c, limit);
                    v.envelope = Some(which);
                    (fit.slope, judged_lo(which, fit, interim), fit.hi)
                }
                None => (ts.slope, ts.lo, ts.hi),
            };
            interval(&mut v, (est, lo, hi), limit);
            only_the_troughs_fail(&mut v);
            if v.reason == CheckReason::Straddles {
                v.more_iterations = more_needed(est, lo, hi, limit, span);
            }
            hold_a_pass_that_gave_back(a, &mut v, limit * span);
        }
        (BudgetKind::Growth, Quantity::Bytes(limit)) => {
            let growth = match &a.churn {
                Some(c) if span > 0.0 => {
                    let (which, fit) = envelope_for(c, limit / span);
                    v.envelope = Some(which);
                    (
                        fit.slope * span,
                        judged_lo(which, fit, interim) * span,
                        fit.hi * span,
                    )
                }
                _ => (a.growth, a.growth_lo, a.growth_hi),
            };
            interval(&mut v, growth, limit);
            only_the_troughs_fail(&mut v);
            hold_a_pass_that_gave_back(a, &mut v, limit);
        }
        (BudgetKind::Peak, Quantity::Bytes(limit)) => {
            (v.estimate, v.lo, v.hi) = (a.peak, a.peak, a.peak);
            v.outcome = judge(a.peak, a.peak, limit);
        }
        (BudgetKind::Retained, Quantity::Bytes(limit)) => {
            match (&a.checkpoint_retained, a.retained) {
                (Some(c), _) => {
                    (v.estimate, v.lo, v.hi) = (c.estimate, c.lo, c.hi);
                    v.outcome = judge(c.lo, c.hi, limit);
                    if v.outcome == Outcome::Undecided {
                        v.reason = CheckReason::Straddles;
                    }
                }
                (None, Some(r)) => {
                    (v.estimate, v.lo, v.hi) = (r, r, r);
                    v.outcome = judge(r, r, limit);
                }
                (None, None) => v.reason = CheckReason::NoSessions,
            }
        }
        (BudgetKind::Slope, _) => return Err(wrong_quantity("a rate for a slope budget")),
        (_, _) => {
            return Err(wrong_quantity(
                "a size for a growth, peak or retained budget",
            ));
        }
    }
    Ok(v)
}

/// A pass on a series without a period that gave back more than the budget allows over
/// the run (`allowed`) is held undecided: its fit sees the cycles' plateaus, not their
/// troughs (a cache pinned at its cap while the floor under it climbs looks flat for two
/// periods), and it shows too few periods for its envelopes to be judged.
fn hold_a_pass_that_gave_back(a: &MetricAnalysis, v: &mut Verdict, allowed: f64) {
    if a.churn.is_none() && v.outcome == Outcome::Pass && a.fall > allowed {
        v.outcome = Outcome::Undecided;
        v.reason = CheckReason::GaveBack { fall: a.fall };
    }
}

/// The envelope a slope limit is judged on: the troughs when they climb past it (a fail:
/// memory never given back), else the envelope with the highest upper bound (a pass needs
/// every envelope within the limit, and the highest shows whether they all are).
fn envelope_for(c: &Churn, limit: f64) -> (Envelope, &EnvelopeFit) {
    if c.troughs_climb_past(limit) {
        (Envelope::Lower, &c.lower)
    } else {
        c.highest()
    }
}

/// Under churn a fail rests on the troughs alone: peaks that climb over troughs within
/// the budget are growth the cycles give back, which passes no budget and fails none.
fn only_the_troughs_fail(v: &mut Verdict) {
    if v.outcome == Outcome::Fail && v.envelope.is_some_and(|e| e != Envelope::Lower) {
        v.outcome = Outcome::Undecided;
        v.reason = CheckReason::Straddles;
    }
}

/// The lower bound a verdict reads: for the troughs, the one a fail must clear
/// ([`EnvelopeFit::lo_sampled`], or at an interim look [`EnvelopeFit::lo_small`]).
fn judged_lo(which: Envelope, fit: &EnvelopeFit, interim: bool) -> f64 {
    match which {
        Envelope::Lower if interim => fit.lo_small,
        Envelope::Lower => fit.lo_sampled,
        Envelope::Upper | Envelope::Mean => fit.lo,
    }
}

/// How much more x span would likely decide: the interval half-width shrinks
/// as span^(-3/2) at a fixed sampling rate (slope variance ∝ 1/Σ(x-x̄)²), so
/// to shrink it from `w` to the distance `d` between estimate and limit the
/// span must grow by (w/d)^(2/3). None when the estimate sits on the limit.
fn more_needed(est: f64, lo: f64, hi: f64, limit: f64, span: f64) -> Option<u64> {
    let w = (hi - lo) / 2.0;
    let d = (est - limit).abs();
    if d <= 0.0 || w <= 0.0 || span <= 0.0 {
        return None;
    }
    let extra = span * ((w / d).powf(2.0 / 3.0) - 1.0).max(0.0);
    (extra.is_finite() && extra < 1e15).then(|| extra.ceil().max(1.0) as u64)
}
