//! The memory sources the runner samples beside the process tree, as data: each is a
//! [`Source`] (its name, the metrics it reads, how to open it for a pid), registered once
//! in [`SOURCES`]. Their readings go into each outside sample's named `stats` map, so the
//! records, the series and budgets need no code for a new one: add a file here, declare
//! it below and list its `SOURCE`.

use crate::sampler::{SampleError, Sampler};

pub mod cgroup;
pub mod status;

/// One memory source: what it is called, which metrics it reads, how it is opened.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    /// Short name for messages (`procfs-status`, `cgroup`).
    pub name: &'static str,
    /// Every metric its readings may carry (budgets on them are accepted).
    pub metrics: &'static [&'static str],
    /// Opens it for the observed program `pid`; [`SampleError::Unavailable`] when it
    /// cannot be read here (no cgroup filesystem, …), which leaves it out of the run.
    pub open: fn(pid: u32) -> Result<Box<dyn Sampler>, SampleError>,
}

/// Every registered source, in the order their metrics are listed.
pub const SOURCES: &[Source] = &[status::SOURCE, cgroup::SOURCE];

/// The metrics of every registered source, in [`SOURCES`] order.
pub fn metrics() -> impl Iterator<Item = &'static str> {
    SOURCES.iter().flat_map(|s| s.metrics.iter().copied())
}

/// The sources that open for `pid`, and why each other one does not.
pub fn open_all(pid: u32) -> (Vec<Box<dyn Sampler>>, Vec<String>) {
    let (mut open, mut unavailable) = (Vec::new(), Vec::new());
    for source in SOURCES {
        match (source.open)(pid) {
            Ok(sampler) => open.push(sampler),
            Err(e) => unavailable.push(format!("{}: {e}", source.name)),
        }
    }
    (open, unavailable)
}
