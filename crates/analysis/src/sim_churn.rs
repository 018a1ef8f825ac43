//! The churn family of the detection simulation: the periodic memory real programs make,
//! with and without a leak underneath, sampled by time as the runner samples a process
//! tree's RSS. Deterministic (ChaCha8): the same spec and seed give the same run.
//!
//! Every shape is a live heap `base + leak·t` (what leaks: the floor climbs) plus a
//! cycle of `period_s` that gives its memory back:
//!
//! | shape | one cycle (τ = time since the cycle began, A = `amplitude`, d = duty) |
//! |---|---|
//! | [`ChurnShape::Sawtooth`] | fill then free: `A·τ/P`, dropped to the floor at the period's end |
//! | [`ChurnShape::Bursts`] | square bursts: a block `A` held for `d·P` (d ∈ [0.2, 0.8]), then freed |
//! | [`ChurnShape::GcLike`] | a collector with a proportional target (Go's `GOGC`): garbage accrues at a rate `g_j` until the heap crosses `(1 + r)·live` at the last collection (`r = (A + leak·P)/base`: about A + leak·P above it), then drops to the live heap. `g_j` is drawn per cycle in [0.8, 1.2]·A/P and all are scaled by one factor so that the run's `periods`-th collection falls at its end. Cycles are irregular; under a leak the later ones are longer and the peaks climb faster than the troughs |
//! | [`ChurnShape::Workers`] | respawned workers (non-persistent data-loader workers): each epoch the workers start (a jump of `0.3·A`), grow towards `A` (time constant `d·P/4`), and exit after `d·P` (d ∈ [0.6, 0.9]); the tree drops to the parent, which is the live heap (the leak is the parent's) |
//! | [`ChurnShape::PinnedCap`] | a cache cap or a collector with a memory target: the cycle fills towards a cap `C = base + A + leak·T` (reached after at most d·P, d ∈ [0.3, 0.7]), holds there and is flushed at the period's end; the peaks stay at `C` while the troughs climb with the leak. `A` is the headroom left at the end of the run (`A + leak·T` at its start) |
//!
//! The run lasts `periods` cycles: the first begins at the run's start (a program's first
//! epoch, its first fill, begins when it does) and the last ends at its end. The samples
//! come at the runner's interval from a first sample uniform in `[0, 1/rate)`: the random
//! phase of the sampler against the cycles, so a period near a multiple of the interval
//! aliases (at 20 Hz a 0.05 s cycle is seen at one phase, always). The sampler has no jitter. Each sample gets white Gaussian
//! noise of `noise_sd` and is rounded to a whole 4 KiB page, as RSS counts pages.
//!
//! [`envelopes`] measures what a person sees on the plot: the minimum and maximum of the
//! samples in each whole cycle, and how far they scatter around their own straight lines.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::sim::{KIB, MIB};

/// RSS is a count of pages: every sample is rounded to one.
pub const PAGE: f64 = 4.0 * KIB;

/// A run a person decides has at least this many whole periods with samples.
pub const MIN_PERIODS: usize = 4;

/// ... and envelopes that scatter around their lines by less than this share of what the
/// budget allows over the run (budget rate × duration).
pub const DECIDE_SCATTER: f64 = 0.1;

/// How much a regular cycle's length varies (±, as a share of the period). A real
/// program's cycles are not exact to the sampler's interval: its work and its sleeps vary
/// by a fraction of a millisecond or more, so the phase at which the sampler catches each
/// trough wanders. Exact multiples of the interval would catch every trough at one phase,
/// which no real run does.
pub const CYCLE_JITTER: f64 = 0.02;

/// The per-cycle range of the collector's garbage rate, as a factor of `A/P`.
const GC_RATE_JITTER: (f64, f64) = (0.8, 1.2);

/// The churn shapes real programs make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChurnShape {
    /// Fill then free.
    Sawtooth,
    /// A block allocated for a duty cycle, then freed.
    Bursts,
    /// Garbage until a proportional threshold is crossed, then back to the live heap.
    GcLike,
    /// Respawned workers: the tree drops to the parent's level each epoch.
    Workers,
    /// Peaks pinned at a cap while the trough climbs with the leak.
    PinnedCap,
}

