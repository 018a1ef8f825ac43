//! Budget parsing, warm-up parsing and the verdicts with their reasons.

use leakcheck_analysis::sim::{KIB, SimSpec};
use leakcheck_analysis::{
    AnalysisOptions, Budget, BudgetKind, CheckReason, Outcome, Quantity, Series, Shape, WarmUp,
    XUnit, analyze_metric, classify_fragmentation,
};
use leakcheck_vocab::ValueUnit;

fn bytes(key: &str, v: &str) -> f64 {
    match Budget::parse(key, BudgetKind::Peak, v).unwrap().limit {
        Quantity::Bytes(bytes) => bytes,
        q => panic!("{q:?}"),
    }
}

#[test]
fn sizes_honour_si_and_iec() {
    assert_eq!(bytes("k", "512 KiB"), 524288.0);
    assert_eq!(bytes("k", "2 MiB"), 2097152.0);
    assert_eq!(bytes("k", "1 GB"), 1e9);
    assert_eq!(bytes("k", "1.5GiB"), 1.5 * 1073741824.0);
    assert_eq!(bytes("k", "4096"), 4096.0);
    assert_eq!(bytes("k", "0"), 0.0);
    assert_eq!(bytes("k", "10 kB"), 10_000.0);
    assert_eq!(bytes("k", " 3 B "), 3.0);
}

#[test]
fn rates_normalise_minutes_to_seconds() {
    let r = |v| Budget::parse("k", BudgetKind::Slope, v).unwrap().limit;
    assert_eq!(
        r("4 KiB/iter"),
        Quantity::Rate {
            bytes: 4096.0,
            per: XUnit::Iteration
        }
    );
    assert_eq!(
        r("1 MiB/min"),
        Quantity::Rate {
            bytes: 1048576.0 / 60.0,
            per: XUnit::Second
        }
    );
    assert_eq!(
        r("10 MB/s"),
        Quantity::Rate {
            bytes: 1e7,
            per: XUnit::Second
        }
    );
}

/// Each bad value: the message names the key and the value and lists the forms.
fn assert_error(kind: BudgetKind, value: &str, problem: &str) {
    let key = "scenario.loader-loop.budgets.allocated.x";
    let e = Budget::parse(key, kind, value).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(key), "{msg}");
    assert!(msg.contains(&format!("{value:?}")), "{msg}");
    assert!(msg.contains(problem), "{msg}");
    assert!(
        msg.contains("KiB") && msg.contains("kB"),
        "accepted units listed: {msg}"
    );
    if kind == BudgetKind::Slope {
        assert!(msg.contains("/iter, /s or /min"), "{msg}");
    }
}

#[test]
fn budget_errors_name_key_value_and_accepted_forms() {
    assert_error(BudgetKind::Slope, "4 KB/iteration", "\"KB\" is ambiguous");
    assert_error(
        BudgetKind::Slope,
        "4 KiB/iteration",
        "unknown rate unit \"/iteration\"",
    );
    assert_error(BudgetKind::Peak, "-1 MiB", "cannot be negative");
    assert_error(BudgetKind::Slope, "-1 MiB/s", "cannot be negative");
    assert_error(
        BudgetKind::Growth,
        "fast",
        "\"fast\" does not start with a number",
    );
    assert_error(BudgetKind::Slope, "fast", "does not start with a number");
    assert_error(BudgetKind::Slope, "4 KiB", "needs a rate");
    assert_error(BudgetKind::Peak, "4 KiB/s", "is a size, not a rate");
    assert_error(BudgetKind::Peak, "1.2.3 MiB", "is not a number");
    assert_error(BudgetKind::Peak, "", "empty");
    assert_error(BudgetKind::Peak, "3 mb", "unknown size unit \"mb\"");
}

#[test]
fn warmup_parses_and_lists_forms() {
    assert_eq!("auto".parse::<WarmUp>().unwrap(), WarmUp::Auto);
    assert_eq!("50".parse::<WarmUp>().unwrap(), WarmUp::Count(50));
    assert_eq!("10%".parse::<WarmUp>().unwrap(), WarmUp::Fraction(0.1));
    assert_eq!("0.1".parse::<WarmUp>().unwrap(), WarmUp::Fraction(0.1));
    for bad in ["-3", "150%", "1.5", "soon", ""] {
        let e = bad.parse::<WarmUp>().unwrap_err().to_string();
        assert!(
            e.contains(&format!("{bad:?}")) && e.contains("\"auto\""),
            "{e}"
        );
    }
}

