//! Which process of a tree grows: its processes grouped in roles (one command line at one
//! depth below the root, so the workers a job re-forks every epoch stay one role), each
//! role's mean RSS fitted as a metric's series is, and the roles ranked by their slope.

use std::collections::{BTreeMap, HashMap};

use leakcheck_analysis::{AnalysisOptions, Series, XUnit, analyze_metric};
use leakcheck_records::Timeline;
use leakcheck_summary::ProcessRole;

/// Fewest per-process samples a role is fitted on (one every `PROCS_INTERVAL_S`).
const MIN_POINTS: usize = 10;

/// Deepest parent chain followed (a loop in a garbled file ends there).
const MAX_DEPTH: u32 = 64;

/// A role as it is gathered: its pids and its mean RSS over time.
#[derive(Default)]
struct Gathered {
    pids: Vec<u32>,
    at_once: u32,
    x: Vec<f64>,
    y: Vec<f64>,
}

/// The roles of a tree of two or more processes, fastest growing first; empty for a lone
/// process (its own line is the `rss` metric's) or too few per-process samples.
pub(crate) fn rank(timeline: &Timeline, confidence: f64) -> Vec<ProcessRole> {
    let mut known: HashMap<u32, (u32, &str)> = HashMap::new();
    for p in &timeline.processes {
        known.entry(p.pid).or_insert((p.ppid, p.command.as_str()));
    }
    if known.len() < 2 {
        return Vec::new();
    }
    let depth = |pid: u32| {
        let (mut at, mut d) = (pid, 0);
        while let Some(&(ppid, _)) = known.get(&at) {
            if !known.contains_key(&ppid) || d >= MAX_DEPTH {
                break;
            }
            (at, d) = (ppid, d + 1);
        }
        d
    };
    // Each pid's role, once: the samples name the same pids over and over.
    let role_of: HashMap<u32, (u32, &str)> = known
        .iter()
        .map(|(&pid, &(_, command))| (pid, (depth(pid), command)))
        .collect();
    let mut roles: BTreeMap<(u32, &str), Gathered> = BTreeMap::new();
    for sample in &timeline.procs {
        let mut sums: BTreeMap<(u32, &str), (f64, u32)> = BTreeMap::new();
        for &(pid, rss) in &sample.rss {
            let Some(&role) = role_of.get(&pid) else {
                continue;
            };
            let g = roles.entry(role).or_default();
            if !g.pids.contains(&pid) {
                g.pids.push(pid);
            }
            let sum = sums.entry(role).or_default();
            *sum = (sum.0 + rss as f64, sum.1 + 1);
        }
        for (role, (sum, n)) in sums {
            let g = roles.entry(role).or_default();
            g.at_once = g.at_once.max(n);
            g.x.push(sample.t_s);
            g.y.push(sum / f64::from(n));
        }
    }
    let options = AnalysisOptions {
        confidence,
        x_unit: XUnit::Second,
        ..AnalysisOptions::default()
    };
    let mut ranked: Vec<ProcessRole> = roles
        .into_iter()
        .filter(|(_, g)| g.x.len() >= MIN_POINTS)
        .filter_map(|((depth, command), g)| {
            let series = Series::new(g.x, g.y).ok()?;
            let a = analyze_metric(command, &series, &[], &[], &options).ok()?;
            Some(ProcessRole {
                command: command.to_string(),
                depth,
                pids: g.pids,
                at_once: g.at_once,
                slope: a.theil_sen.slope,
                lo: a.theil_sen.lo,
                hi: a.theil_sen.hi,
                confidence: a.theil_sen.confidence,
                shape: a.shape.to_string(),
            })
        })
        .collect();
    ranked.sort_by(|a, b| b.slope.total_cmp(&a.slope));
    ranked
}
