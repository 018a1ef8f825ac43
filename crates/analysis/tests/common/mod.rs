//! Helpers shared by the tests that read reference values from `tests/reference/`.

use serde_json::Value;

/// A JSON array of numbers.
pub fn vec(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_f64().unwrap())
        .collect()
}
