//! Degenerate input never panics: it gets a typed error or a defined answer.

use leakcheck_analysis::{
    AnalysisError, AnalysisOptions, Budget, BudgetKind, CheckReason, Outcome, Series, Shape,
    WarmUp, XUnit, analyze_metric,
};
use proptest::prelude::*;

fn budgets() -> Vec<Budget> {
    vec![
        Budget::parse("t.slope", BudgetKind::Slope, "1 KiB/iter").unwrap(),
        Budget::parse("t.growth", BudgetKind::Growth, "1 MiB").unwrap(),
        Budget::parse("t.peak", BudgetKind::Peak, "1 GiB").unwrap(),
        Budget::parse("t.retained", BudgetKind::Retained, "0").unwrap(),
    ]
}

fn analyze(s: &Series) -> Result<leakcheck_analysis::MetricAnalysis, AnalysisError> {
    analyze_metric("m", s, &[], &budgets(), &AnalysisOptions::default())
}

#[test]
fn too_short_series_are_typed_errors() {
    for n in 0..3 {
        let s = Series::from_y(vec![1.0; n]).unwrap();
        assert!(
            matches!(analyze(&s), Err(AnalysisError::TooFewPoints { n: k, min: 3, .. }) if k == n),
            "n = {n}"
        );
    }
}

#[test]
fn bad_values_are_refused_by_series() {
    assert!(matches!(
        Series::new(vec![0.0, 1.0], vec![1.0, f64::NAN]),
        Err(AnalysisError::NonFinite {
            axis: "y",
            index: 1,
            ..
        })
    ));
    assert!(matches!(
        Series::new(vec![0.0, f64::INFINITY], vec![1.0, 2.0]),
        Err(AnalysisError::NonFinite {
            axis: "x",
            index: 1,
            ..
        })
    ));
    let e = Series::new(vec![0.0, 2.0, 2.0], vec![1.0; 3]).unwrap_err();
    assert!(matches!(e, AnalysisError::NotIncreasing { index: 2, .. }));
    assert!(e.to_string().contains("strictly increasing"), "{e}");
    assert!(matches!(
        Series::new(vec![0.0], vec![]),
        Err(AnalysisError::LengthMismatch { x: 1, y: 0 })
    ));
}

#[test]
fn constant_series_is_flat_with_zero_slope_and_passes() {
    let s = Series::from_y(vec![4096.0; 50]).unwrap();
    let a = analyze(&s).unwrap();
    assert_eq!(a.shape, Shape::Flat);
    // One page (the largest step dividing every value, at most 64 KiB) over the span of
    // 49 iterations is as fine as a page-counted series can resolve a slope.
    let resolution = 4096.0 / 49.0;
    assert_eq!(
        (a.theil_sen.slope, a.theil_sen.lo, a.theil_sen.hi),
        (0.0, -resolution, resolution)
    );
    assert_eq!((a.trend.s, a.trend.z, a.trend.p), (0.0, 0.0, 1.0));
    assert_eq!(a.ols.slope, 0.0);
    assert_eq!(a.verdicts[0].outcome, Outcome::Pass);
    assert_eq!(
        a.verdicts[3].outcome,
        Outcome::Undecided,
        "no sessions: retained undecided"
    );
}

#[test]
fn three_points_give_an_inconclusive_defined_answer() {
    let s = Series::from_y(vec![1.0, 5.0, 2.0]).unwrap();
    let a = analyze(&s).unwrap();
    assert_eq!(a.shape, Shape::Inconclusive);
    assert_eq!(a.verdicts[0].outcome, Outcome::Undecided);
    assert_eq!(
        a.verdicts[0].reason,
        CheckReason::TooFewPoints { points: 3 }
    );
}

#[test]
fn warmup_that_eats_the_series_is_an_error() {
    let s = Series::from_y((0..10).map(f64::from).collect()).unwrap();
    let opts = AnalysisOptions {
        warmup: WarmUp::Count(9),
        ..AnalysisOptions::default()
    };
    assert!(matches!(
        analyze_metric("m", &s, &[], &[], &opts),
        Err(AnalysisError::TooFewPoints { n: 1, .. })
    ));
    let opts = AnalysisOptions {
        confidence: 1.5,
        ..AnalysisOptions::default()
    };
    assert!(matches!(
        analyze_metric("m", &s, &[], &[], &opts),
        Err(AnalysisError::InvalidOption {
            name: "confidence",
            ..
        })
    ));
}

