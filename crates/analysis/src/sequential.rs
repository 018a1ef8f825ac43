//! Sequential decisions: judging a run while it goes, without inflating false alarms.
//!
//! A run may be looked at several times (at "looks"), and stopped at the first look where
//! every budget is decided. Judging each look at the full 99 % would make a false verdict
//! likelier with every look. So the error α = 1 − confidence is *spent* across the looks
//! (Lan & DeMets 1983, "Discrete sequential boundaries for clinical trials", *Biometrika*
//! 70(3)) with the Pocock-type spending function
//!
//! ```text
//! α*(t) = α · ln(1 + (e − 1) · t),   t = length / maximum length
//! ```
//!
//! and look k is judged at the confidence `1 − (α*(t_k) − α*(t_{k−1}))`. The increments sum
//! to α, so by the union bound the chance that *any* look decides wrongly is at most α,
//! whatever the correlation between looks (exact group-sequential boundaries would be a
//! little narrower; this is the conservative form). The last look, at the maximum or where
//! the run ended, spends what is left. Pocock's shape spends early, which is what a leak
//! gate wants: a clear leak stops within the first looks; O'Brien–Fleming's shape would
//! keep almost all of α for the end.
//!
//! A watched job has no maximum length ([`LookPlan::open_ended`], `max` infinite): its looks
//! start at its minimum and go on along the same grid for as long as the watch lasts, and look k spends
//! `α / (k (k + 1))`, so that the looks made up to look k have spent `α · k / (k + 1)` and
//! all of them together never more than α, however many there are: a union bound over an
//! unbounded sequence of looks, the discrete form of a stitched confidence sequence
//! (Howard, Ramdas, McAuliffe & Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic
//! confidence sequences", *Ann. Statist.* 49(2)), with geometric epochs of one look each.
//! The watch's end (the target exits, `--until` is reached, Ctrl-C) is a last look that
//! spends what is left, as a run's early end does.
//!
//! Looks sit on a geometric grid `minimum · 1.5^k` (few looks: each spends less the more
//! there are). Looks below the minimum length may only fail (a leak can be certain early;
//! a pass needs the minimum length, and the judge fails a run at an interim look only
//! on a metric shaped `leak`, whose second half confirms the growth); the grid starts at
//! [`FIRST_LOOK_ITERATIONS`] iterations ([`FIRST_LOOK_SECONDS`] seconds) or at 1/64 of
//! the maximum, whichever is more.

use serde::{Deserialize, Serialize};

pub use leakcheck_vocab::Look;
use leakcheck_vocab::{Outcome, XUnit};

/// Successive looks are this factor apart in length.
pub const LOOK_RATIO: f64 = 1.5;

/// No look before this many iterations.
pub const FIRST_LOOK_ITERATIONS: f64 = 30.0;

/// No look before this many seconds, unless the plan's minimum is shorter. A program's
/// cycles (an epoch of respawned workers, a collector's cycle, a cache flushed every few
/// seconds) last up to seconds; a look earlier than two cycles of 3 s may see one ramp and
/// nothing given back, which no test on that data can tell from a leak. At 1.5 s the
/// detection simulation's zero-leak sawtooth of 3 s periods failed every seed.
pub const FIRST_LOOK_SECONDS: f64 = 6.0;

/// How long a run may go and when it may be judged: lengths in iterations (marks) or
/// seconds since the start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LookPlan {
    pub unit: XUnit,
    /// A pass needs at least this length.
    pub min: f64,
    /// The run is stopped here, decided or not; infinite for a watch with no end set
    /// ([`LookPlan::open_ended`]), written as `null` in `judging.json`.
    #[serde(with = "max_or_open")]
    pub max: f64,
    /// The overall confidence the looks share (e.g. 0.99).
    pub confidence: f64,
}

impl LookPlan {
    /// A plan without a maximum, for a watch: looks go on until the watch ends, and may
    /// pass from `min` on.
    pub fn open_ended(unit: XUnit, min: f64, confidence: f64) -> LookPlan {
        LookPlan {
            unit,
            min,
            max: f64::INFINITY,
            confidence,
        }
    }

