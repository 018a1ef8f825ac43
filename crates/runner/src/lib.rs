//! leakcheck-runner: gets a target (spawns a scenario, or attaches to a running pid),
//! samples it from outside, merges its marks and samples into one [`Timeline`], streams
//! that to `samples.jsonl`, and stops it on timeouts, hangs, memory ceilings,
//! cancellation and an early-stop check.
//!
//! * [`run()`] / [`run_with`]: spawn, observe and stop one command ([`RunSpec`] ->
//!   [`RunOutcome`]); [`observe`]: the same observer on a [`Target`] from anywhere, picked
//!   by pid or command line with [`find`]. The
//!   modules behind them are [`spec`] (inputs and outputs), `spawn` (the child and its
//!   guard), `target`, `sampling` (wire reader and outside sampler threads), `observe`
//!   (the merging and stopping loop) and `writer` (samples.jsonl).
//!
//! `leakcheck.toml` and budgets are `leakcheck-settings`'; the runner knows neither.
//!
//! The record types and the [`Timeline`] live in `leakcheck-records`, shared with the judge.

pub mod find;
mod gpu;
pub mod limit;
mod observe;
mod run;
mod sampling;
mod spawn;
pub mod spec;
pub mod supervise;
mod target;
mod writer;

pub use leakcheck_records::{Termination, Timeline};
pub use observe::{EARLY_STOP_INTERVAL, observe};
pub use run::{run, run_with};
pub use spawn::run_build;
pub use spec::{Event, RunError, RunOutcome, RunSpec, SAMPLES_FILE, StopRequest};
pub use supervise::{Mirror, SUPERVISE_ARG, supervise};
pub use target::Target;
