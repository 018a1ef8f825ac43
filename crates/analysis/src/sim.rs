//! Seeded synthetic memory series: a linear leak, AR(1) noise, a cache fill
//! and an allocator sawtooth. Used by the acceptance tests, the detection
//! target (`examples/detection.rs`) and other crates' tests. Deterministic:
//! the same spec and seed give the same series on every platform (ChaCha8).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::{AnalysisError, Series};

pub const KIB: f64 = 1024.0;
pub const MIB: f64 = 1024.0 * 1024.0;

/// A bounded cache filling up: `bytes·(1 - e^(-i/τ))`, with τ chosen so
/// that it is 99 % full at `end_fraction` of the run (coupon-collector
/// shape: random keys into a finite cache).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CacheFill {
    pub bytes: f64,
    pub end_fraction: f64,
}

/// An allocator sawtooth with zero mean: rises linearly by `amplitude` over
/// `period` iterations, then drops back (arenas filling and being purged).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sawtooth {
    pub amplitude: f64,
    pub period: usize,
}

/// What to simulate; x is the iteration 0..n.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SimSpec {
    pub n: usize,
    /// Starting level (bytes).
    pub base: f64,
    /// True slope, bytes per iteration.
    pub leak_per_iter: f64,
    /// Marginal standard deviation of the AR(1) noise (bytes).
    pub noise_sd: f64,
    /// AR(1) coefficient, |phi| < 1.
    pub phi: f64,
    pub fill: Option<CacheFill>,
    pub sawtooth: Option<Sawtooth>,
}

impl SimSpec {
    /// 500 iterations at 256 MiB, AR(1) phi 0.6 with marginal sd 64 KiB:
    /// the acceptance setting, no leak, fill or sawtooth.
    pub fn acceptance() -> SimSpec {
        SimSpec {
            n: 500,
            base: 256.0 * MIB,
            leak_per_iter: 0.0,
            noise_sd: 64.0 * KIB,
            phi: 0.6,
            fill: None,
            sawtooth: None,
        }
    }

    /// The y values (bytes) for a seed.
    pub fn values(&self, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let phi = self.phi.clamp(-0.999, 0.999);
        let innov = self.noise_sd * (1.0 - phi * phi).sqrt();
        let z0: f64 = StandardNormal.sample(&mut rng);
        let mut e = self.noise_sd * z0;
        let tau = self
            .fill
            .map(|f| (f.end_fraction * self.n as f64 / 100f64.ln()).max(1e-9));
        (0..self.n)
            .map(|i| {
                if i > 0 {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    e = phi * e + innov * z;
                }
                let t = i as f64;
                let mut v = self.base + self.leak_per_iter * t + e;
                if let (Some(f), Some(tau)) = (self.fill, tau) {
                    v += f.bytes * (1.0 - (-t / tau).exp());
                }
                if let Some(s) = self.sawtooth.filter(|s| s.period > 0) {
                    let phase = (i % s.period) as f64 / s.period as f64;
                    v += s.amplitude * (phase - 0.5);
                }
                v
            })
            .collect()
    }

    /// The series (x = iteration) for a seed; an error only for a spec
    /// with non-finite numbers.
    pub fn series(&self, seed: u64) -> Result<Series, AnalysisError> {
        Series::from_y(self.values(seed))
    }
}

/// How the sequential looks of one simulated run ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateRun {
    pub outcome: crate::Outcome,
    pub shape: crate::Shape,
    /// Iterations judged by the look that decided.
    pub length: usize,
    /// [`crate::MetricAnalysis::steadiness`] at that look.
    pub steadiness: crate::sequential::Steadiness,
}

/// Judge the series `y` (x = iteration) as the gate does: at each look of `plan` on the
/// data up to it, the first look that settles the verdict deciding
/// ([`crate::sequential::Sequence`]), else the last look.
pub fn gate_run(
    y: &[f64],
    plan: &crate::LookPlan,
    budget: &crate::Budget,
) -> Result<GateRun, AnalysisError> {
    use crate::sequential::{LookVerdict, LookWalk};
    let at = |length: f64, confidence: f64, interim: bool| -> Result<GateRun, AnalysisError> {
        let n = (length.floor() as usize).min(y.len());
        let series = Series::from_y(y[..n].to_vec())?;
        let opts = crate::AnalysisOptions {
            confidence,
            interim,
            ..crate::AnalysisOptions::default()
        };
        let a = crate::analyze_metric("sim", &series, &[], std::slice::from_ref(budget), &opts)?;
        Ok(GateRun {
            outcome: a.verdicts[0].outcome,
            shape: a.shape,
            length: n,
            steadiness: a.steadiness(),
        })
    };
    let mut walk = LookWalk::new(plan);
    while let Some(look) = walk.next_look() {
        let run = at(look.length, look.confidence, true)?;
        if walk.record(LookVerdict::of(
            [(run.steadiness, run.outcome)],
            look.may_pass,
        )) {
            return Ok(run);
        }
    }
    let last = plan.final_look(&walk.done, y.len() as f64);
    at(last.length, last.confidence, false)
}

/// How the sequential looks of one simulated run judged by time ended
/// ([`gate_run_timed`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimedGateRun {
    pub outcome: crate::Outcome,
    /// `Inconclusive` when the look that decided had too few points to analyse.
    pub shape: crate::Shape,
    /// Seconds judged by the look that decided (the data up to it).
    pub length_s: f64,
    /// Samples judged by that look.
    pub points: usize,
    /// [`crate::MetricAnalysis::steadiness`] at that look (`Unsteady` when it had too few
    /// points).
    pub steadiness: crate::sequential::Steadiness,
    /// The churn period the analysis found at that look, in seconds.
    pub churn_period: Option<f64>,
}

