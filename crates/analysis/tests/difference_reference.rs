//! The difference of two runs' slopes (MOVER) against values computed independently with
//! scipy: `reference/make_difference_reference.py` (symmetric cases also checked there
//! against the Welch-type normal interval).

use leakcheck_analysis::{Estimate, difference};

#[test]
fn mover_differences_match_the_scipy_reference() {
    let text = include_str!("reference/difference_reference.json");
    let doc: serde_json::Value = serde_json::from_str(text).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 9);
    let est = |v: &serde_json::Value| Estimate {
        estimate: v[0].as_f64().unwrap(),
        lo: v[1].as_f64().unwrap(),
        hi: v[2].as_f64().unwrap(),
        confidence: v[3].as_f64().unwrap(),
    };
    for case in cases {
        let conf = case["confidence"].as_f64().unwrap();
        let d = difference(est(&case["a"]), est(&case["b"]), conf).unwrap();
        let want: Vec<f64> = case["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for (got, want) in [d.estimate, d.lo, d.hi].into_iter().zip(want) {
            let tol = 1e-6 * want.abs().max(1.0);
            assert!((got - want).abs() <= tol, "{got} vs {want} in {case}");
        }
    }
}