    /// No maximum: see [`LookPlan::open_ended`].
    pub fn is_open_ended(&self) -> bool {
        self.max == f64::INFINITY
    }

    /// The look grid, increasing, without end: powers of [`LOOK_RATIO`] through the
    /// minimum (the first look that may pass), from the first look's length on.
    fn grid(&self) -> impl Iterator<Item = f64> {
        let max = self.max.max(1e-9);
        let min = self.min.clamp(0.0, max);
        let first = match self.unit {
            XUnit::Iteration => FIRST_LOOK_ITERATIONS,
            XUnit::Second => FIRST_LOOK_SECONDS,
        };
        let anchor = if min > 0.0 { min } else { first.min(max) };
        // A watch decides nothing before its minimum: with no maximum to scale the first
        // looks by, looks below it would see one ramp of any cycle longer than them (a
        // 50 s allocator sawtooth failed every low-noise seed of the detection example's
        // watch at looks of 8 to 40 s).
        let floor = if self.is_open_ended() {
            anchor
        } else {
            first.max(max / 64.0).min(anchor)
        };
        // Powers of the ratio from the anchor, so that the anchor itself is exact.
        let below = (0..)
            .take_while(|&k| anchor / LOOK_RATIO.powi(k + 1) >= floor)
            .count() as i32;
        (-below..).map(move |k| anchor * LOOK_RATIO.powi(k))
    }

    /// The lengths of the looks, increasing, the last one the maximum; for an open-ended
    /// plan, the grid's looks below `through` (a watch's looks so far).
    pub fn lengths(&self) -> Vec<f64> {
        self.lengths_through(self.max)
    }

    fn lengths_through(&self, through: f64) -> Vec<f64> {
        let end = through.min(self.max);
        let mut out: Vec<f64> = self
            .grid()
            .take_while(|&length| length < end * (1.0 - 1e-9))
            .collect();
        if !self.is_open_ended() {
            out.push(self.max);
        }
        out
    }

    /// Interim look `index` (1-based), `None` past the last interim look of a plan with a
    /// maximum (the look at the maximum is the run's end, [`LookPlan::final_look`]).
    pub fn interim_look(&self, index: usize) -> Option<Look> {
        if self.is_open_ended() {
            let length = self.grid().nth(index.checked_sub(1)?)?;
            let alpha = 1.0 - self.confidence;
            let k = index as f64;
            return Some(Look {
                index,
                of: 0,
                length,
                unit: self.unit,
                confidence: 1.0 - alpha / (k * (k + 1.0)),
                may_pass: length >= self.min,
            });
        }
        let looks = self.looks();
        (index >= 1 && index < looks.len()).then(|| looks[index - 1])
    }

    /// α spent by length `length`.
    pub fn spent(&self, length: f64) -> f64 {
        let alpha = 1.0 - self.confidence;
        if self.is_open_ended() {
            // Looks 1..=k at or below `length` have spent α·k/(k+1).
            let k = self
                .grid()
                .take_while(|&l| l <= length * (1.0 + 1e-9))
                .count() as f64;
            return alpha * k / (k + 1.0);
        }
        let t = if self.max > 0.0 {
            (length / self.max).clamp(0.0, 1.0)
        } else {
            1.0
        };
        alpha * (1.0 + (std::f64::consts::E - 1.0) * t).ln()
    }

    /// Every look of the plan, with its confidence. The last spends all that is left.
    pub fn looks(&self) -> Vec<Look> {
        let lengths = self.lengths();
        let of = lengths.len();
        let mut before = 0.0;
        lengths
            .iter()
            .enumerate()
            .map(|(i, &length)| {
                let spent = if i + 1 == of {
                    1.0 - self.confidence
                } else {
                    self.spent(length)
                };
                let look = Look {
                    index: i + 1,
                    of,
                    length,
                    unit: self.unit,
                    confidence: 1.0 - (spent - before),
                    may_pass: length >= self.min,
                };
                before = spent;
                look
            })
            .collect()
    }

