//! A realistic report for tests and benches: a leaking allocator series and
//! a flat RSS series over 500 iterations, with noise, a warm-up, two
//! sessions and budgets. The fit numbers come from an ordinary least
//! squares fit of the generated points, so the drawn line matches the data.
#![allow(dead_code)]

use leakcheck_report::*;
use leakcheck_vocab::fmt;

const MIB: f64 = 1024.0 * 1024.0;

/// Deterministic noise in [-1, 1) (xorshift64*), so runs are reproducible.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (v >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

/// Least squares through `pts[from..]`: (slope, x mean, y mean, slope s.e.).
pub fn ols(pts: &[[f64; 2]]) -> (f64, f64, f64, f64) {
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p[0]).sum::<f64>() / n;
    let my = pts.iter().map(|p| p[1]).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p[0] - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p[0] - mx) * (p[1] - my)).sum();
    let slope = sxy / sxx;
    let rss: f64 = pts
        .iter()
        .map(|p| (p[1] - my - slope * (p[0] - mx)).powi(2))
        .sum();
    let se = (rss / (n - 2.0) / sxx).sqrt();
    (slope, mx, my, se)
}

/// A metric of `n` points `base + slope * i + noise`, warm-up `warm`.
pub fn metric(
    name: &str,
    n: usize,
    base: f64,
    slope: f64,
    noise: f64,
    warm: usize,
    seed: u64,
) -> MetricReport {
    let mut rng = Noise(seed);
    let points: Vec<[f64; 2]> = (0..n)
        .map(|i| {
            let x = i as f64;
            // The warm-up ramps quickly (allocator arenas, caches).
            let ramp = if i < warm {
                -((warm - i) as f64) * 0.3 * MIB / warm as f64
            } else {
                0.0
            };
            [x, base + slope * x + ramp + noise * rng.next()]
        })
        .collect();
    let steady: Vec<[f64; 2]> = points
        .iter()
        .copied()
        .filter(|p| p[0] >= warm as f64)
        .collect();
    let fit = (steady.len() > 2).then(|| {
        let (s, mx, my, se) = ols(&steady);
        FitLine {
            slope: s,
            intercept: my - s * mx,
            slope_lo: s - 1.96 * se,
            slope_hi: s + 1.96 * se,
            confidence: 0.95,
            x_center: mx,
            y_center: my,
        }
    });
    let peak = points
        .iter()
        .map(|p| p[1])
        .reduce(f64::max)
        .unwrap_or(f64::NAN);
    MetricReport {
        name: name.to_string(),
        unit: ValueUnit::Bytes,
        points,
        warmup_end_x: Some(warm as f64),
        fit,
        shape: if slope > 0.0 { "leak" } else { "flat" }.to_string(),
        peak,
        budgets: Vec::new(),
        retained_per_session: None,
        checkpoints: Vec::new(),
        forecast: None,
        envelopes: Vec::new(),
        stats: None,
    }
}

/// A slope budget of `limit` bytes/iter judged against the metric's fit.
pub fn slope_budget(m: &MetricReport, limit: f64, limit_text: &str) -> BudgetCheck {
    // No fit (too few points): undecided, with unknown (NaN) numbers.
    let nan = FitLine {
        slope: f64::NAN,
        intercept: f64::NAN,
        slope_lo: f64::NAN,
        slope_hi: f64::NAN,
        confidence: 0.95,
        x_center: f64::NAN,
        y_center: f64::NAN,
    };
    let f = m.fit.as_ref().unwrap_or(&nan);
    let outcome = if f.slope_hi <= limit {
        Outcome::Pass
    } else if f.slope_lo > limit {
        Outcome::Fail
    } else {
        Outcome::Undecided
    };
    BudgetCheck {
        kind: BudgetKind::Slope,
        limit,
        limit_text: limit_text.to_string(),
        outcome,
        estimate: f.slope,
        lo: f.slope_lo,
        hi: f.slope_hi,
        line: format!(
            "{} grows {} (95% CI {} … {}), budget {limit_text}",
            m.name,
            fmt::rate(f.slope, ValueUnit::Bytes, XUnit::Iteration),
            fmt::rate(f.slope_lo, ValueUnit::Bytes, XUnit::Iteration),
            fmt::rate(f.slope_hi, ValueUnit::Bytes, XUnit::Iteration),
        ),
    }
}

/// The loader-loop, leaky variant: `alloc.allocated` leaks 36 KiB/iter
/// against a 4 KiB/iter budget; `rss.tree` is flat within its budgets.
pub fn leaky_report(n: usize) -> ScenarioReport {
    let mut alloc = metric(
        "alloc.allocated",
        n,
        40.0 * MIB,
        36.0 * 1024.0,
        0.4 * MIB,
        50,
        7,
    );
    let b = slope_budget(&alloc, 4096.0, "4 KiB/iter");
    alloc.budgets.push(b);
    let mut rss = metric("rss.tree", n, 180.0 * MIB, 0.0, 1.5 * MIB, 50, 11);
    let b = slope_budget(&rss, 64.0 * 1024.0, "64 KiB/iter");
    rss.budgets.push(b);
    let peak = rss.peak;
    rss.budgets.push(BudgetCheck {
        kind: BudgetKind::Peak,
        limit: 256.0 * MIB,
        limit_text: "256 MiB".to_string(),
        outcome: Outcome::Pass,
        estimate: peak,
        lo: peak,
        hi: peak,
        line: format!("rss.tree peak {} within 256 MiB", fmt::bytes(peak)),
    });
    let headline = "alloc.allocated grows 36.0 KiB/iter, budget 4 KiB/iter".to_string();
    ScenarioReport {
        schema_version: SCHEMA_VERSION,
        scenario: "loader-loop".to_string(),
        variant: Some("leaky".to_string()),
        command: vec![
            "target/release/loader-loop".into(),
            "--variant".into(),
            "leaky".into(),
        ],
        status: RunEnding {
            termination: Some(Termination::Exited { code: 0 }),
            last_iteration: Some(n as u64 - 1),
            message: None,
        },
        verdict: Overall::Fail,
        headline,
        x_unit: XUnit::Iteration,
        duration_s: 42.5,
        iterations: Some(n as u64),
        metrics: vec![alloc, rss],
        sessions: vec![
            SessionMarker {
                x: 0.0,
                label: "session 1".into(),
            },
            SessionMarker {
                x: (n / 2) as f64,
                label: "session 2 (4 samples)".into(),
            },
        ],
        notes: vec!["chunk cache bounded at 1 byte".into()],
        ceiling_bytes: Some(512.0 * MIB),
        ceiling_metric: Some("rss.tree".into()),
        peak_bytes: Some(peak),
        samples_file: "samples.jsonl".to_string(),
        decode_warnings: Vec::new(),
        decided_at: None,
        attribution: None,
        ratchet: Vec::new(),
        processes: Vec::new(),
    }
}

