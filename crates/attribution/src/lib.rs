//! Where memory grows: the allocation sites behind a failing budget, measured.
//!
//! Two sources, one result ([`leakcheck_summary::Attribution`]):
//!
//! - **dhat** (Rust scenarios built with `dhat-heap`): the same run at two lengths
//!   N₁ < N₂, each profile stopped right after its last iteration
//!   (`leakcheck_probe::heap_profile`). A site's growth per iteration is
//!   (bytes live at the end of N₂ − at the end of N₁) / (N₂ − N₁): what the loop keeps,
//!   with what every run holds anyway (start-up, caches at their bound) cancelled out.
//!   Each allocation's stack is folded to its innermost frame inside the workspace.
//! - **tracemalloc** (Python programs marking with the client): the client compares
//!   two snapshots itself and sends the growing lines; this crate turns bytes into
//!   bytes per mark.
//!
//! Pure: the caller reads the files and hands over their text.

mod dhat;

pub use dhat::{DhatProfile, Frame, parse_dhat};

use leakcheck_records::AttributionRecord;
use leakcheck_summary::{Attribution, AttributionPass, AttributionSite};

/// A profile that cannot be used, in words.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AttributionError {
    #[error("not a dhat heap profile: {0}")]
    NotDhat(String),
    #[error("the two passes have the same length ({0}): no growth to measure")]
    SameLength(u64),
    /// Seen when the binary was rebuilt while its pass ran: dhat then resolves its
    /// frames against a file that is gone and writes stacks without a source line.
    #[error(
        "dhat's profile holds {bytes} live bytes but names no line of the workspace's sources: the binary's debug info could not be read (built without debuginfo, or replaced while the pass ran)"
    )]
    Unsymbolized { bytes: u64 },
}

/// Sites adding less than this part of the listed total are noise and left out.
pub const MIN_SHARE_OF_TOTAL: f64 = 0.002;

/// At most this many sites are kept (reports show the first ten).
pub const MAX_SITES: usize = 50;

/// What the shares are measured against: the judged run's growth of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub metric: String,
    /// Bytes per iteration (or per session for a retained budget).
    pub rate: f64,
}

/// The growth per unit of length of each site between two dhat profiles of the same
/// program, `short` of `n_short` and `long` of `n_long` iterations (or sessions).
pub fn dhat_growth(
    short: &DhatProfile,
    n_short: u64,
    long: &DhatProfile,
    n_long: u64,
) -> Result<Vec<AttributionSite>, AttributionError> {
    if n_long == n_short {
        return Err(AttributionError::SameLength(n_short));
    }
    let (short, long, n_short, n_long) = if n_long > n_short {
        (short, long, n_short, n_long)
    } else {
        (long, short, n_long, n_short)
    };
    let span = (n_long - n_short) as f64;
    let mut sites: Vec<AttributionSite> = long
        .sites
        .iter()
        .map(|(location, site)| {
            let before = short.sites.get(location).map_or(0, |s| s.bytes) as f64;
            AttributionSite {
                location: location.clone(),
                function: site.function.clone(),
                bytes_per_iter: (site.bytes as f64 - before) / span,
                share: f64::NAN,
                stack: site.stack.clone(),
            }
        })
        .collect();
    keep_growing(&mut sites);
    Ok(sites)
}

/// The sites of the client's last `attribution` message, per mark, with paths made
/// relative to `base` when they lie under it.
pub fn client_sites(record: &AttributionRecord, base: &str) -> Vec<AttributionSite> {
    let marks = record.marks.max(1) as f64;
    let relative = |path: &str| {
        path.strip_prefix(base)
            .map(|p| p.trim_start_matches('/').to_owned())
            .unwrap_or_else(|| path.to_owned())
    };
    let mut sites: Vec<AttributionSite> = record
        .sites
        .iter()
        .map(|s| AttributionSite {
            location: relative(&s.location),
            function: s.function.clone(),
            bytes_per_iter: s.bytes as f64 / marks,
            share: f64::NAN,
            stack: s.stack.iter().map(|f| relative(f)).collect(),
        })
        .collect();
    keep_growing(&mut sites);
    sites
}

/// Largest first, without the sites that shrank or add ~nothing.
fn keep_growing(sites: &mut Vec<AttributionSite>) {
    sites.retain(|s| s.bytes_per_iter > 0.0);
    sites.sort_by(|a, b| b.bytes_per_iter.total_cmp(&a.bytes_per_iter));
    let total: f64 = sites.iter().map(|s| s.bytes_per_iter).sum();
    sites.retain(|s| s.bytes_per_iter >= MIN_SHARE_OF_TOTAL * total);
    sites.truncate(MAX_SITES);
}

/// The report's attribution: `sites` with their share of `measured`.
pub fn attribution(
    method: &str,
    per: &str,
    passes: Vec<AttributionPass>,
    mut sites: Vec<AttributionSite>,
    measured: Option<&Measured>,
) -> Attribution {
    if let Some(m) = measured.filter(|m| m.rate.is_finite() && m.rate > 0.0) {
        for s in &mut sites {
            s.share = s.bytes_per_iter / m.rate;
        }
    }
    Attribution {
        method: method.to_owned(),
        passes,
        per: per.to_owned(),
        metric: measured.map(|m| m.metric.clone()),
        measured: measured.map(|m| m.rate),
        sites,
        unavailable: None,
    }
}

/// The report's attribution when the pass could not run or measure: says why.
pub fn unavailable(
    method: &str,
    per: &str,
    passes: Vec<AttributionPass>,
    why: String,
) -> Attribution {
    Attribution {
        method: method.to_owned(),
        passes,
        per: per.to_owned(),
        metric: None,
        measured: None,
        sites: Vec::new(),
        unavailable: Some(why),
    }
}
