//! Budgets with units.
//!
//! Sizes: a non-negative number and an optional unit, `B`, SI `kB MB GB TB`
//! (powers of 1000) or IEC `KiB MiB GiB TiB` (powers of 1024); no unit means
//! bytes. `KB` is refused as ambiguous (it means 1000 or 1024 depending on
//! who wrote it). Rates: a size, `/`, and `iter`, `s` or `min` (minutes are
//! stored per second). Long spellings (`/iteration`, `/sec`) are refused so
//! that one config has one spelling; the error lists the accepted forms.
//!
//! Budgets on count metrics (`py.blocks`) are counts: a number with an optional SI
//! suffix `k`, `M` or `G` (`10k`, `50/iter`); a size unit there is refused. The
//! amounts in [`Quantity`] are in the budget's [`ValueUnit`] (bytes or things); the
//! JSON field is called `bytes` because byte budgets came first.

use serde::{Deserialize, Serialize};

use crate::series::XUnit;

pub use leakcheck_vocab::BudgetKind;
use leakcheck_vocab::{ValueUnit, fmt};

/// An amount or a rate (JSON: `{"bytes": 1024.0}` or `{"rate": {"bytes": 1024.0, "per": "iteration"}}`),
/// in the unit of the budget holding it.
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
    /// The amount (bytes, or things for a count budget), per x unit for a rate.
    pub fn bytes(&self) -> f64 {
        match *self {
            Quantity::Bytes(bytes) | Quantity::Rate { bytes, .. } => bytes,
        }
    }

    /// For people: `16 KiB/iter`, `64 MiB`, or for counts `50/iter`, `10 k`.
    pub fn text(&self, unit: ValueUnit) -> String {
        match *self {
            Quantity::Bytes(amount) => fmt::value(amount, unit),
            Quantity::Rate { bytes, per } => fmt::rate(bytes, unit, per),
        }
    }
}

/// One limit on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub kind: BudgetKind,
    pub limit: Quantity,
    /// What the limit counts: bytes unless the metric is a count (absent in JSON then).
    #[serde(default, skip_serializing_if = "is_bytes")]
    pub unit: ValueUnit,
}

fn is_bytes(unit: &ValueUnit) -> bool {
    *unit == ValueUnit::Bytes
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
/// The accepted count forms, quoted by errors.
pub const COUNT_FORMS: &str = "a count: a non-negative number with an optional k, M or G (powers \
of 1000), e.g. \"10k\", \"2500\"";
/// The accepted count-rate forms, quoted by errors.
pub const COUNT_RATE_FORMS: &str = "a count per /iter, /s or /min, e.g. \"50/iter\", \"2k/s\"";

const COUNT_UNITS: [(&str, f64); 4] = [("", 1.0), ("k", 1e3), ("M", 1e6), ("G", 1e9)];

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
    /// Parses `value` for a byte budget of `kind`; `key` is the dotted config key
    /// quoted by errors (e.g. `scenario.loader-loop.budgets.allocated.slope`).
    pub fn parse(key: &str, kind: BudgetKind, value: &str) -> Result<Budget, BudgetError> {
        Budget::parse_in(key, kind, value, ValueUnit::Bytes)
    }

    /// Parses `value` for a budget of `kind` on a metric whose values are `unit`s.
    pub fn parse_in(
        key: &str,
        kind: BudgetKind,
        value: &str,
        unit: ValueUnit,
    ) -> Result<Budget, BudgetError> {
        let expected = match (unit, kind) {
            (ValueUnit::Bytes, BudgetKind::Slope) => RATE_FORMS,
            (ValueUnit::Bytes, _) => SIZE_FORMS,
            (ValueUnit::Count, BudgetKind::Slope) => COUNT_RATE_FORMS,
            (ValueUnit::Count, _) => COUNT_FORMS,
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
        let bytes = match unit {
            ValueUnit::Bytes => parse_size(size),
            ValueUnit::Count => parse_count(size),
        }
        .map_err(&fail)?;
        let limit = match (kind, per) {
            (BudgetKind::Slope, None) => {
                let what = match unit {
                    ValueUnit::Bytes => "a size",
                    ValueUnit::Count => "a count",
                };
                return Err(fail(format!(
                    "a slope budget needs a rate ({what} per /iter, /s or /min)"
                )));
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
                let what = match unit {
                    ValueUnit::Bytes => "a size",
                    ValueUnit::Count => "a count",
                };
                return Err(fail(format!(
                    "a {} budget is {what}, not a rate (\"/{p}\")",
                    kind.as_str()
                )));
            }
            (_, None) => Quantity::Bytes(bytes),
        };
        Ok(Budget { kind, limit, unit })
    }

    /// The limit for people (`16 KiB/iter`, `10 k`).
    pub fn limit_text(&self) -> String {
        self.limit.text(self.unit)
    }
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.limit_text())
    }
}

/// "512 KiB" -> bytes, or the problem in words.
fn parse_size(s: &str) -> Result<f64, String> {
    parse_amount(s, &SIZE_UNITS, "size")
}

/// "10k" -> 10000, or the problem in words (a size unit names the mix-up).
fn parse_count(s: &str) -> Result<f64, String> {
    parse_amount(s, &COUNT_UNITS, "count").map_err(|problem| {
        let unit = s
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
            .trim();
        if SIZE_UNITS.iter().any(|(u, _)| !u.is_empty() && *u == unit) || unit == "KB" {
            format!("{unit:?} is a size unit, but this metric counts things, not bytes")
        } else {
            problem
        }
    })
}

/// A non-negative decimal number and one of `units`, scaled; `what` names it in errors.
fn parse_amount(s: &str, units: &[(&str, f64)], what: &str) -> Result<f64, String> {
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
    match units.iter().find(|(u, _)| *u == unit) {
        Some((_, m)) if !(v * m).is_finite() || v * m > crate::series::MAX_ABS => {
            Err(format!("{s:?} is too large for a {what} (at most 1e18)"))
        }
        Some((_, m)) => Ok(v * m),
        None if unit == "KB" && what == "size" => {
            Err("unit \"KB\" is ambiguous: write kB (1000) or KiB (1024)".into())
        }
        None => Err(format!("unknown {what} unit {unit:?}")),
    }
}