/// A run that aborted at iteration 300 (signal 6) with a one-metric,
/// time-free series and a budget that could not be decided.
pub fn crashed_report() -> ScenarioReport {
    let mut m = metric("rss", 300, 64.0 * MIB, 8.0 * 1024.0, 0.8 * MIB, 20, 3);
    let b = slope_budget(&m, 8.0 * 1024.0, "8 KiB/iter");
    m.budgets.push(b);
    ScenarioReport {
        schema_version: SCHEMA_VERSION,
        scenario: "abort-at-300".to_string(),
        variant: None,
        command: vec![
            "python3".into(),
            "-c".into(),
            "import os; os.abort()".into(),
        ],
        status: RunEnding {
            termination: Some(Termination::Signaled { signal: 6 }),
            last_iteration: Some(300),
            message: None,
        },
        verdict: Overall::Incomplete,
        headline: "the scenario crashed at iteration 300 (signal 6)".into(),
        x_unit: XUnit::Iteration,
        duration_s: 3.2,
        iterations: Some(300),
        metrics: vec![m],
        sessions: Vec::new(),
        notes: Vec::new(),
        ceiling_bytes: None,
        ceiling_metric: None,
        peak_bytes: None,
        samples_file: "samples.jsonl".into(),
        decode_warnings: vec!["1 malformed line skipped (line 17: expected value)".into()],
        decided_at: None,
        attribution: None,
        ratchet: Vec::new(),
        processes: Vec::new(),
    }
}

/// The retrain scenario, fixed variant, with checkpoints: `alloc.allocated` steps from
/// one session's level to the next (a fit through it finds a slope), and what was judged
/// is the memory retained between the checkpoint before the first session and the one
/// before the second: 6.87 MiB (99 % CI 6.86–6.88 MiB), budget 16 MiB.
pub fn retained_report() -> ScenarioReport {
    let points: Vec<[f64; 2]> = (1..=200)
        .map(|i| {
            let y = match i {
                1 => 95.0,
                2..=80 => 202.0 + 0.3 * ((i % 7) as f64 - 3.0) / 3.0,
                81 => 101.0,
                _ => 263.0,
            };
            [i as f64, y * MIB]
        })
        .collect();
    let (s, mx, my, _) = ols(&points);
    let fit = FitLine {
        slope: s,
        intercept: my - s * mx,
        slope_lo: 0.0,
        slope_hi: 2.5 * s,
        confidence: 0.99,
        x_center: mx,
        y_center: my,
    };
    let (first, retained) = (20.5 * MIB, 6.87 * MIB);
    let check = BudgetCheck {
        kind: BudgetKind::Retained,
        limit: 16.0 * MIB,
        limit_text: "16 MiB".to_string(),
        outcome: Outcome::Pass,
        estimate: retained,
        lo: 6.86 * MIB,
        hi: 6.88 * MIB,
        line: "alloc.allocated retained 6.87 MiB (99% CI 6.86 MiB … 6.88 MiB) between 2 checkpoints ≤ budget 16 MiB: ok".to_string(),
    };
    let level = |x: f64, level: f64, label: &str| CheckpointLevel {
        x,
        level,
        readings: 5,
        kind: LevelKind::Checkpoint,
        label: Some(label.to_string()),
    };
    let metric = MetricReport {
        name: "alloc.allocated".to_string(),
        unit: ValueUnit::Bytes,
        peak: 263.0 * MIB,
        points,
        warmup_end_x: None,
        fit: Some(fit),
        shape: "flat".to_string(),
        budgets: vec![check],
        retained_per_session: None,
        checkpoints: vec![
            level(0.5, first, "before session 1: 3 samples"),
            level(80.5, first + retained, "before session 2: 4 samples"),
        ],
        forecast: None,
        envelopes: Vec::new(),
        stats: None,
    };
    let mut report = crashed_report();
    report.scenario = "retrain-sequential".to_string();
    report.variant = Some("fixed".to_string());
    report.status = RunEnding {
        termination: Some(Termination::Exited { code: 0 }),
        last_iteration: Some(200),
        message: None,
    };
    report.verdict = Overall::Pass;
    report.headline = "all 1 budget checks within limits".to_string();
    report.iterations = Some(200);
    report.metrics = vec![metric];
    report.sessions = vec![
        SessionMarker {
            x: 0.5,
            label: "session 1: 3 samples".into(),
        },
        SessionMarker {
            x: 80.5,
            label: "session 2: 4 samples".into(),
        },
    ];
    report.decode_warnings = Vec::new();
    report
}