    /// The look at the end of a run of `length`, after the interim looks `done`: the
    /// plan's last look when the run reached the maximum, else a look at `length` that
    /// spends what those left, and may pass only at or past the minimum (a run that ended
    /// by itself sooner is too short to pass).
    pub fn final_look(&self, done: &[Look], length: f64) -> Look {
        if length >= self.max
            && let Some(last) = self.looks().last()
        {
            return *last;
        }
        let before = done.last().map_or(0.0, |l| self.spent(l.length));
        Look {
            index: done.len() + 1,
            of: if self.is_open_ended() {
                0
            } else {
                self.lengths().len()
            },
            length,
            unit: self.unit,
            confidence: self.confidence + before,
            may_pass: length >= self.min,
        }
    }
}

/// How far a look may trust that a metric's growth goes on
/// ([`crate::MetricAnalysis::steadiness`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steadiness {
    /// No leak a look may fail on: not shaped `leak`, or a transient that just ended, or a
    /// second half clearly slower.
    Unsteady,
    /// A leak whose second half keeps three quarters of the overall pace by its estimate,
    /// though its lower bound falls below half.
    Paced,
    /// A leak whose second half keeps half the pace by its lower bound.
    Sure,
}

/// What one look's checks say about the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookVerdict {
    /// A budget failed on a steady leak ([`Steadiness::Paced`] or better); `sure` when
    /// one such metric is [`Steadiness::Sure`].
    Fails { sure: bool },
    /// Every budget passed, and the look may pass.
    Passes,
    /// Neither: more data may decide.
    Open,
}

impl LookVerdict {
    /// Each check is `(how steady a leak its metric is, its outcome)`.
    pub fn of(
        checks: impl IntoIterator<Item = (Steadiness, Outcome)>,
        may_pass: bool,
    ) -> LookVerdict {
        let (mut any, mut all_pass, mut fails) = (false, true, None);
        for (steadiness, outcome) in checks {
            if outcome == Outcome::Fail && steadiness != Steadiness::Unsteady {
                let sure = steadiness == Steadiness::Sure;
                fails = Some(sure || fails.unwrap_or(false));
            }
            any = true;
            all_pass &= outcome == Outcome::Pass;
        }
        if let Some(sure) = fails {
            LookVerdict::Fails { sure }
        } else if may_pass && any && all_pass {
            LookVerdict::Passes
        } else {
            LookVerdict::Open
        }
    }
}

/// A fail is confirmed on this much more data (a look at the failing look's length ×
/// this factor, judged at the failing look's confidence). The detection simulation is the
/// check: with no confirmation a zero-leak sawtooth failed 20 % of the time (one ramp
/// read as a leak); at 2 a cache fill still rising at both looks failed nearly always; at
/// 1.25, with [`crate::MetricAnalysis::steady_leak`], none of 200 seeds in any cell did.
pub const CONFIRM_RATIO: f64 = 1.25;

/// The interim looks of one run, walked in order as the data reaches them; says which one
/// settles the verdict. A pass settles at once. A fail must be on a steady leak
/// ([`crate::MetricAnalysis::steadiness`]) and be confirmed on a quarter more data: a
/// look early in a run cannot tell a leak from one ramp of a cycle longer than its data
/// (an allocator sawtooth, an epoch's buffers) or from a cache still filling, and those
/// stop looking like a leak soon after. One of the two looks must be
/// [`Steadiness::Sure`]; the other may be [`Steadiness::Paced`]. At 55–66 iterations
/// the second half of the leaky loader's staircase (32 points, 10–20 MiB steps) often
/// kept its pace by the estimate but not by the lower bound at one of the two looks,
/// which sent 3 of 20 runs on to 123 iterations. Two `Paced` looks are not enough: a
/// second half's estimate alone let a zero-leak cache fill under 1 MiB noise fail 8 % of
/// the detection simulation's seeds; with one `Sure` look 2 %. The confirmation spends
/// no α: needing two rejections only lowers the false-alarm rate that the failing look's
/// share bounds.
///
/// The judge (offline and live) and the detection simulation all walk looks with this,
/// so they stop at the same look.
#[derive(Debug, Clone)]
pub struct LookWalk {
    plan: LookPlan,
    /// The look that confirms a fail, and whether that fail was sure.
    confirming: Option<(Look, bool)>,
    /// Interim looks of the plan judged so far (their α is spent).
    pub done: Vec<Look>,
}