#[test]
fn slope_budget_per_second_on_an_iteration_series_is_undecided_with_the_reason() {
    let s = Series::from_y((0..20).map(f64::from).collect()).unwrap();
    let b = Budget::parse("t.slope", BudgetKind::Slope, "1 MiB/min").unwrap();
    let a = analyze_metric("m", &s, &[], &[b], &AnalysisOptions::default()).unwrap();
    assert_eq!(a.verdicts[0].outcome, Outcome::Undecided);
    assert_eq!(
        a.verdicts[0].reason,
        CheckReason::UnitMismatch {
            series: XUnit::Iteration
        }
    );
}

#[test]
fn bad_session_starts_are_an_error() {
    let s = Series::from_y((0..20).map(f64::from).collect()).unwrap();
    let e = analyze_metric("m", &s, &[5.0, 3.0], &[], &AnalysisOptions::default()).unwrap_err();
    assert!(matches!(e, AnalysisError::InvalidSessions { index: 1, .. }));
}

/// Finite values: tame numbers, huge ones, ties.
fn tame() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e9f64..1e9,
        1 => Just(0.0),
        1 => Just(4096.0),
        1 => -1e18f64..1e18,
    ]
}

/// Values from a mix of tame numbers, huge ones, ties and specials.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e9f64..1e9,
        1 => Just(0.0),
        1 => Just(4096.0),
        1 => prop::num::f64::ANY,
        1 => -1e18f64..1e18,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Any input: Series::new either refuses it or analysis returns Ok/Err,
    /// and every Ok answer has finite numbers and one verdict per budget.
    #[test]
    fn never_panics(
        ys in prop_oneof![
            3 => prop::collection::vec(tame(), 0..120),
            1 => prop::collection::vec(value(), 0..120),
        ],
        // Mostly increasing x (so analysis runs), sometimes broken.
        steps in prop_oneof![
            3 => prop::collection::vec(1e-3f64..10.0, 0..120),
            1 => prop::collection::vec(prop_oneof![8 => 1e-3f64..10.0, 1 => Just(0.0), 1 => -1.0f64..0.0, 1 => Just(1e-300)], 0..120),
        ],
        starts in prop::collection::vec(-5.0f64..100.0, 0..4),
        warm in prop_oneof![Just(WarmUp::Auto), (0usize..40).prop_map(WarmUp::Count), (0.0f64..1.0).prop_map(WarmUp::Fraction)],
        conf in prop_oneof![3 => Just(0.99), 1 => 0.0f64..1.2],
    ) {
        let n = ys.len().min(steps.len());
        let mut x = Vec::with_capacity(n);
        let mut acc = 0.0;
        for s in &steps[..n] {
            acc += s;
            x.push(acc);
        }
        let opts = AnalysisOptions { confidence: conf, warmup: warm, ..AnalysisOptions::default() };
        if let Ok(series) = Series::new(x, ys[..n].to_vec())
            && let Ok(a) = analyze_metric("p", &series, &starts, &budgets(), &opts)
        {
            prop_assert_eq!(a.verdicts.len(), 4);
            for v in &a.verdicts {
                prop_assert!(v.estimate.is_finite() && v.lo.is_finite() && v.hi.is_finite());
                prop_assert!(v.lo <= v.hi, "{} > {}", v.lo, v.hi);
                prop_assert!(v.outcome == Outcome::Undecided || v.reason == CheckReason::Decided);
            }
            prop_assert!(a.theil_sen.lo <= a.theil_sen.hi);
            prop_assert!(a.trend.p >= 0.0 && a.trend.p <= 1.0);
            prop_assert!(serde_json::to_string(&a).is_ok());
        }
    }
}

proptest! {
    /// The estimators are public too: any slices, any lengths, no panic.
    #[test]
    fn estimators_never_panic(
        x in prop::collection::vec(prop::num::f64::ANY, 0..40),
        y in prop::collection::vec(prop::num::f64::ANY, 0..40),
        conf in prop::num::f64::ANY,
        lags in prop::option::of(0usize..100),
    ) {
        let _ = leakcheck_analysis::ols_hac(&x, &y, conf, lags);
        let _ = leakcheck_analysis::theil_sen(&x, &y, conf);
        let _ = leakcheck_analysis::mann_kendall(&x, &y, 1.0);
    }
}
