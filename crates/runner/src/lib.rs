//! leakcheck-runner: spawns a scenario, samples it from outside, merges its marks
//! and samples into one [`Timeline`], streams that to `samples.jsonl`, and stops the
//! child on timeouts, hangs, memory ceilings, cancellation and an early-stop check.
//! Also loads `leakcheck.toml`.
//!
//! * [`run()`] / [`run_with`]: spawn, watch and stop one command ([`RunSpec`] ->
//!   [`RunOutcome`]); the modules behind it are [`spec`] (inputs and outputs),
//!   `spawn` (the child and its guard), `sampling` (wire reader and outside sampler
//!   threads), `watch` (the merging and stopping thread) and `writer` (samples.jsonl).
//! * [`config`]: `leakcheck.toml` ([`load_config`]), scenarios and their budgets.
//!
//! The record types and the [`Timeline`] live in `leakcheck-records`, shared with the judge.

pub mod config;
mod gpu;
mod observe;
mod run;
mod sampling;
mod spawn;
pub mod spec;
pub mod supervise;
mod target;
pub mod units;
mod writer;

pub use config::{
    Attribute, AttributionConfig, Config, ConfigError, Location, MetricBudget, Ratchet,
    ScenarioConfig, Settings, load_config,
};
pub use leakcheck_records::{Termination, Timeline};
pub use observe::{EARLY_STOP_INTERVAL, observe};
pub use run::{run, run_with};
pub use spawn::run_build;
pub use spec::{Event, RunError, RunOutcome, RunSpec, SAMPLES_FILE, StopRequest};
pub use supervise::{Mirror, SUPERVISE_ARG, supervise};
pub use target::Target;
