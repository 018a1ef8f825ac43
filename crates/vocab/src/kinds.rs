//! The small enums every layer shares.

use serde::{Deserialize, Serialize};

/// What x counts: rates (slopes, budgets) are per one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XUnit {
    /// Iteration numbers from the program's marks.
    Iteration,
    /// Seconds since the program was spawned (a program that never marks).
    Second,
}

impl XUnit {
    /// The short suffix used in rates: `iter` or `s`.
    pub fn suffix(self) -> &'static str {
        match self {
            XUnit::Iteration => "iter",
            XUnit::Second => "s",
        }
    }

    /// Axis caption of plots.
    pub fn caption(self) -> &'static str {
        match self {
            XUnit::Iteration => "iteration",
            XUnit::Second => "time (s)",
        }
    }

    /// The plural noun for "about N more …" advice.
    pub fn plural(self) -> &'static str {
        match self {
            XUnit::Iteration => "iterations",
            XUnit::Second => "seconds",
        }
    }
}

impl std::fmt::Display for XUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            XUnit::Iteration => "iteration",
            XUnit::Second => "second",
        })
    }
}

/// What the y values of a metric are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueUnit {
    /// Bytes: shown as KiB/MiB/GiB.
    #[default]
    Bytes,
    /// A plain count (objects, blocks, handles, …): shown with SI prefixes.
    Count,
}

/// What a budget limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetKind {
    /// Growth rate after warm-up (per iteration or per second).
    Slope,
    /// Total growth after warm-up: fitted slope × x span.
    Growth,
    /// Highest sample of the whole series.
    Peak,
    /// Level at the start of the last session minus at the start of the first.
    Retained,
}

impl BudgetKind {
    /// Every kind, in the order configs and reports list them.
    pub const ALL: [BudgetKind; 4] = [
        BudgetKind::Slope,
        BudgetKind::Growth,
        BudgetKind::Peak,
        BudgetKind::Retained,
    ];

    /// The config key of this kind: `slope`, `growth`, `peak`, `retained`.
    pub const fn as_str(self) -> &'static str {
        match self {
            BudgetKind::Slope => "slope",
            BudgetKind::Growth => "growth",
            BudgetKind::Peak => "peak",
            BudgetKind::Retained => "retained",
        }
    }

    /// The kind named by a config key, if any.
    pub fn from_key(key: &str) -> Option<BudgetKind> {
        BudgetKind::ALL.into_iter().find(|k| k.as_str() == key)
    }
}

/// The outcome of one budget check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The upper confidence bound is within budget.
    Pass,
    /// The lower confidence bound is above the budget.
    Fail,
    /// The interval straddles the budget, or there is too little data.
    Undecided,
}

impl Outcome {
    /// Lower-case word for tables and terminal lines.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Undecided => "undecided",
        }
    }
}

/// What a difference says, B against A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// B is lower by more than the tolerance, with confidence.
    Better,
    /// B is higher by more than the tolerance, with confidence.
    Worse,
    /// Neither: the interval reaches within the tolerance of no change.
    NoSignificantDifference,
    /// No interval to judge by (a run too short for a fit, a metric missing its bounds).
    Undecided,
}

impl Change {
    /// The verdict as the reports write it.
    pub fn word(self) -> &'static str {
        match self {
            Change::Better => "better",
            Change::Worse => "worse",
            Change::NoSignificantDifference => "no significant difference",
            Change::Undecided => "undecided",
        }
    }

    /// How bad, for combining verdicts: worse, undecided, better, no difference.
    fn rank(self) -> u8 {
        match self {
            Change::NoSignificantDifference => 0,
            Change::Better => 1,
            Change::Undecided => 2,
            Change::Worse => 3,
        }
    }

    /// The verdict of several: any worse is worse, then any undecided, then any better.
    pub fn combine(changes: impl IntoIterator<Item = Change>) -> Change {
        changes
            .into_iter()
            .max_by_key(|c| c.rank())
            .unwrap_or(Change::NoSignificantDifference)
    }
}

/// Why a budget check came out as it did, besides its interval: the analysis and the
/// judge say it as data, the report words it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CheckReason {
    /// The interval (or the point value) decided it.
    Decided,
    /// Fewer points after the warm-up cut than a slope or growth verdict needs.
    TooFewPoints { points: usize },
    /// The interval straddles the limit.
    Straddles,
    /// A retained budget on a series with fewer than two sessions.
    NoSessions,
    /// A rate budget per one x unit on a series per the other.
    UnitMismatch { series: XUnit },
    /// The run never reported the metric; the hint says why or how to get it.
    NoData { hint: String },
    /// The analysis refused the series (the error says why).
    AnalysisFailed { error: String },
    /// Within the budget, but the run ended at `length` (in the series' x unit), short of
    /// the `min` a pass needs (`--min-iterations`, `--min-duration`): undecided.
    BelowMinimum { length: f64, min: f64 },
    /// Within the budget by its fit, but the series gave back `fall` (more than the budget
    /// allows over the run) without [`MIN_PERIODS_SHOWN`] whole periods of a cycle to judge
    /// its envelopes by: cycles longer than the run can show.
    GaveBack { fall: f64 },
}

/// Whole periods a churning series must show before its envelopes judge it.
pub const MIN_PERIODS_SHOWN: usize = 4;

/// Which envelope of a churning series a verdict rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Envelope {
    /// The minimum of each period: the live heap, what a leak lifts.
    Lower,
    /// The maximum of each period.
    Upper,
    /// The mean of each period.
    Mean,
}

impl Envelope {
    /// For people: "troughs", "peaks", "per-period means".
    pub fn name(self) -> &'static str {
        match self {
            Envelope::Lower => "troughs",
            Envelope::Upper => "peaks",
            Envelope::Mean => "per-period means",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_are_the_documented_ones() {
        let json = |v: &dyn erased::Ser| v.json();
        assert_eq!(json(&XUnit::Iteration), "\"iteration\"");
        assert_eq!(json(&XUnit::Second), "\"second\"");
        assert_eq!(json(&BudgetKind::Retained), "\"retained\"");
        assert_eq!(json(&Outcome::Undecided), "\"undecided\"");
        assert_eq!(json(&ValueUnit::Count), "\"count\"");
        for kind in BudgetKind::ALL {
            assert_eq!(BudgetKind::from_key(kind.as_str()), Some(kind));
        }
        assert_eq!(BudgetKind::from_key("slopes"), None);
    }

    mod erased {
        pub trait Ser {
            fn json(&self) -> String;
        }
        impl<T: serde::Serialize> Ser for T {
            fn json(&self) -> String {
                serde_json::to_string(self).unwrap()
            }
        }
    }
}
