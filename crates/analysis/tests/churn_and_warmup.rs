//! The warm-up cut and the churn envelope against values computed independently with
//! numpy and scipy by `tests/reference/make_churn_reference.py`, stored in
//! `tests/reference/churn_reference.json`; plus the properties they exist for.

use leakcheck_analysis::churn::{cycles, drop_stray_ends, envelopes, fit_envelope};
use leakcheck_analysis::sequential::Steadiness;
use leakcheck_analysis::warmup::auto_cut;
use leakcheck_analysis::{
    AnalysisOptions, Budget, BudgetKind, Outcome, Series, XUnit, analyze_metric,
};
use serde_json::Value;

mod common;
use common::vec;

fn reference() -> Value {
    serde_json::from_str(include_str!("reference/churn_reference.json")).unwrap()
}

/// Cycle bounds as the reference writes them: an open last cycle is `null`.
fn bounds_of(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_f64().unwrap_or(f64::INFINITY))
        .collect()
}

fn close(what: &str, got: f64, want: f64) {
    assert!(
        // Relative to the value; a micro-byte absolute for lines that are flat to the
        // page, whose slopes are rounding residue on both sides (±1e-9 B/s).
        (got - want).abs() <= 1e-9 * want.abs().max(1.0) + 1e-6,
        "{what}: {got:e}, reference {want:e}"
    );
}

#[test]
fn warmup_cut_matches_numpy_keeps_lines_and_ends_near_the_fill() {
    for case in reference()["warmup"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (x, y) = (vec(&case["x"]), vec(&case["y"]));
        let cut = auto_cut(&x, &y);
        assert_eq!(cut as u64, case["cut"].as_u64().unwrap(), "{name}");
        let n = x.len() as f64;
        match case["fill_95"].as_f64() {
            // A cache fill: the cut lands within a tenth of the run of where the fill is
            // 95 % full.
            Some(at) => assert!(
                (cut as f64 - at).abs() <= 0.1 * n,
                "{name}: cut {cut}, fill 95 % at {at:.0}"
            ),
            // A line (with noise, or a staircase): at least 90 % is kept.
            None => assert!(cut as f64 <= 0.1 * n, "{name}: cut {cut} of {n}"),
        }
    }
}

#[test]
fn churn_cycles_envelopes_and_lines_match_numpy_and_scipy() {
    let mut found = 0;
    for case in reference()["churn"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (x, y) = (vec(&case["x"]), vec(&case["y"]));
        let got = cycles(&x, &y);
        let Some(want) = case["cycles"].as_object() else {
            assert_eq!(got, None, "{name}: no cycles in the reference");
            continue;
        };
        found += 1;
        let got = got.unwrap_or_else(|| panic!("{name}: no cycles found"));
        close(
            &format!("{name} period"),
            got.period,
            want["period"].as_f64().unwrap(),
        );
        close(
            &format!("{name} acf"),
            got.acf,
            want["acf"].as_f64().unwrap(),
        );
        let bounds = bounds_of(&want["bounds"]);
        assert_eq!(got.bounds.len(), bounds.len(), "{name}: cycles");
        for (g, w) in got.bounds.iter().zip(&bounds) {
            if w.is_finite() {
                close(&format!("{name} bound"), *g, *w);
            } else {
                assert_eq!(*g, f64::INFINITY, "{name}");
            }
        }
        let mut got = got;
        let kept_samples = drop_stray_ends(&x, &y, &mut got);
        let want_samples = vec(&case["kept_samples"]);
        assert_eq!(
            [kept_samples.start as f64, kept_samples.end as f64],
            [want_samples[0], want_samples[1]],
            "{name}: samples kept"
        );
        let kept = bounds_of(&case["kept"]);
        assert_eq!(got.bounds.len(), kept.len(), "{name}: cycles kept");
        for (g, w) in got.bounds.iter().zip(&kept) {
            assert!(
                g == w || (g - w).abs() <= 1e-9 * w.abs(),
                "{name}: kept {g} vs {w}"
            );
        }
        let (x, y) = (&x[kept_samples.clone()], &y[kept_samples]);
        let (lower, upper, mean) = envelopes(x, y, &got.bounds, got.period);
        for (key, points) in [("lower", lower), ("upper", upper), ("mean", mean)] {
            let want = &case["envelopes"][key];
            for (field, got, want) in [
                ("x", &points.x, vec(&want["x"])),
                ("y", &points.y, vec(&want["y"])),
                ("step", &points.step, vec(&want["step"])),
            ] {
                assert_eq!(got.len(), want.len(), "{name} {key} {field}");
                for (g, w) in got.iter().zip(want) {
                    close(&format!("{name} {key} {field}"), *g, w);
                }
            }
            let fit = fit_envelope(points, 0.99).expect("four or more points");
            for (field, value) in [
                ("slope", fit.slope),
                ("lo", fit.lo),
                ("hi", fit.hi),
                ("lo_sampled", fit.lo_sampled),
                ("scatter", fit.scatter),
                ("sampling", fit.sampling),
            ] {
                close(
                    &format!("{name} {key} {field}"),
                    value,
                    want[field].as_f64().unwrap(),
                );
            }
        }
    }
    assert!(found >= 6, "only {found} churning cases");
}

