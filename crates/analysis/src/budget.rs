//! Budgets with units.
//!
//! Sizes: a non-negative number and an optional unit, `B`, SI `kB MB GB TB`
//! (powers of 1000) or IEC `KiB MiB GiB TiB` (powers of 1024); no unit means
//! bytes. `KB` is refused as ambiguous (it means 1000 or 1024 depending on
//! who wrote it). Rates: a size, `/`, and `iter`, `s` or `min` (minutes are
//! stored per second). Long spellings (`/iteration`, `/sec`) are refused so
//! that one config has one spelling; the error lists the accepted forms.

use serde::{Deserialize, Serialize};

use crate::series::XUnit;

pub use leakcheck_vocab::BudgetKind;
use leakcheck_vocab::fmt;

/// A size or a rate (JSON: `{"bytes": 1024.0}` or `{"rate": {"bytes": 1024.0, "per": "iteration"}}`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantity {
    Bytes(f64),
    /// Bytes per x unit; minutes are stored per second.
    Rate {
        bytes: f64,
        per: XUnit,
    },
}

impl Quantity {
    pub fn bytes(&self) -> f64 {
        match *self {
            Quantity::Bytes(bytes) | Quantity::Rate { bytes, .. } => bytes,
        }
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Quantity::Bytes(bytes) => f.write_str(&fmt::bytes(bytes)),
            Quantity::Rate { bytes, per } => f.write_str(&fmt::byte_rate(bytes, per)),
        }
    }
}

/// One limit on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub kind: BudgetKind,
    pub limit: Quantity,
}

/// A budget on one named metric, with the key it came from (quoted by messages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricBudget {
    pub metric: String,
    pub budget: Budget,
    /// Dotted path, e.g. `scenarios.loader-loop.budgets."rss.tree".slope`, or
    /// `--budget rss.slope`.
    pub key: String,
}

/// A budget value that could not be parsed: names the key and the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid budget {key} = {value:?}: {problem}; expected {expected}")]
pub struct BudgetError {
    pub key: String,
    pub value: String,
    pub problem: String,
    pub expected: &'static str,
}

/// The accepted size forms, quoted by errors.
pub const SIZE_FORMS: &str = "a size: a non-negative number with an optional unit B, kB, MB, GB, TB \
(powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), e.g. \"512 KiB\", \"2 MiB\", \"1 GB\", \"4096\"";
/// The accepted rate forms, quoted by errors.
pub const RATE_FORMS: &str = "a rate: a size per /iter, /s or /min, e.g. \"4 KiB/iter\", \"1 MiB/min\", \
\"10 MB/s\" (size units B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)";

const SIZE_UNITS: [(&str, f64); 10] = [
    ("", 1.0),
    ("B", 1.0),
    ("kB", 1e3),
    ("MB", 1e6),
    ("GB", 1e9),
    ("TB", 1e12),
    ("KiB", 1024.0),
    ("MiB", 1048576.0),
    ("GiB", 1073741824.0),
    ("TiB", 1099511627776.0),
];

impl Budget {
    /// Parses `value` for a budget of `kind`; `key` is the dotted config key
    /// quoted by errors (e.g. `scenario.loader-loop.budgets.allocated.slope`).
    pub fn parse(key: &str, kind: BudgetKind, value: &str) -> Result<Budget, BudgetError> {
        let expected = if kind == BudgetKind::Slope {
            RATE_FORMS
        } else {
            SIZE_FORMS
        };
        let fail = |problem: String| BudgetError {
            key: key.to_string(),
            value: value.to_string(),
            problem,
            expected,
        };
        let t = value.trim();
        let (size, per) = match t.split_once('/') {
            Some((s, p)) => (s.trim(), Some(p.trim())),
            None => (t, None),
        };
        let bytes = parse_size(size).map_err(&fail)?;
        let limit = match (kind, per) {
            (BudgetKind::Slope, None) => {
                return Err(fail(
                    "a slope budget needs a rate (a size per /iter, /s or /min)".into(),
                ));
            }
            (BudgetKind::Slope, Some(p)) => match p {
                "iter" => Quantity::Rate {
                    bytes,
                    per: XUnit::Iteration,
                },
                "s" => Quantity::Rate {
                    bytes,
                    per: XUnit::Second,
                },
                "min" => Quantity::Rate {
                    bytes: bytes / 60.0,
                    per: XUnit::Second,
                },
                other => return Err(fail(format!("unknown rate unit \"/{other}\""))),
            },
            (_, Some(p)) => {
                return Err(fail(format!(
                    "a {} budget is a size, not a rate (\"/{p}\")",
                    kind.as_str()
                )));
            }
            (_, None) => Quantity::Bytes(bytes),
        };
        Ok(Budget { kind, limit })
    }
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.limit)
    }
}

/// "512 KiB" -> bytes, or the problem in words.
fn parse_size(s: &str) -> Result<f64, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = (&s[..split], s[split..].trim());
    if num.is_empty() {
        return Err(if s.starts_with('-') {
            "a budget cannot be negative".into()
        } else if s.is_empty() {
            "the value is empty".into()
        } else {
            format!("{s:?} does not start with a number")
        });
    }
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{num:?} is not a number"))?;
    let rest = &s[split..];
    if num == "0" && rest.starts_with(['x', 'X']) {
        return Err(format!("{s:?} is hexadecimal: write the number in decimal"));
    }
    if rest.starts_with(['e', 'E'])
        && rest[1..].starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-')
    {
        return Err(format!(
            "{s:?} has an exponent: write the number out with a unit instead (e.g. \"4 GiB\")"
        ));
    }
    match SIZE_UNITS.iter().find(|(u, _)| *u == unit) {
        Some((_, m)) if !(v * m).is_finite() || v * m > crate::series::MAX_ABS => Err(format!(
            "{s:?} is too large for a size (at most 1e18 bytes)"
        )),
        Some((_, m)) => Ok(v * m),
        None if unit == "KB" => {
            Err("unit \"KB\" is ambiguous: write kB (1000) or KiB (1024)".into())
        }
        None => Err(format!("unknown size unit {unit:?}")),
    }
}