impl ChurnShape {
    pub const ALL: [ChurnShape; 5] = [
        ChurnShape::Sawtooth,
        ChurnShape::Bursts,
        ChurnShape::GcLike,
        ChurnShape::Workers,
        ChurnShape::PinnedCap,
    ];

    /// Lower-case name for tables.
    pub fn name(self) -> &'static str {
        match self {
            ChurnShape::Sawtooth => "sawtooth",
            ChurnShape::Bursts => "bursts",
            ChurnShape::GcLike => "gc-like",
            ChurnShape::Workers => "workers",
            ChurnShape::PinnedCap => "pinned cap",
        }
    }

    /// The range the duty share d is drawn from, per run.
    fn duty_range(self) -> (f64, f64) {
        match self {
            ChurnShape::Bursts => (0.2, 0.8),
            ChurnShape::Workers => (0.6, 0.9),
            ChurnShape::PinnedCap => (0.3, 0.7),
            ChurnShape::Sawtooth | ChurnShape::GcLike => (1.0, 1.0),
        }
    }
}

/// One churning run to simulate; x is seconds since the start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChurnSpec {
    pub shape: ChurnShape,
    /// The cycle (the collector's average one), seconds.
    pub period_s: f64,
    /// The run lasts this many periods.
    pub periods: usize,
    /// The memory one cycle takes and gives back, bytes (see the module's table).
    pub amplitude: f64,
    /// True slope of the live heap, bytes per second.
    pub leak_per_s: f64,
    /// Samples per second of a single process. The runner walks a process tree every
    /// interval × its process count, so while [`ChurnShape::Workers`]' workers live the
    /// rate is `rate_hz / (1 + workers)`.
    pub rate_hz: f64,
    /// Worker processes beside the parent while an epoch runs (respawned workers only).
    #[serde(default)]
    pub workers: u32,
    /// Standard deviation of the white measurement noise, bytes.
    pub noise_sd: f64,
    /// The live heap at the start, bytes.
    pub base: f64,
}

/// A simulated run: its samples and the cycles under them.
#[derive(Debug, Clone, PartialEq)]
pub struct ChurnRun {
    /// Sample times, seconds: from `first_sample_s`, one interval × the processes alive
    /// apart, up to the run's duration.
    pub x: Vec<f64>,
    /// Samples, bytes (whole pages).
    pub y: Vec<f64>,
    /// Where the cycles begin, and where the last one ends (the run's end): cycle i is
    /// `[cycles[i], cycles[i + 1])`; `periods` of them.
    pub cycles: Vec<f64>,
    /// The time of the first sample, in `[0, 1/rate)`.
    pub first_sample_s: f64,
    /// The duty share d drawn for this run (1 for the shapes without one).
    pub duty: f64,
}

impl ChurnSpec {
    /// A sawtooth of 1 s periods, 20 of them, amplitude 8 MiB, no leak, sampled at 20 Hz
    /// with 64 KiB noise on a 256 MiB live heap.
    pub fn example() -> ChurnSpec {
        ChurnSpec {
            shape: ChurnShape::Sawtooth,
            period_s: 1.0,
            periods: 20,
            amplitude: 8.0 * MIB,
            leak_per_s: 0.0,
            rate_hz: 20.0,
            workers: 0,
            noise_sd: 64.0 * KIB,
            base: 256.0 * MIB,
        }
    }

    /// The run's length, seconds: `periods × period_s`.
    pub fn duration_s(&self) -> f64 {
        self.period_s * self.periods as f64
    }

    /// The live heap (the floor) at `t`.
    fn live(&self, t: f64) -> f64 {
        self.base + self.leak_per_s * t
    }