/// Judge the per-second series (`x` in seconds since the start, increasing) as the gate
/// judges a run by time (`duration = { min, max }`, a program that never marks): at each
/// interim look of `plan` that the data goes past, on the samples up to its length (as
/// `Timeline::truncated` cuts them), the first look that settles the verdict deciding
/// ([`crate::sequential::LookWalk`]); else the last look, at the last sample (truncated
/// at the maximum), spending what the others left. A look with fewer than three samples
/// is undecided, as the judge makes it (`TooFewPoints`), and a pass at a last look short of
/// the plan's minimum is undecided (`BelowMinimum`).
pub fn gate_run_timed(
    x: &[f64],
    y: &[f64],
    plan: &crate::LookPlan,
    budget: &crate::Budget,
) -> Result<TimedGateRun, AnalysisError> {
    use crate::sequential::{LookVerdict, LookWalk, Steadiness};
    let at = |length: f64, confidence: f64, interim: bool| -> Result<TimedGateRun, AnalysisError> {
        let n = x.partition_point(|&t| t <= length).min(y.len());
        let too_few = TimedGateRun {
            outcome: crate::Outcome::Undecided,
            shape: crate::Shape::Inconclusive,
            length_s: length,
            points: n,
            steadiness: Steadiness::Unsteady,
            churn_period: None,
        };
        if n < 3 {
            return Ok(too_few);
        }
        let series = Series::new(x[..n].to_vec(), y[..n].to_vec())?;
        let opts = crate::AnalysisOptions {
            confidence,
            x_unit: crate::XUnit::Second,
            interim,
            ..crate::AnalysisOptions::default()
        };
        match crate::analyze_metric("sim", &series, &[], std::slice::from_ref(budget), &opts) {
            Ok(a) => Ok(TimedGateRun {
                outcome: a.verdicts[0].outcome,
                shape: a.shape,
                length_s: length,
                points: n,
                steadiness: a.steadiness(),
                churn_period: a.churn.as_ref().map(|c| c.period),
            }),
            Err(AnalysisError::TooFewPoints { .. }) => Ok(too_few),
            Err(e) => Err(e),
        }
    };
    let end = x.last().copied().unwrap_or(0.0);
    let mut walk = LookWalk::new(plan);
    while let Some(look) = walk.next_look() {
        if end <= look.length {
            break;
        }
        let run = at(look.length, look.confidence, true)?;
        if walk.record(LookVerdict::of(
            [(run.steadiness, run.outcome)],
            look.may_pass,
        )) {
            return Ok(run);
        }
    }
    let last = plan.final_look(&walk.done, end);
    let mut run = at(end.min(plan.max), last.confidence, false)?;
    if !last.may_pass && run.outcome == crate::Outcome::Pass {
        run.outcome = crate::Outcome::Undecided;
    }
    Ok(run)
}

/// One simulated forecast: the series of `spec` (a linear leak under its noise) analysed
/// at `confidence`, and its crossing of the level the leak's trend reaches `horizon`
/// lengths of the series after its start. `None` when the analysis gives no forecast (the
/// growth is not significant); else the forecast and the truth: the time from the end of
/// the data to the first value of the continued process at or above the limit.
pub fn forecast_run(
    spec: &SimSpec,
    seed: u64,
    horizon: f64,
    confidence: f64,
) -> Result<Option<(crate::forecast::Crossing, f64)>, AnalysisError> {
    // The same process continued well past the crossing: the first `n` values are the
    // series judged (the fill keeps its time constant), the rest say when it crossed.
    let n = spec.n;
    let long = SimSpec {
        n: (horizon * 1.5 * n as f64).ceil() as usize + n,
        fill: spec.fill.map(|f| CacheFill {
            end_fraction: f.end_fraction * n as f64 / (horizon * 1.5 * n as f64 + n as f64),
            ..f
        }),
        ..*spec
    };
    let all = long.values(seed);
    let series = Series::from_y(all[..n].to_vec())?;
    let opts = crate::AnalysisOptions {
        confidence,
        ..crate::AnalysisOptions::default()
    };
    let a = crate::analyze_metric("sim", &series, &[], &[], &opts)?;
    let (x, y) = (series.x(), series.y());
    let cut = a.warmup.index.min(x.len());
    if a.shape != crate::Shape::Leak {
        return Ok(None);
    }
    // As the judge forecasts: the peaks' envelope under churn, else the verdict's line
    // through the steady state.
    let ts = &a.theil_sen;
    let line = match &a.churn {
        Some(c) => crate::forecast::PivotLine::of_envelope(&c.upper, confidence),
        None => crate::forecast::PivotLine::of_fit(
            &x[cut..],
            &y[cut..],
            (ts.intercept, ts.slope, ts.lo, ts.hi),
            confidence,
        ),
    };
    let Some(line) = line else { return Ok(None) };
    // The level the process's trend (after a cache fill) reaches `horizon` lengths in.
    let filled = spec.fill.map_or(0.0, |f| f.bytes);
    let limit = spec.base + filled + spec.leak_per_iter * horizon * n as f64;
    let x_end = x.last().copied().unwrap_or(0.0);
    let Some(first) = all.iter().position(|&v| v >= limit) else {
        return Ok(None);
    };
    Ok(crate::forecast::time_to_limit(&line, limit, x_end, 1.0).map(|c| (c, first as f64 - x_end)))
}