impl LookWalk {
    /// The interim looks of `plan` (all but the last, at the maximum; all of an open-ended
    /// plan's, made as the data reaches them).
    pub fn new(plan: &LookPlan) -> LookWalk {
        LookWalk {
            plan: *plan,
            confirming: None,
            done: Vec::new(),
        }
    }

    /// The next look to judge once the data goes past its length.
    pub fn next_look(&self) -> Option<Look> {
        match self.confirming {
            Some((look, _)) => Some(look),
            None => self.plan.interim_look(self.done.len() + 1),
        }
    }

    /// Take the verdict of the look [`LookWalk::next_look`] gave; true when it settles
    /// the run.
    pub fn record(&mut self, verdict: LookVerdict) -> bool {
        if let Some((_, first_sure)) = self.confirming.take() {
            return matches!(verdict, LookVerdict::Fails { sure } if sure || first_sure);
        }
        let Some(look) = self.plan.interim_look(self.done.len() + 1) else {
            return false;
        };
        self.done.push(look);
        match verdict {
            LookVerdict::Passes => true,
            LookVerdict::Fails { sure } => {
                let length = look.length * CONFIRM_RATIO;
                if length < self.plan.max {
                    self.confirming = Some((Look { length, ..look }, sure));
                }
                false
            }
            LookVerdict::Open => false,
        }
    }
}