#[test]
fn leak_verdict_line_reads_like_the_issue() {
    let spec = SimSpec {
        leak_per_iter: 41.3 * KIB,
        noise_sd: 16.0 * KIB,
        ..SimSpec::acceptance()
    };
    let b = Budget::parse("k", BudgetKind::Slope, "1 KiB/iter").unwrap();
    let a = analyze_metric(
        "alloc.allocated",
        &spec.series(7).unwrap(),
        &[],
        &[b],
        &AnalysisOptions::default(),
    )
    .unwrap();
    let v = &a.verdicts[0];
    assert_eq!(v.outcome, Outcome::Fail);
    assert_eq!(v.reason, CheckReason::Decided);
    assert_eq!(a.shape, Shape::Leak);
    // 41.3 KiB/iter simulated: the estimate and its whole interval sit near it.
    assert!(
        v.lo > 40.0 * KIB && v.hi < 42.5 * KIB && (v.lo..=v.hi).contains(&v.estimate),
        "{v:?}"
    );
}

#[test]
fn undecided_says_how_much_longer() {
    // 1.2 KiB/iter against 1 KiB/iter in loud noise: most intervals straddle.
    let spec = SimSpec {
        leak_per_iter: 1.2 * KIB,
        noise_sd: 1024.0 * KIB,
        ..SimSpec::acceptance()
    };
    let b = Budget::parse("k", BudgetKind::Slope, "1 KiB/iter").unwrap();
    let mut undecided = 0;
    for seed in 0..10 {
        let a = analyze_metric(
            "m",
            &spec.series(seed).unwrap(),
            &[],
            std::slice::from_ref(&b),
            &AnalysisOptions::default(),
        )
        .unwrap();
        let v = &a.verdicts[0];
        if v.outcome == Outcome::Undecided {
            undecided += 1;
            let more = v.more_iterations.expect("an estimate of the extra run");
            assert!(more > 0, "{v:?}");
            assert_eq!(v.reason, CheckReason::Straddles);
        }
    }
    assert!(undecided >= 5, "only {undecided}/10 undecided");
}

#[test]
fn sessions_measure_retained_growth() {
    // Three sessions of 20 samples; each leaves 1 MiB behind, with a peak of +5 MiB mid-session.
    let mut y = Vec::new();
    for s in 0..3 {
        for i in 0..20 {
            let bump = if i == 10 { 5.0 } else { 0.0 };
            y.push((100.0 + s as f64 + bump) * 1048576.0);
        }
    }
    let series = Series::from_y(y).unwrap();
    let b = Budget::parse("k.retained", BudgetKind::Retained, "1.5 MiB").unwrap();
    let a = analyze_metric(
        "rss",
        &series,
        &[0.0, 20.0, 40.0],
        &[b],
        &AnalysisOptions::default(),
    )
    .unwrap();
    assert_eq!(a.sessions.len(), 3);
    assert_eq!(a.sessions[1].start_level, 101.0 * 1048576.0);
    assert_eq!(a.sessions[2].peak, 107.0 * 1048576.0);
    assert_eq!(a.sessions[2].retained, 2.0 * 1048576.0);
    assert_eq!(a.retained, Some(2.0 * 1048576.0));
    assert_eq!(a.verdicts[0].outcome, Outcome::Fail);
    assert_eq!(a.verdicts[0].estimate, 2.0 * 1048576.0);
    assert_eq!(a.verdicts[0].reason, CheckReason::Decided);
}

#[test]
fn resident_growing_with_flat_allocated_is_fragmentation() {
    let opts = AnalysisOptions::default();
    let resident = SimSpec {
        leak_per_iter: 8.0 * KIB,
        ..SimSpec::acceptance()
    };
    let allocated = SimSpec::acceptance();
    let r = analyze_metric("resident", &resident.series(1).unwrap(), &[], &[], &opts).unwrap();
    let a = analyze_metric("allocated", &allocated.series(2).unwrap(), &[], &[], &opts).unwrap();
    assert_eq!(r.shape, Shape::Leak);
    assert_eq!(classify_fragmentation(&r, &a), Shape::Fragmentation);
    // Both growing: a leak, not fragmentation.
    let a2 = analyze_metric("allocated", &resident.series(2).unwrap(), &[], &[], &opts).unwrap();
    assert_eq!(classify_fragmentation(&r, &a2), Shape::Leak);
}

