//! The one error type of the analysis (budget parsing has its own, see `budget`).

/// Why a series or an analysis request was refused. Messages are lowercase,
/// quote the bad value and say what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalysisError {
    #[error("x has {x} values but y has {y}: a series needs one y per x")]
    LengthMismatch { x: usize, y: usize },
    #[error("{axis}[{index}] is {value}: expected a finite number within ±1e18")]
    NonFinite {
        axis: &'static str,
        index: usize,
        value: f64,
    },
    #[error(
        "x[{index}] = {value} is not greater than x[{prev_index}] = {prev}: x must be strictly increasing"
    )]
    NotIncreasing {
        index: usize,
        prev_index: usize,
        value: f64,
        prev: f64,
    },
    #[error("metric {metric:?} has {n} points after the warm-up cut: at least {min} are needed")]
    TooFewPoints {
        metric: String,
        n: usize,
        min: usize,
    },
    #[error("invalid option {name} = {value}: expected {expected}")]
    InvalidOption {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error(
        "session start {value} (#{index}) is not finite or not increasing: expected increasing x values"
    )]
    InvalidSessions { index: usize, value: f64 },
    #[error(
        "metric {metric:?}: the statistics overflowed ({what} is not finite); the values are too large or too close in x"
    )]
    NumericalOverflow { metric: String, what: &'static str },
}
