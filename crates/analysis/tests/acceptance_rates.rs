//! Acceptance rates of the slope gate on simulated series (issue 3): 500
//! iterations, AR(1) noise with phi 0.6 and marginal sd 64 KiB, budget
//! 1 KiB/iter, default options (99 % confidence, automatic warm-up), seeds
//! 0..100. Each scenario must come out right in at least 99 of 100 seeds.

use leakcheck_analysis::sim::{CacheFill, KIB, MIB, Sawtooth, SimSpec};
use leakcheck_analysis::{
    AnalysisOptions, Budget, BudgetKind, MetricAnalysis, Outcome, Shape, analyze_metric,
};

const SEEDS: u64 = 100;

fn run(spec: SimSpec) -> Vec<MetricAnalysis> {
    let budget = Budget::parse("test.slope", BudgetKind::Slope, "1 KiB/iter").unwrap();
    (0..SEEDS)
        .map(|seed| {
            analyze_metric(
                "sim",
                &spec.series(seed).unwrap(),
                &[],
                std::slice::from_ref(&budget),
                &AnalysisOptions::default(),
            )
            .unwrap()
        })
        .collect()
}

fn count(runs: &[MetricAnalysis], ok: impl Fn(&MetricAnalysis) -> bool) -> usize {
    runs.iter().filter(|a| ok(a)).count()
}

#[test]
fn leak_of_4_kib_per_iter_fails() {
    let runs = run(SimSpec {
        leak_per_iter: 4.0 * KIB,
        ..SimSpec::acceptance()
    });
    let fails = count(&runs, |a| a.verdicts[0].outcome == Outcome::Fail);
    let leaks = count(&runs, |a| a.shape == Shape::Leak);
    eprintln!("4 KiB/iter leak: {fails}/100 fail, {leaks}/100 shaped leak");
    assert!(fails >= 99, "only {fails}/100 seeds failed");
    assert!(leaks >= 99, "only {leaks}/100 seeds were shaped Leak");
}

#[test]
fn cache_fill_in_first_fifth_passes_and_is_never_a_leak() {
    let runs = run(SimSpec {
        fill: Some(CacheFill {
            bytes: 16.0 * MIB,
            end_fraction: 0.2,
        }),
        ..SimSpec::acceptance()
    });
    let ok = count(&runs, |a| {
        a.verdicts[0].outcome == Outcome::Pass || a.shape == Shape::Saturating
    });
    let leaks = count(&runs, |a| a.shape == Shape::Leak);
    let fails = count(&runs, |a| a.verdicts[0].outcome == Outcome::Fail);
    let shapes: Vec<String> = [Shape::Flat, Shape::Saturating, Shape::Inconclusive]
        .iter()
        .map(|s| format!("{s} {}", count(&runs, |a| a.shape == *s)))
        .collect();
    eprintln!(
        "cache fill: {ok}/100 pass or saturating, {leaks} shaped leak, {fails} fail; shapes: {}",
        shapes.join(", ")
    );
    assert!(ok >= 99, "only {ok}/100 passed or were Saturating");
    assert_eq!(leaks, 0, "a cache fill was shaped Leak");
    assert_eq!(fails, 0, "a cache fill failed the slope budget");
    let saturating = count(&runs, |a| a.shape == Shape::Saturating);
    assert!(saturating >= 95, "only {saturating}/100 shaped Saturating");
}

#[test]
fn flat_mean_sawtooth_passes() {
    let runs = run(SimSpec {
        sawtooth: Some(Sawtooth {
            amplitude: 512.0 * KIB,
            period: 50,
        }),
        ..SimSpec::acceptance()
    });
    let passes = count(&runs, |a| a.verdicts[0].outcome == Outcome::Pass);
    let leaks = count(&runs, |a| a.shape == Shape::Leak);
    eprintln!("sawtooth: {passes}/100 pass, {leaks} shaped leak");
    assert!(passes >= 99, "only {passes}/100 seeds passed");
}

/// Plain AR(1) noise, no leak: flat, never a leak.
#[test]
fn noise_alone_is_flat() {
    let runs = run(SimSpec::acceptance());
    let flat = count(&runs, |a| a.shape == Shape::Flat);
    let leaks = count(&runs, |a| a.shape == Shape::Leak);
    let passes = count(&runs, |a| a.verdicts[0].outcome == Outcome::Pass);
    eprintln!("noise: {flat}/100 flat, {leaks} leak, {passes} pass");
    assert!(flat >= 95, "only {flat}/100 flat");
    assert_eq!(leaks, 0);
    assert_eq!(passes, 100);
}

/// Calibration: the nominal 99 % Theil–Sen interval must cover the true
/// slope in AR(1) noise (phi 0.6) close to 99 % of the time. Measured
/// 98.5–99.0 % on 2000 seeds; the plain Hamed–Rao factor gave 93 %.
#[test]
fn verdict_interval_covers_the_true_slope() {
    let spec = SimSpec {
        leak_per_iter: 1.0 * KIB,
        noise_sd: 256.0 * KIB,
        ..SimSpec::acceptance()
    };
    let seeds = 400;
    let covered = (0..seeds)
        .filter(|&seed| {
            let a = analyze_metric(
                "sim",
                &spec.series(10_000 + seed).unwrap(),
                &[],
                &[],
                &AnalysisOptions::default(),
            )
            .unwrap();
            a.theil_sen.lo <= KIB && KIB <= a.theil_sen.hi
        })
        .count();
    eprintln!("coverage: {covered}/{seeds}");
    // 97 % leaves room for sampling error (sd of the rate ≈ 0.5 % at 400).
    assert!(
        covered * 100 >= 97 * seeds as usize,
        "coverage {covered}/{seeds}"
    );
}