/// The bug this is for: a program that allocates and frees 64 MiB twice a second has a
/// flat floor, yet the cycles, read as noise, made every interval straddle a 1 MiB/s budget.
#[test]
fn churn_of_64_mib_cycles_no_longer_hides_the_verdict() {
    let budget = Budget::parse("rss.slope", BudgetKind::Slope, "1 MiB/s").unwrap();
    let opts = AnalysisOptions {
        x_unit: XUnit::Second,
        ..AnalysisOptions::default()
    };
    for (name, expected) in [
        ("square_64m_flat", Outcome::Pass),
        ("square_64m_leak_2m_per_s", Outcome::Fail),
    ] {
        let case = reference()["churn"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone();
        let series = Series::new(vec(&case["x"]), vec(&case["y"])).unwrap();
        let a = analyze_metric("rss", &series, &[], std::slice::from_ref(&budget), &opts).unwrap();
        let period = a.churn.as_ref().map(|c| c.period).unwrap_or(0.0);
        assert!((period - 0.5).abs() < 0.01, "{name}: period {period}");
        assert_eq!(
            a.verdicts[0].outcome, expected,
            "{name}: {:?}",
            a.verdicts[0]
        );
    }
}

#[test]
fn checkpoint_retained_matches_numpy_and_scipy() {
    use leakcheck_analysis::retained::checkpoint_retained;
    for (i, case) in reference()["retained"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let readings: Vec<Vec<f64>> = case["readings"]
            .as_array()
            .unwrap()
            .iter()
            .map(vec)
            .collect();
        let r = checkpoint_retained(&readings, 0.99).expect("two or more checkpoints");
        close(
            &format!("case {i} estimate"),
            r.estimate,
            case["estimate"].as_f64().unwrap(),
        );
        close(&format!("case {i} lo"), r.lo, case["lo"].as_f64().unwrap());
        close(&format!("case {i} hi"), r.hi, case["hi"].as_f64().unwrap());
        assert!(r.lo < r.estimate && r.estimate < r.hi, "case {i}: {r:?}");
        match (&r.per_checkpoint, case.get("per_checkpoint")) {
            (Some(fit), Some(want)) => {
                close(
                    &format!("case {i} slope"),
                    fit.slope,
                    want["slope"].as_f64().unwrap(),
                );
                close(
                    &format!("case {i} slope lo"),
                    fit.lo,
                    want["lo"].as_f64().unwrap(),
                );
                close(
                    &format!("case {i} slope hi"),
                    fit.hi,
                    want["hi"].as_f64().unwrap(),
                );
            }
            (None, None) => {}
            (got, want) => panic!("case {i}: per-checkpoint slope {got:?}, reference {want:?}"),
        }
    }
}

/// A warm-up slower than the steady state (a slow start) is no cache fill: a look may
/// fail on the leak after it however long the cut, while a fill that rose fastest first
/// keeps needing a steady state three times its warm-up.
#[test]
fn a_slow_start_counts_as_steady_and_a_fill_does_not() {
    let budget = Budget::parse("alloc.slope", BudgetKind::Slope, "16 KiB/iter").unwrap();
    let opts = AnalysisOptions::default();
    let mib = 1024.0 * 1024.0;
    // Small deterministic wobble so that no two values tie.
    let wobble = |i: usize| 4096.0 * ((i * 7919) % 13) as f64;
    let analyse = |y: Vec<f64>| {
        let series = Series::from_y(y).unwrap();
        analyze_metric("alloc", &series, &[], std::slice::from_ref(&budget), &opts).unwrap()
    };
    // 60 marks: 20 iterations at one pace (MiB/iter), then the rest at another.
    let two_paces = |first: f64, then: f64| {
        analyse(
            (0..60usize)
                .map(|i| {
                    let mib_so_far = first * i.min(20) as f64 + then * i.saturating_sub(20) as f64;
                    mib_so_far * mib + wobble(i)
                })
                .collect(),
        )
    };
    let slow_start = two_paces(0.2, 2.0);
    assert!(slow_start.warmup.index > 0, "{:?}", slow_start.warmup);
    assert!(slow_start.warmup.no_steeper, "{:?}", slow_start.warmup);
    assert_ne!(slow_start.steadiness(), Steadiness::Unsteady);
    // Fast first, then slow: concave, a fill's shape.
    let fill = two_paces(2.0, 0.2);
    assert!(fill.warmup.index > 0, "{:?}", fill.warmup);
    assert!(!fill.warmup.no_steeper, "{:?}", fill.warmup);
}
