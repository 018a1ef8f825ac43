//! Estimators against values computed independently in Python by
//! `tests/reference/make_reference.py` (scipy `theilslopes`, statsmodels
//! `OLS(...).fit(cov_type="HAC")`, pymannkendall `original_test` and
//! `hamed_rao_modification_test`, numpy for the AR(1) variance factor), stored
//! in `tests/reference/reference.json`.
//! Everything must agree to 1e-6 relative.

use leakcheck_analysis::{PairSlopes, mann_kendall, ols_hac, theil_sen};
use serde_json::Value;

mod common;
use common::vec;

const REL: f64 = 1e-6;

fn close(what: &str, case: &str, got: f64, want: f64) {
    let tol = REL * want.abs().max(1e-300);
    assert!(
        (got - want).abs() <= tol,
        "{case}: {what} = {got:e}, reference {want:e} (rel err {:e})",
        ((got - want) / want).abs()
    );
}

fn cases() -> Vec<Value> {
    let v: Value = serde_json::from_str(include_str!("reference/reference.json")).unwrap();
    let cases = v["cases"].as_array().unwrap().clone();
    assert!(cases.len() >= 3);
    cases
}

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or_else(|| panic!("missing {k}"))
}

#[test]
fn ols_newey_west_matches_statsmodels() {
    for c in cases() {
        let (name, x, y) = (c["name"].as_str().unwrap(), vec(&c["x"]), vec(&c["y"]));
        for r in c["ols"].as_array().unwrap() {
            let lags = r["maxlags"].as_u64().unwrap() as usize;
            let e = ols_hac(&x, &y, f(r, "confidence"), Some(lags));
            let tag = format!("{name} lags {lags}");
            close("slope", &tag, e.slope, f(r, "slope"));
            close("intercept", &tag, e.intercept, f(r, "intercept"));
            close("lo", &tag, e.lo, f(r, "lo"));
            close("hi", &tag, e.hi, f(r, "hi"));
        }
    }
}

#[test]
fn theil_sen_matches_scipy() {
    for c in cases() {
        let (name, x, y) = (c["name"].as_str().unwrap(), vec(&c["x"]), vec(&c["y"]));
        for r in c["theil_sen"].as_array().unwrap() {
            let e = theil_sen(&x, &y, f(r, "confidence"));
            close("slope", name, e.slope, f(r, "slope"));
            close("intercept", name, e.intercept, f(r, "intercept"));
            close("lo", name, e.lo, f(r, "lo"));
            close("hi", name, e.hi, f(r, "hi"));
        }
    }
}

#[test]
fn mann_kendall_matches_pymannkendall() {
    for c in cases() {
        let (name, x, y) = (c["name"].as_str().unwrap(), vec(&c["x"]), vec(&c["y"]));
        let r = &c["mann_kendall"];
        let pairs = PairSlopes::new(&x, &y);
        close("sen slope", name, pairs.slope(), f(r, "sens_slope"));
        let m = mann_kendall(&x, &y, pairs.slope());
        close("S", name, m.s, f(r, "s"));
        close("Var(S)", name, m.var_s, f(r, "var_s"));
        close(
            "Var(S)·n/n* (Hamed–Rao)",
            name,
            m.var_s * m.correction_hamed_rao,
            f(r, "var_s_hamed_rao"),
        );
        close("Z (Hamed–Rao)", name, m.z_hamed_rao, f(r, "z_hamed_rao"));
        close("p (Hamed–Rao)", name, m.p_hamed_rao, f(r, "p_hamed_rao"));
        let p_py = f(r, "p_pymannkendall");
        if p_py > 1e-9 {
            // pymannkendall computes 1 - cdf, exact enough only away from 0.
            close("p (pymannkendall)", name, m.p_hamed_rao, p_py);
        }
        // The leading-run + tail factor and the applied Z and p, recomputed
        // in numpy by the script.
        close(
            "leading-run factor",
            name,
            m.correction_lead,
            f(r, "factor_lead"),
        );
        close("applied factor", name, m.correction, f(r, "factor"));
        close("Z", name, m.z, f(r, "z"));
        close("p", name, m.p, f(r, "p"));
    }
}

#[test]
fn sen_interval_with_corrected_variance_matches_python() {
    for c in cases() {
        let (name, x, y) = (c["name"].as_str().unwrap(), vec(&c["x"]), vec(&c["y"]));
        let r = &c["theil_sen_corrected"];
        let mut pairs = PairSlopes::new(&x, &y);
        let m = mann_kendall(&x, &y, pairs.slope());
        close("factor", name, m.correction, f(r, "factor"));
        let e = pairs.estimate(f(r, "confidence"), m.correction, "test");
        close("lo", name, e.lo, f(r, "lo"));
        close("hi", name, e.hi, f(r, "hi"));
    }
}