    /// The samples of a seed.
    pub fn run(&self, seed: u64) -> ChurnRun {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let dt = 1.0 / self.rate_hz;
        let first_sample_s = rng.random::<f64>() * dt;
        let (lo, hi) = self.shape.duty_range();
        let duty = lo + (hi - lo) * rng.random::<f64>();
        let end = self.duration_s();
        // Every cycle's start, the first at 0, one at the end and one past it (so each
        // sample has its cycle); for the collector, its garbage rate too.
        let (starts, rates) = match self.shape {
            ChurnShape::GcLike => self.collections(&mut rng, end),
            _ => (self.jittered_starts(&mut rng, end), vec![]),
        };
        // The next sample comes one interval × the processes alive later.
        let processes = |t: f64| {
            let j = starts.partition_point(|&s| s <= t).saturating_sub(1);
            let working = self.shape == ChurnShape::Workers && t - starts[j] < duty * self.period_s;
            1 + if working { self.workers } else { 0 }
        };
        let mut x = Vec::new();
        let mut t = first_sample_s;
        while t <= end {
            x.push(t);
            t += dt * f64::from(processes(t));
        }
        let y = x
            .iter()
            .map(|&t| {
                let j = starts.partition_point(|&s| s <= t).saturating_sub(1);
                let level = self.level(t, t - starts[j], duty, rates.get(j).copied());
                let z: f64 = StandardNormal.sample(&mut rng);
                ((level + self.noise_sd * z) / PAGE).round() * PAGE
            })
            .collect();
        let cycles: Vec<f64> = starts.into_iter().filter(|&s| s <= end).collect();
        ChurnRun {
            x,
            y,
            cycles,
            first_sample_s,
            duty,
        }
    }

    /// Every cycle's start for the regular shapes: lengths `P·(1 + u·CYCLE_JITTER)`, u
    /// uniform in [−1, 1], scaled together so that the `periods`-th cycle ends at `end`;
    /// then one more cycle past it.
    fn jittered_starts(&self, rng: &mut ChaCha8Rng, end: f64) -> Vec<f64> {
        let lengths: Vec<f64> = (0..self.periods)
            .map(|_| 1.0 + CYCLE_JITTER * (2.0 * rng.random::<f64>() - 1.0))
            .collect();
        let scale = end / lengths.iter().sum::<f64>();
        let mut starts = vec![0.0];
        for l in &lengths {
            starts.push(starts.last().expect("starts at 0") + l * scale);
        }
        *starts.last_mut().expect("periods > 0") = end;
        starts.push(end + self.period_s);
        starts
    }

    /// The collector's cycles: the start of each (at a collection) until past `end`, and
    /// the garbage rate of each. The rates, drawn per cycle, are scaled by one common
    /// factor so that the `periods`-th collection falls at `end`: the run holds `periods`
    /// whole cycles, as the other shapes do, however much a leak lengthens the later ones.
    fn collections(&self, rng: &mut ChaCha8Rng, end: f64) -> (Vec<f64>, Vec<f64>) {
        let p = self.period_s;
        let r = (self.amplitude + self.leak_per_s * p) / self.base;
        let (lo, hi) = GC_RATE_JITTER;
        let jitter: Vec<f64> = (0..self.periods)
            .map(|_| lo + (hi - lo) * rng.random::<f64>())
            .collect();
        let cycles = |scale: f64| {
            let (mut starts, mut rates) = (vec![0.0], vec![]);
            for u in &jitter {
                let t = *starts.last().expect("starts at 0");
                let g = scale * u * self.amplitude / p;
                rates.push(g);
                // live(t) + (leak + g)·τ = (1 + r)·live(t)
                let rise = (self.leak_per_s + g).max(f64::MIN_POSITIVE);
                starts.push(t + r * self.live(t) / rise);
            }
            (starts, rates)
        };
        // The last collection comes sooner the faster the garbage: bisect the scale (in
        // its logarithm) until it lands on the end.
        let (mut below, mut above) = ((1.0f64 / 64.0).ln(), 64.0f64.ln());
        for _ in 0..80 {
            let mid = 0.5 * (below + above);
            let last = *cycles(mid.exp()).0.last().expect("periods > 0");
            if last > end {
                below = mid;
            } else {
                above = mid;
            }
        }
        let (mut starts, mut rates) = cycles(above.exp());
        // Exactly at the end (the bisection leaves it within rounding); a last cycle past
        // it holds the sample at the end, if there is one.
        *starts.last_mut().expect("periods > 0") = end;
        starts.push(end + p);
        rates.push(*rates.last().unwrap_or(&0.0));
        (starts, rates)
    }

