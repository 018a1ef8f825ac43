//! leakcheck-vocab: the shared vocabulary of the workspace, defined once.
//!
//! Every crate that speaks of an axis unit ([`XUnit`]), a value unit ([`ValueUnit`]), a
//! budget kind ([`BudgetKind`]), a budget outcome ([`Outcome`]) or the way a run ended
//! ([`Termination`], [`RunEnding`]) imports it from here, and every number shown to a
//! person goes through [`fmt`]: the report, the runner's messages and the workloads say
//! the same number the same way.
//!
//! This crate depends on nothing of ours; it holds types, their serde names and their
//! wording, no logic.

pub mod ending;
pub mod exit_code;
pub mod fmt;
mod kinds;
mod look;
pub mod names;

pub use ending::{RunEnding, Termination};
pub use kinds::{
    BudgetKind, Change, CheckReason, Envelope, MIN_PERIODS_SHOWN, Outcome, ValueUnit, XUnit,
};
pub use look::Look;
