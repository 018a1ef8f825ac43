//! Every look of a recorded run, judged on its own: per metric and budget, the outcome,
//! whether the look counted it as a steady leak, and the numbers that decide that. For
//! finding out why a run decided at the look it did. Each look is followed by the longer
//! look that would confirm a fail there.
//!
//! cargo run --release -p leakcheck-judge --example looks -- reports/loader-loop

use std::path::PathBuf;

use leakcheck_analysis::sequential::{CONFIRM_RATIO, Look};
use leakcheck_judge::{Judging, RunFacts, judge};
use leakcheck_records::read_run;

fn main() {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: looks RUN_DIR (with samples.jsonl and judging.json)");
        std::process::exit(2);
    };
    let recorded = match read_run(&dir.join("samples.jsonl")) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("looks: {e}");
            std::process::exit(2);
        }
    };
    let judging = match Judging::load(&dir) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("looks: {e}");
            std::process::exit(2);
        }
    };
    let Some(plan) = judging.plan else {
        eprintln!("looks: the run has no sequential plan");
        std::process::exit(2);
    };
    let timeline = &recorded.timeline;
    // Each plan look, then where a fail there would be confirmed (same confidence).
    let looks = plan.looks().into_iter().flat_map(|look| {
        let confirm = Look {
            length: look.length * CONFIRM_RATIO,
            ..look
        };
        [(look, ""), (confirm, " (confirming)")]
    });
    for (look, role) in looks {
        if timeline.length(plan.unit) < look.length {
            break;
        }
        let partial = timeline.truncated(plan.unit, look.length);
        let mut at = judging.clone();
        at.plan = None;
        at.confidence = look.confidence;
        let j = judge(
            &at,
            &RunFacts {
                timeline: &partial,
                termination: None,
                reason: None,
                wall_s: 0.0,
                samples_file: String::new(),
            },
        );
        println!(
            "look {} at {:.1} ({:.4}%){role}",
            look.index,
            look.length,
            100.0 * look.confidence
        );
        for m in &j.report.metrics {
            let Some(s) = &m.stats else { continue };
            let late = |f: fn(&leakcheck_summary::stats::SlopeFit) -> f64| {
                s.late.as_ref().map_or(f64::NAN, f)
            };
            for b in &m.budgets {
                println!(
                    "  {:16} {:9} shape={:12} n={:4} cut={:4} slope={:>10.0} lo={:>10.0} late={:>10.0} late.lo={:>10.0} churn={:?}",
                    m.name,
                    b.outcome.word(),
                    m.shape,
                    s.n,
                    s.warmup.index,
                    s.theil_sen.slope,
                    b.lo,
                    late(|l| l.slope),
                    late(|l| l.lo),
                    s.churn.as_ref().map(|c| c.period),
                );
            }
        }
    }
}