    /// The noiseless level at `t`, `tau` seconds into its cycle.
    fn level(&self, t: f64, tau: f64, duty: f64, gc_rate: Option<f64>) -> f64 {
        let (a, p) = (self.amplitude, self.period_s);
        let live = self.live(t);
        live + match self.shape {
            ChurnShape::Sawtooth => a * tau / p,
            ChurnShape::Bursts => {
                if tau < duty * p {
                    a
                } else {
                    0.0
                }
            }
            ChurnShape::GcLike => gc_rate.unwrap_or(0.0) * tau,
            ChurnShape::Workers => {
                let on = duty * p;
                if tau < on {
                    a * (0.3 + 0.7 * (1.0 - (-4.0 * tau / on).exp()))
                } else {
                    0.0
                }
            }
            ChurnShape::PinnedCap => {
                let headroom = a + self.leak_per_s * self.duration_s();
                let cap = self.base + headroom;
                (headroom / (duty * p) * tau).min(cap - live).max(0.0)
            }
        }
    }
}

/// One envelope's straight line.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeLine {
    /// Least-squares slope, bytes per second.
    pub slope: f64,
    /// Residual standard deviation around the line, `√(SSE / (m − 2))` over the m periods.
    pub scatter: f64,
}

/// The sampled envelopes of a run: per whole cycle with samples, their minimum and
/// maximum, each at its own time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Envelopes {
    /// Whole cycles that hold at least one sample.
    pub periods: usize,
    pub lower: EnvelopeLine,
    pub upper: EnvelopeLine,
}

impl Envelopes {
    /// The larger scatter of the two envelopes.
    pub fn scatter(&self) -> f64 {
        self.lower.scatter.max(self.upper.scatter)
    }

    /// A person decides this run by eye: at least [`MIN_PERIODS`] periods, and both
    /// envelopes scatter by less than [`DECIDE_SCATTER`] × what the budget (bytes per
    /// second) allows over `duration_s`.
    pub fn person_decides(&self, budget_per_s: f64, duration_s: f64) -> bool {
        self.periods >= MIN_PERIODS && self.scatter() < DECIDE_SCATTER * budget_per_s * duration_s
    }
}

/// The envelopes of samples `(x, y)` over the whole cycles `cycles` (as
/// [`ChurnRun::cycles`]): the minimum and the maximum of the samples in each cycle
/// `[cycles[i], cycles[i + 1])` that holds any, at the time each occurred, and the
/// least-squares line through each set. `None` below three such cycles (no scatter).
pub fn envelopes(x: &[f64], y: &[f64], cycles: &[f64]) -> Option<Envelopes> {
    let (mut lower, mut upper) = ((vec![], vec![]), (vec![], vec![]));
    for w in cycles.windows(2) {
        let from = x.partition_point(|&t| t < w[0]);
        let to = x.partition_point(|&t| t < w[1]);
        if from >= to.min(y.len()) {
            continue;
        }
        let (mut lo, mut hi) = (from, from);
        for i in from..to.min(y.len()) {
            if y[i] < y[lo] {
                lo = i;
            }
            if y[i] > y[hi] {
                hi = i;
            }
        }
        lower.0.push(x[lo]);
        lower.1.push(y[lo]);
        upper.0.push(x[hi]);
        upper.1.push(y[hi]);
    }
    let periods = lower.0.len();
    (periods >= 3).then(|| Envelopes {
        periods,
        lower: line(&lower.0, &lower.1),
        upper: line(&upper.0, &upper.1),
    })
}

impl ChurnRun {
    /// [`envelopes`] of this run's samples over its cycles.
    pub fn envelopes(&self) -> Option<Envelopes> {
        envelopes(&self.x, &self.y, &self.cycles)
    }
}

