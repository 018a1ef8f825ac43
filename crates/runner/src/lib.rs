//! leakcheck-runner: spawns a scenario, samples it from outside, merges its marks
//! and samples into one [`Timeline`], streams that to `samples.jsonl`, and stops the
//! child on timeouts, hangs and memory ceilings. Also loads `leakcheck.toml`.
//!
//! * [`run()`]: spawn, watch and stop one command ([`RunSpec`] -> [`RunOutcome`]).
//! * [`timeline`]: the merged [`Timeline`], its series, and the `samples.jsonl` format.
//! * [`read_samples`]: rebuild a [`Timeline`] from `samples.jsonl` offline.
//! * [`config`]: `leakcheck.toml` ([`load_config`]), scenarios and their budgets.

pub mod config;
mod gpu;
pub mod run;
pub mod samples;
pub mod timeline;
pub mod units;

pub use config::{
    Config, ConfigError, Location, MetricBudget, ScenarioConfig, Settings, load_config,
};
pub use run::{Event, RunError, RunOutcome, RunSpec, Termination, run, run_build, run_with};
pub use samples::{RecordedRun, read_run, read_samples};
pub use timeline::{
    GpuRecord, HelloRecord, MarkRecord, Record, SessionRecord, Timeline, TreeRecord, XAxis,
};
