//! Where a run is cut for a look of a sequential plan, and the levels measured at its
//! checkpoints: the parts of [`Timeline`] the judge's sequential looks and retained
//! memory read.

use leakcheck_probe::metrics;
use leakcheck_vocab::XUnit;

use crate::timeline::{CHECKPOINT_WINDOW_S, CheckpointRecord, Timeline, TreeRecord};

impl Timeline {
    /// How far the run got on `unit`: marks so far (iterations), or seconds to the last
    /// record (time).
    pub fn length(&self, unit: XUnit) -> f64 {
        match unit {
            XUnit::Iteration => self.marks.len() as f64,
            XUnit::Second => self
                .outside_ends()
                .into_iter()
                .chain([self.marks.last().map(|m| m.t_s)])
                .flatten()
                .fold(0.0, f64::max),
        }
    }

    /// The instant a look at `length` cuts the run at: the time of the `length`-th mark
    /// (iterations), or `length` seconds.
    pub fn cutoff_s(&self, unit: XUnit, length: f64) -> Option<f64> {
        match unit {
            XUnit::Iteration => {
                let k = length.floor() as usize;
                (k >= 1)
                    .then(|| self.marks.get(k - 1).map(|m| m.t_s))
                    .flatten()
            }
            XUnit::Second => Some(length),
        }
    }

    /// Whether every record up to the cutoff of a look at `length` is in: the data goes
    /// past it on every stream that has data (records of one stream arrive in time order).
    /// A run still going is judged at a look only then, so that the look sees exactly what
    /// a re-reading of the finished run sees.
    pub fn complete_to(&self, unit: XUnit, length: f64) -> bool {
        let Some(cut) = self.cutoff_s(unit, length) else {
            return false;
        };
        let past = |last: Option<f64>| last.is_none_or(|t| t > cut);
        self.length(unit) > length
            && self.outside_ends().into_iter().all(past)
            && (unit == XUnit::Iteration || past(self.marks.last().map(|m| m.t_s)))
    }

    /// The run as it was at the cutoff of a look at `length`: marks, samples and sessions
    /// up to that instant (notes and warnings are kept whole).
    pub fn truncated(&self, unit: XUnit, length: f64) -> Timeline {
        let cut = self.cutoff_s(unit, length).unwrap_or(f64::NEG_INFINITY);
        let mut t = self.clone();
        t.retain_to(cut);
        if unit == XUnit::Iteration {
            t.marks.truncate(length.floor() as usize);
        }
        t.ended = false;
        t
    }

    /// Where each checkpoint sits on `axis`, in checkpoint order (as
    /// [`Timeline::checkpoint_levels`]): `(id, label, x)`. On the iteration axis it is half
    /// an iteration after the last mark before its first reading (half an iteration before
    /// the first mark when none came before), the way [`Timeline::session_starts`] places a
    /// session; on the time axis, the time of its first reading.
    pub fn checkpoint_xs(&self, axis: XUnit) -> Vec<(u64, String, f64)> {
        let mark_xs = self.mark_xs();
        let mut out: Vec<(u64, String, f64)> = Vec::new();
        for c in &self.checkpoints {
            if out.iter().any(|(id, _, _)| *id == c.id) {
                continue;
            }
            let x = match axis {
                XUnit::Iteration if !mark_xs.is_empty() => {
                    match self.marks.partition_point(|m| m.t_s <= c.t_s) {
                        0 => mark_xs[0] - 0.5,
                        k => mark_xs[k - 1] + 0.5,
                    }
                }
                _ => c.t_s,
            };
            out.push((c.id, c.label.clone(), x));
        }
        out
    }