fn line(x: &[f64], y: &[f64]) -> EnvelopeLine {
    let (slope, intercept) = crate::ols::least_squares(x, y);
    let sse: f64 = x
        .iter()
        .zip(y)
        .map(|(&xi, &yi)| (yi - intercept - slope * xi).powi(2))
        .sum();
    EnvelopeLine {
        slope,
        scatter: (sse / (x.len() as f64 - 2.0)).sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEAK: f64 = 2.0 * MIB;

    fn spec(shape: ChurnShape, leak_per_s: f64) -> ChurnSpec {
        ChurnSpec {
            shape,
            period_s: 0.5,
            periods: 20,
            amplitude: 32.0 * MIB,
            leak_per_s,
            rate_hz: 200.0,
            ..ChurnSpec::example()
        }
    }

    fn within(slope: f64, want: f64, tolerance: f64) -> bool {
        (slope - want).abs() <= tolerance
    }

    #[test]
    fn a_sawtooth_floor_is_flat_without_a_leak_and_climbs_at_the_leak_with_one() {
        for seed in 0..20 {
            let flat = spec(ChurnShape::Sawtooth, 0.0)
                .run(seed)
                .envelopes()
                .unwrap();
            assert_eq!(flat.periods, 20);
            // 64 KiB noise: the floor's slope over 10 s is within 5 % of the leak of 0.
            assert!(within(flat.lower.slope, 0.0, 0.05 * LEAK), "{flat:?}");
            let leaky = spec(ChurnShape::Sawtooth, LEAK)
                .run(seed)
                .envelopes()
                .unwrap();
            assert!(within(leaky.lower.slope, LEAK, 0.1 * LEAK), "{leaky:?}");
            assert!(within(leaky.upper.slope, LEAK, 0.1 * LEAK), "{leaky:?}");
            // The peaks sit a whole amplitude above the floor, give or take the cycles'
            // jitter (±2 % of 32 MiB).
            assert!(leaky.scatter() < MIB, "{leaky:?}");
        }
    }

    #[test]
    fn a_pinned_cap_keeps_its_peaks_flat_while_its_troughs_climb() {
        for seed in 0..20 {
            let run = spec(ChurnShape::PinnedCap, LEAK).run(seed);
            let e = run.envelopes().unwrap();
            assert!(within(e.upper.slope, 0.0, 0.05 * LEAK), "{e:?}");
            assert!(within(e.lower.slope, LEAK, 0.1 * LEAK), "{e:?}");
            // The cap: base + amplitude + leak × duration, to the noise.
            let peak = run.y.iter().copied().fold(f64::MIN, f64::max);
            let cap = 256.0 * MIB + 32.0 * MIB + LEAK * 10.0;
            assert!((peak - cap).abs() < 512.0 * KIB, "{peak} vs {cap}");
            let flat = spec(ChurnShape::PinnedCap, 0.0)
                .run(seed)
                .envelopes()
                .unwrap();
            assert!(within(flat.upper.slope, 0.0, 0.05 * LEAK), "{flat:?}");
            assert!(within(flat.lower.slope, 0.0, 0.05 * LEAK), "{flat:?}");
        }
    }

    #[test]
    fn every_shape_keeps_its_floor_at_the_live_heap() {
        for shape in ChurnShape::ALL {
            for leak in [0.0, LEAK] {
                let run = ChurnSpec {
                    noise_sd: 0.0,
                    ..spec(shape, leak)
                }
                .run(7);
                let e = run.envelopes().unwrap();
                assert!(within(e.lower.slope, leak, 0.1 * LEAK), "{shape:?} {e:?}");
                // Noiseless: the floor is a straight line, to the page and to where the
                // sampler catches each trough (up to one interval late).
                assert!(e.lower.scatter < 1.5 * MIB, "{shape:?} {e:?}");
                if shape == ChurnShape::GcLike {
                    // Irregular cycles, 20 of them in the run; under a leak the peaks
                    // (a share above the live heap) climb faster than the troughs.
                    let lengths: Vec<f64> = run.cycles.windows(2).map(|w| w[1] - w[0]).collect();
                    let (short, long) = lengths
                        .iter()
                        .fold((f64::MAX, 0.0f64), |(a, b), &l| (a.min(l), b.max(l)));
                    assert!(short < 0.95 * 0.5 && long > 1.05 * 0.5, "{lengths:?}");
                    if leak > 0.0 {
                        assert!(e.upper.slope > e.lower.slope, "{e:?}");
                    }
                }
                assert_eq!(e.periods, 20, "{shape:?}");
                assert_eq!(run.cycles.len(), 21, "{shape:?}");
                assert_eq!(*run.cycles.last().unwrap(), spec(shape, leak).duration_s());
            }
        }
    }

    #[test]
    fn samples_follow_the_rate_from_a_random_phase() {
        for rate_hz in [20.0, 200.0] {
            let dt = 1.0 / rate_hz;
            let s = ChurnSpec {
                rate_hz,
                ..ChurnSpec::example()
            };
            let mut phases = Vec::new();
            for seed in 0..200 {
                let run = s.run(seed);
                assert_eq!(run.x[0], run.first_sample_s);
                assert!((0.0..dt).contains(&run.first_sample_s));
                assert!(run.x.windows(2).all(|w| ((w[1] - w[0]) - dt).abs() < 1e-9));
                let last = *run.x.last().unwrap();
                assert!(last <= s.duration_s() && last + dt > s.duration_s());
                assert_eq!(run.x.len(), run.y.len());
                assert!(run.y.iter().all(|v| (v / PAGE).fract() == 0.0));
                phases.push(run.first_sample_s / dt);
            }
            // Uniform over the interval: a quarter of them in each quarter, roughly.
            for q in 0..4 {
                let inside = phases
                    .iter()
                    .filter(|&&p| (q as f64 / 4.0..(q + 1) as f64 / 4.0).contains(&p))
                    .count();
                assert!(
                    (30..=70).contains(&inside),
                    "{rate_hz} Hz: {inside} in quarter {q}"
                );
            }
            assert_eq!(s.run(3), s.run(3), "deterministic");
        }
    }

    #[test]
    fn jittered_cycles_are_caught_at_wandering_phases() {
        // At 20 Hz a 0.05 s sawtooth is sampled about once a cycle. Exact cycles would
        // be caught at one phase, always; cycles whose lengths vary by ±2 % (±1 ms) are
        // caught at phases that wander, a random walk of a few milliseconds over 60.
        let s = ChurnSpec {
            period_s: 0.05,
            periods: 60,
            noise_sd: 0.0,
            ..ChurnSpec::example()
        };
        let run = s.run(1);
        let lengths: Vec<f64> = run.cycles.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(lengths.len(), 60);
        for l in &lengths {
            assert!((l / 0.05 - 1.0).abs() <= 1.01 * CYCLE_JITTER + 1e-9, "{l}");
        }
        let phases: Vec<f64> = run
            .x
            .iter()
            .map(|&t| {
                let j = run.cycles.partition_point(|&c| c <= t).saturating_sub(1);
                (t - run.cycles[j]) / 0.05
            })
            .collect();
        let (lo, hi) = phases
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &p| (a.min(p), b.max(p)));
        assert!(hi - lo > 0.05, "phases {lo}..{hi}");
    }

    #[test]
    fn person_decides_by_periods_and_scatter() {
        let line = |scatter| EnvelopeLine {
            slope: 0.0,
            scatter,
        };
        let e = |periods, scatter| Envelopes {
            periods,
            lower: line(scatter),
            upper: line(scatter),
        };
        // 10 s at 1 MiB/s allows 10 MiB: the bound is 1 MiB.
        assert!(e(4, 0.9 * MIB).person_decides(MIB, 10.0));
        assert!(!e(4, 1.1 * MIB).person_decides(MIB, 10.0));
        assert!(!e(3, 0.0).person_decides(MIB, 10.0));
    }

    #[test]
    fn the_timed_gate_fails_a_clear_leak_and_passes_a_flat_line() {
        use crate::sim::gate_run_timed;
        use crate::{Budget, BudgetKind, LookPlan, Outcome, XUnit};
        let budget = Budget::parse("t.slope", BudgetKind::Slope, "1 MiB/s").unwrap();
        let plan = LookPlan {
            unit: XUnit::Second,
            min: 5.0,
            max: 20.0,
            confidence: 0.99,
        };
        let line = |leak| {
            ChurnSpec {
                amplitude: 0.0,
                leak_per_s: leak,
                periods: 20,
                ..ChurnSpec::example()
            }
            .run(0)
        };
        let leaky = line(4.0 * MIB);
        let run = gate_run_timed(&leaky.x, &leaky.y, &plan, &budget).unwrap();
        assert_eq!(run.outcome, Outcome::Fail);
        assert!(run.length_s < 20.0, "{run:?}");
        let flat = line(0.0);
        let run = gate_run_timed(&flat.x, &flat.y, &plan, &budget).unwrap();
        assert_eq!(run.outcome, Outcome::Pass, "{run:?}");
        assert!(run.length_s >= 5.0, "{run:?}");
        // Too few samples for any look: undecided, not an error.
        let run = gate_run_timed(&flat.x[..2], &flat.y[..2], &plan, &budget).unwrap();
        assert_eq!(run.outcome, Outcome::Undecided);
    }
}
