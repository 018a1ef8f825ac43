//! leakcheck-summary: what a judged run says, as data and as words, apart from how it is
//! drawn or rendered.
//!
//! * [`model`]: the view model of a scenario (`ScenarioReport`, `MetricReport`,
//!   `BudgetCheck`, …), the [`Overall`] verdict and the `summary.json` schema it is
//!   written as ([`SCHEMA_VERSION`]);
//! * [`stats`]: the numbers behind each metric's verdicts, as the file writes them (the
//!   file's own types, copied from the analysis by the judge);
//! * [`words`]: the wording of every check line and headline, the one place numbers
//!   become sentences (numbers themselves are written by `leakcheck_vocab::fmt`);
//! * [`files`]: writing a file whole or not at all.
//!
//! The judge fills the model and words it; `leakcheck-report` renders it (summary.md,
//! plots, junit, html). This crate links no plotting or image crate, so the judge and
//! attribution, which only need the model, do not either.

pub mod files;
pub mod model;
pub mod stats;
pub mod words;

pub use files::{Destination, destination, tmp_path, write_atomically, write_through};
pub use model::*;
