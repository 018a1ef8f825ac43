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
    // An ad-hoc command: time on x, the GPU series unavailable (no points).
    let mut command = common::leaky_report(300);
    command.scenario = "python3 train.py".into();
    command.variant = None;
    command.x_unit = XUnit::Second;
    command.sessions.clear();
    command.iterations = None;
    for m in &mut command.metrics {
        m.points.iter_mut().for_each(|p| p[0] *= 0.05);
        m.warmup_end_x = m.warmup_end_x.map(|w| w * 0.05);
        m.fit = None;
        m.budgets.retain(|b| b.kind != BudgetKind::Slope);
    }
    let mut gpu = common::metric("gpu.process", 0, 0.0, 0.0, 0.0, 0, 1);
    gpu.shape = "unavailable".into();
    command.metrics.push(gpu);
    command
        .notes
        .push("GPU: unavailable (libnvidia-ml.so.1 not found)".into());
    // Killed at the memory ceiling.
    let mib = 1024.0 * 1024.0;
    let mut ceiling = common::crashed_report();
    ceiling.scenario = "ceiling".into();
    ceiling.metrics = vec![common::metric(
        "rss.tree",
        200,
        100.0 * mib,
        1.6 * mib,
        2.0 * mib,
        10,
        5,
    )];
    let peak = ceiling.metrics[0].peak;
    ceiling.status = RunEnding {
        termination: Some(Termination::CeilingExceeded {
            ceiling: 400 << 20,
            peak: peak as u64,
        }),
        last_iteration: Some(199),
        message: None,
    };
    ceiling.ceiling_bytes = Some(400.0 * mib);
    ceiling.ceiling_metric = Some("rss.tree".into());
    ceiling.peak_bytes = Some(peak);
    ceiling.headline = format!(
        "killed at the 400 MiB ceiling, peak {}",
        leakcheck_vocab::fmt::bytes(peak)
    );
    let mut one = common::leaky_report(1);
    one.scenario = "one-point".into();
    let entries: Vec<GateEntry> = [
        ("loader-loop-leaky", leaky),
        ("crashed", crashed),
        ("empty", empty),
        ("command", command),
        ("one-point", one),
        ("ceiling", ceiling),
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