/// A long time-based series (20 Hz × 10 min = 12 000 points, x in seconds)
/// is binned to 1024 points for the pairwise estimators and still judged
/// correctly against a per-second budget.
#[test]
fn long_time_based_series_is_binned_and_judged() {
    let n = 12_000;
    let leak = SimSpec {
        n,
        // 2 MiB/min, per sample at 20 Hz.
        leak_per_iter: 2.0 * MIB / 60.0 / 20.0,
        noise_sd: 256.0 * KIB,
        phi: 0.95,
        ..SimSpec::acceptance()
    };
    let to_seconds = |s: leakcheck_analysis::Series| {
        let x: Vec<f64> = s.x().iter().map(|i| i / 20.0).collect();
        leakcheck_analysis::Series::new(x, s.y().to_vec()).unwrap()
    };
    let opts = AnalysisOptions {
        x_unit: leakcheck_analysis::XUnit::Second,
        ..AnalysisOptions::default()
    };
    let b = Budget::parse("t.slope", BudgetKind::Slope, "1 MiB/min").unwrap();
    let flat = SimSpec {
        leak_per_iter: 0.0,
        ..leak
    };
    let a = analyze_metric(
        "rss",
        &to_seconds(leak.series(1).unwrap()),
        &[],
        std::slice::from_ref(&b),
        &opts,
    )
    .unwrap();
    assert!(a.theil_sen.points <= 1024 && a.theil_sen.points > 512);
    assert_eq!(a.ols.points, n - a.warmup.index);
    assert_eq!(a.verdicts[0].outcome, Outcome::Fail);
    let a = analyze_metric(
        "rss",
        &to_seconds(flat.series(1).unwrap()),
        &[],
        std::slice::from_ref(&b),
        &opts,
    )
    .unwrap();
    assert_eq!(a.verdicts[0].outcome, Outcome::Pass);
}

/// The detection targets of the sequential gate (`examples/detection.rs` with 200 seeds
/// prints the full tables) on the full mix at sd 64 KiB, the hardest summary column,
/// 30 seeds per row: zero leak and half the budget pass, twice the budget fails, and
/// nothing at or below the budget fails.
#[test]
fn sequential_gate_under_churn_decides_every_clear_cell() {
    use leakcheck_analysis::sim::gate_run;
    use leakcheck_analysis::{LookPlan, XUnit};
    let budget = Budget::parse("test.slope", BudgetKind::Slope, "1 KiB/iter").unwrap();
    let plan = LookPlan {
        unit: XUnit::Iteration,
        min: 500.0,
        max: 2000.0,
        confidence: 0.99,
    };
    for (rate, expected) in [
        (0.0, Outcome::Pass),
        (0.5, Outcome::Pass),
        (2.0, Outcome::Fail),
    ] {
        let spec = SimSpec {
            n: 2000,
            leak_per_iter: rate * KIB,
            fill: Some(CacheFill {
                bytes: 8.0 * MIB,
                end_fraction: 0.05,
            }),
            sawtooth: Some(Sawtooth {
                amplitude: 512.0 * KIB,
                period: 50,
            }),
            ..SimSpec::acceptance()
        };
        let right = (0..30)
            .filter(|&seed| {
                gate_run(&spec.values(seed), &plan, &budget)
                    .unwrap()
                    .outcome
                    == expected
            })
            .count();
        assert_eq!(
            right, 30,
            "leak {rate} KiB/iter: {right}/30 came out {expected:?}"
        );
    }
}

/// Regression: a floor climbing 2 MiB/s under a cap (0.12 s periods, 4 of them, headroom
/// 0.24 MiB at the end) passed 5 seeds in 20: its flushes shrink from 1 MiB to 0.3 MiB,
/// the fit saw the cap's plateau, and the flushes fell short of 12 residual deviations.
/// A pinned cap whose floor leaks may be undecided at four periods, never passed.
#[test]
fn regression_a_climbing_floor_under_a_cap_never_passes() {
    use leakcheck_analysis::sim::gate_run_timed;
    use leakcheck_analysis::sim_churn::{ChurnShape, ChurnSpec};
    use leakcheck_analysis::{LookPlan, XUnit};
    let budget = Budget::parse("test.slope", BudgetKind::Slope, "1 MiB/s").unwrap();
    for (period_s, periods) in [(0.12, 4), (0.12, 8), (0.33, 4)] {
        let spec = ChurnSpec {
            shape: ChurnShape::PinnedCap,
            period_s,
            periods,
            amplitude: 2.0 * MIB * period_s,
            leak_per_s: 2.0 * MIB,
            rate_hz: 200.0,
            workers: 0,
            noise_sd: 64.0 * KIB,
            base: 256.0 * MIB,
        };
        let plan = LookPlan {
            unit: XUnit::Second,
            min: spec.duration_s() / 2.0,
            max: spec.duration_s(),
            confidence: 0.99,
        };
        let passed: Vec<u64> = (0..20)
            .filter(|&seed| {
                let run = spec.run(seed);
                gate_run_timed(&run.x, &run.y, &plan, &budget)
                    .unwrap()
                    .outcome
                    == Outcome::Pass
            })
            .collect();
        assert!(
            passed.is_empty(),
            "period {period_s} s × {periods}: seeds {passed:?} passed a 2 MiB/s leak"
        );
    }
}
