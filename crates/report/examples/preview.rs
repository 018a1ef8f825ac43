//! Writes sample reports (a failing leaky run, a crashed run, an empty run)
//! and a gate index into the directory given as the first argument, to look
//! at the plots by eye: `cargo run --release -p leakcheck-report --example
//! preview -- /tmp/preview`.

#[path = "../tests/common/mod.rs"]
mod common;

use leakcheck_report::*;

fn main() -> Result<(), ReportError> {
    let root = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/report-preview".into()),
    );
    let leaky = common::leaky_report(500);
    let crashed = common::crashed_report();
    let mut empty = common::leaky_report(0);
    empty.scenario = "empty".into();
    empty.verdict = Overall::Undecided;
    let entries: Vec<GateEntry> = [
        ("loader-loop-leaky", leaky),
        ("crashed", crashed),
        ("empty", empty),
    ]
    .into_iter()
    .map(|(dir, report)| GateEntry {
        rel_dir: dir.to_string(),
        report,
    })
    .collect();
    for e in &entries {
        for p in write_scenario(&root.join(&e.rel_dir), &e.report)? {
            println!("{}", p.display());
        }
    }
    for p in write_gate(&root, &entries, None)? {
        println!("{}", p.display());
    }
    Ok(())
}