    /// The readings of `metric` at each checkpoint, in checkpoint order (empty when the
    /// run sent none). Inside metrics come from the checkpoint messages themselves; outside
    /// metrics from the samples taken between a checkpoint's first reading and
    /// [`CHECKPOINT_WINDOW_S`] after its last, while the program was alive (root RSS > 0).
    pub fn checkpoint_levels(&self, metric: &str) -> Vec<(u64, Vec<f64>)> {
        let mut ids: Vec<u64> = Vec::new();
        for c in &self.checkpoints {
            if !ids.contains(&c.id) {
                ids.push(c.id);
            }
        }
        let inside = |c: &CheckpointRecord| -> Option<f64> {
            let a = c.measured.alloc.as_ref();
            let bytes = match metric {
                metrics::RSS => c.measured.rss_bytes,
                metrics::ALLOC_ALLOCATED => a.map(|a| a.allocated),
                metrics::ALLOC_ACTIVE => a.map(|a| a.active),
                metrics::ALLOC_RESIDENT => a.map(|a| a.resident),
                metrics::ALLOC_MAPPED => a.map(|a| a.mapped),
                metrics::ALLOC_METADATA => a.map(|a| a.metadata),
                named => return c.measured.stats.get(named).copied(),
            };
            bytes.map(|v| v as f64)
        };
        let outside = |t: &TreeRecord| -> Option<f64> {
            match metric {
                metrics::RSS_TREE => t.rss_tree.map(|v| v as f64),
                metrics::PSS_TREE => t.pss_tree.map(|v| v as f64),
                named => t.stats.get(named).copied(),
            }
        };
        ids.into_iter()
            .map(|id| {
                let readings: Vec<&CheckpointRecord> =
                    self.checkpoints.iter().filter(|c| c.id == id).collect();
                let mut values: Vec<f64> = readings.iter().filter_map(|c| inside(c)).collect();
                if values.is_empty() {
                    let from = readings.iter().map(|c| c.t_s).fold(f64::INFINITY, f64::min);
                    let to = readings
                        .iter()
                        .map(|c| c.t_s)
                        .fold(f64::NEG_INFINITY, f64::max)
                        + CHECKPOINT_WINDOW_S;
                    values = self
                        .samples
                        .iter()
                        .filter(|t| t.t_s >= from && t.t_s <= to)
                        // A burst that came after the program exited reads a zombie's 0:
                        // no level of the program (it made retained memory negative).
                        .filter(|t| t.rss > 0)
                        .filter_map(outside)
                        .collect();
                }
                (id, values)
            })
            .filter(|(_, values)| !values.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::Record;
    use crate::timeline::build::{mark, tree};
    use leakcheck_probe::wire::Measured;

    fn checkpoint(id: u64, t_s: f64, rss: u64) -> Record {
        Record::Checkpoint(CheckpointRecord {
            id,
            label: format!("c{id}"),
            t_s,
            measured: Measured {
                rss_bytes: Some(rss),
                ..Measured::default()
            },
        })
    }

    #[test]
    fn checkpoint_levels_come_from_the_readings_inside_and_the_burst_outside() {
        let mut tl = Timeline::default();
        for r in [
            tree(0.90, 1, 900),
            checkpoint(1, 1.00, 10),
            tree(1.005, 1, 100),
            checkpoint(1, 1.01, 11),
            tree(1.02, 1, 101),
            tree(1.10, 1, 999),
            checkpoint(2, 2.00, 20),
            tree(2.01, 1, 200),
        ] {
            tl.apply(&r);
        }
        assert_eq!(
            tl.checkpoint_levels("rss"),
            [(1, vec![10.0, 11.0]), (2, vec![20.0])]
        );
        // Outside: the samples from the first reading to 20 ms after the last.
        assert_eq!(
            tl.checkpoint_levels("rss.tree"),
            [(1, vec![100.0, 101.0]), (2, vec![200.0])]
        );
        assert!(tl.checkpoint_levels("alloc.allocated").is_empty());
    }

    #[test]
    fn checkpoints_sit_half_an_iteration_after_the_mark_before_them() {
        let mut tl = Timeline::default();
        for r in [
            checkpoint(1, 0.05, 10),
            checkpoint(1, 0.06, 10),
            mark(1, 0.1, None),
            mark(2, 0.2, None),
            checkpoint(2, 0.25, 20),
            mark(3, 0.3, None),
            checkpoint(3, 0.4, 30),
        ] {
            tl.apply(&r);
        }
        let xs = |axis| -> Vec<f64> {
            tl.checkpoint_xs(axis)
                .into_iter()
                .map(|(_, _, x)| x)
                .collect()
        };
        assert_eq!(xs(XUnit::Iteration), [0.5, 2.5, 3.5]);
        assert_eq!(xs(XUnit::Second), [0.05, 0.25, 0.4]);
        assert_eq!(tl.checkpoint_xs(XUnit::Iteration)[1].1, "c2");
    }

    #[test]
    fn a_look_sees_the_run_up_to_its_cutoff_once_every_stream_is_past_it() {
        let mut tl = Timeline::default();
        for i in 1..=10u64 {
            tl.apply(&mark(i, i as f64 / 10.0, None));
            tl.apply(&tree(i as f64 / 10.0 + 0.05, 1, i));
        }
        let at_five = tl.truncated(XUnit::Iteration, 5.0);
        assert_eq!(at_five.marks.len(), 5);
        assert!(at_five.samples.iter().all(|s| s.t_s <= 0.5));
        assert!(tl.complete_to(XUnit::Iteration, 5.0));
        assert!(
            !tl.complete_to(XUnit::Iteration, 10.0),
            "no data past the last mark"
        );
        assert!(tl.complete_to(XUnit::Second, 0.9));
        assert!(!tl.complete_to(XUnit::Second, 1.2));
        assert_eq!(tl.truncated(XUnit::Second, 0.3).marks.len(), 3);
    }
}