#[test]
fn analysis_round_trips_through_json() {
    let a = analyze_metric(
        "m",
        &SimSpec::acceptance().series(1).unwrap(),
        &[],
        &[],
        &AnalysisOptions::default(),
    )
    .unwrap();
    let json = serde_json::to_string(&a).unwrap();
    let back: leakcheck_analysis::MetricAnalysis = serde_json::from_str(&json).unwrap();
    // serde_json parses floats to within 1 ulp (no float_roundtrip feature).
    assert_eq!(
        (back.shape, back.n, back.warmup.index),
        (a.shape, a.n, a.warmup.index)
    );
    assert_eq!(back.trend.s, a.trend.s);
    assert!(((back.growth - a.growth) / a.growth).abs() < 1e-14);
    assert!(((back.theil_sen.hi - a.theil_sen.hi) / a.theil_sen.hi).abs() < 1e-14);
}

#[test]
fn exponents_hexadecimal_and_huge_sizes_are_named_for_what_they_are() {
    let err = |v: &str| {
        Budget::parse("k", BudgetKind::Slope, v)
            .unwrap_err()
            .to_string()
    };
    assert!(
        err("1e400 B/iter").contains("has an exponent"),
        "{}",
        err("1e400 B/iter")
    );
    assert!(
        err("0x10/iter").contains("hexadecimal"),
        "{}",
        err("0x10/iter")
    );
    assert!(
        err("99999999999 TiB/iter").contains("too large"),
        "{}",
        err("99999999999 TiB/iter")
    );
    assert!(Budget::parse("k", BudgetKind::Peak, "2000000 B").is_ok());
}

#[test]
fn a_short_series_fails_when_its_whole_interval_is_above_and_else_says_how_long() {
    let rising = |n: usize| Series::from_y((0..n).map(|i| i as f64 * 1048576.0).collect()).unwrap();
    let b = Budget::parse("k", BudgetKind::Slope, "1 KiB/iter").unwrap();
    let opts = AnalysisOptions {
        warmup: WarmUp::Count(0),
        ..AnalysisOptions::default()
    };
    let seven = analyze_metric("m", &rising(7), &[], std::slice::from_ref(&b), &opts).unwrap();
    assert_eq!(
        seven.verdicts[0].outcome,
        Outcome::Fail,
        "{:?}",
        seven.verdicts[0]
    );
    let four = analyze_metric("m", &rising(4), &[], std::slice::from_ref(&b), &opts).unwrap();
    let v = &four.verdicts[0];
    assert_eq!(v.outcome, Outcome::Undecided);
    assert_eq!(v.reason, CheckReason::TooFewPoints { points: 4 });
    assert_eq!(
        v.more_iterations,
        Some(6),
        "10 points needed, 1 iteration apart"
    );
}

/// Count metrics (`py.blocks`) take counts with SI suffixes, refuse sizes by name, and
/// print as counts.
#[test]
fn count_budgets_take_counts_and_refuse_sizes() {
    let count = |kind, v| Budget::parse_in("py.blocks.x", kind, v, ValueUnit::Count);
    let slope = count(BudgetKind::Slope, "50/iter").unwrap();
    assert_eq!(
        slope.limit,
        Quantity::Rate {
            bytes: 50.0,
            per: XUnit::Iteration
        }
    );
    assert_eq!(slope.unit, ValueUnit::Count);
    assert_eq!(slope.limit_text(), "50/iter");
    let growth = count(BudgetKind::Growth, "10k").unwrap();
    assert_eq!(growth.limit, Quantity::Bytes(10_000.0));
    assert_eq!(growth.to_string(), "growth 10 k");
    assert_eq!(
        count(BudgetKind::Growth, "1.5M").unwrap().limit,
        Quantity::Bytes(1.5e6)
    );
    let e = count(BudgetKind::Growth, "10 MiB").unwrap_err();
    assert!(e.problem.contains("\"MiB\" is a size unit"), "{e}");
    assert_eq!(e.expected, leakcheck_analysis::budget::COUNT_FORMS);
    let e = count(BudgetKind::Slope, "50").unwrap_err();
    assert!(e.problem.contains("a count per /iter"), "{e}");
    assert!(count(BudgetKind::Growth, "10x").is_err());
    // A byte budget's JSON does not change: the unit is written only for counts.
    let bytes = Budget::parse("k", BudgetKind::Peak, "1 KiB").unwrap();
    assert!(!serde_json::to_string(&bytes).unwrap().contains("unit"));
    let json = serde_json::to_string(&growth).unwrap();
    assert!(json.contains(r#""unit":"count""#), "{json}");
    assert_eq!(serde_json::from_str::<Budget>(&json).unwrap(), growth);
}