/// `judging.json` writes an open-ended plan's infinite maximum as `null`.
mod max_or_open {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(max: &f64, s: S) -> Result<S::Ok, S::Error> {
        match max.is_finite() {
            true => s.serialize_f64(*max),
            false => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SURE: LookVerdict = LookVerdict::Fails { sure: true };
    const PACED: LookVerdict = LookVerdict::Fails { sure: false };

    #[test]
    fn a_fail_settles_only_when_a_quarter_more_data_confirms_it() {
        let p = plan(500.0, 2000.0);
        let mut walk = LookWalk::new(&p);
        let first = walk.next_look().unwrap();
        assert!(!walk.record(SURE));
        let confirm = walk.next_look().unwrap();
        assert_eq!(confirm.length, first.length * CONFIRM_RATIO);
        assert_eq!(confirm.confidence, first.confidence);
        // Not confirmed: back to the plan's next look.
        assert!(!walk.record(LookVerdict::Open));
        assert_eq!(walk.next_look().unwrap().index, 2);
        assert!(!walk.record(SURE));
        assert!(walk.record(SURE));
        assert_eq!(walk.done.len(), 2, "confirmations spend nothing");

        use Steadiness::*;
        let fail_on_a_fill = [(Unsteady, Outcome::Fail), (Sure, Outcome::Pass)];
        assert_eq!(LookVerdict::of(fail_on_a_fill, true), LookVerdict::Open);
        assert_eq!(
            LookVerdict::of([(Sure, Outcome::Pass)], false),
            LookVerdict::Open
        );
        assert_eq!(
            LookVerdict::of([(Sure, Outcome::Pass)], true),
            LookVerdict::Passes
        );
        assert_eq!(LookVerdict::of([], true), LookVerdict::Open);
        let paced_and_sure = [(Paced, Outcome::Fail), (Sure, Outcome::Fail)];
        assert_eq!(LookVerdict::of(paced_and_sure, false), SURE);
        assert_eq!(LookVerdict::of([(Paced, Outcome::Fail)], false), PACED);
    }

    #[test]
    fn one_of_the_two_looks_of_a_fail_must_be_sure() {
        let p = plan(500.0, 2000.0);
        let settles = |first, then| {
            let mut walk = LookWalk::new(&p);
            assert!(!walk.record(first));
            walk.record(then)
        };
        assert!(settles(SURE, PACED));
        assert!(settles(PACED, SURE));
        assert!(settles(SURE, SURE));
        assert!(!settles(PACED, PACED));
        assert!(!settles(PACED, LookVerdict::Open));
    }

    fn plan(min: f64, max: f64) -> LookPlan {
        LookPlan {
            unit: XUnit::Iteration,
            min,
            max,
            confidence: 0.99,
        }
    }

    #[test]
    fn looks_spend_exactly_alpha_and_start_below_the_minimum() {
        let p = plan(200.0, 2000.0);
        let looks = p.looks();
        let lengths: Vec<u64> = looks.iter().map(|l| l.length.round() as u64).collect();
        assert_eq!(
            lengths,
            [40, 59, 89, 133, 200, 300, 450, 675, 1013, 1519, 2000]
        );
        let total: f64 = looks.iter().map(|l| 1.0 - l.confidence).sum();
        assert!((total - 0.01).abs() < 1e-12, "{total}");
        assert!(!looks[3].may_pass && looks[4].may_pass);
        // A fixed length: fail-only looks, then the run's own end.
        let fixed: Vec<u64> = plan(500.0, 500.0)
            .lengths()
            .iter()
            .map(|l| l.round() as u64)
            .collect();
        assert_eq!(fixed, [44, 66, 99, 148, 222, 333, 500]);
    }

    #[test]
    fn an_open_ended_plan_looks_without_end_and_never_spends_more_than_alpha() {
        let p = LookPlan::open_ended(XUnit::Second, 30.0, 0.99);
        let lengths: Vec<f64> = (1..=10)
            .map(|k| p.interim_look(k).unwrap().length)
            .collect();
        // From the minimum on: a watch decides nothing before it.
        let rounded: Vec<u64> = lengths.iter().map(|l| l.round() as u64).collect();
        assert_eq!(rounded, [30, 45, 68, 101, 152, 228, 342, 513, 769, 1153]);
        assert!(p.interim_look(1).unwrap().may_pass);
        // However many looks: 10,000 of them spend less than α, and the spending is
        // α·k/(k+1) after look k, as `spent` says at each look's length.
        let (mut total, mut walk) = (0.0, LookWalk::new(&p));
        for k in 1..=10_000 {
            let look = walk.next_look().unwrap();
            assert_eq!(look.index, k);
            total += 1.0 - look.confidence;
            assert!(!walk.record(LookVerdict::Open));
            if k <= 40 {
                let spent = p.spent(look.length);
                assert!(
                    (spent - total).abs() < 1e-12,
                    "look {k}: {spent} vs {total}"
                );
            }
        }
        assert!(total < 0.01 && total > 0.0099, "{total}");
        // A watch that ends between looks spends the rest there.
        let last = p.final_look(&walk.done[..5], 50.0);
        let first_five: f64 = walk.done[..5].iter().map(|l| 1.0 - l.confidence).sum();
        assert!((first_five + 1.0 - last.confidence - 0.01).abs() < 1e-12);
        assert_eq!((last.index, last.of), (6, 0));
        // judging.json writes the endless maximum as null and reads it back.
        let text = serde_json::to_string(&p).unwrap();
        assert!(text.contains(r#""max":null"#), "{text}");
        assert_eq!(serde_json::from_str::<LookPlan>(&text).unwrap(), p);
    }

    #[test]
    fn a_run_that_ends_early_spends_the_rest_at_its_end() {
        let p = plan(200.0, 2000.0);
        let looks = p.looks();
        let last = p.final_look(&looks[..5], 250.0);
        let total: f64 =
            looks[..5].iter().map(|l| 1.0 - l.confidence).sum::<f64>() + (1.0 - last.confidence);
        assert!((total - 0.01).abs() < 1e-12, "{total}");
        assert_eq!(last.index, 6);
    }
}
