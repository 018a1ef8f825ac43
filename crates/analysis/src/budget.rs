//! Budgets with units, and the human formatting of bytes and rates.
//!
//! Sizes: a non-negative number and an optional unit, `B`, SI `kB MB GB TB`
//! (powers of 1000) or IEC `KiB MiB GiB TiB` (powers of 1024); no unit means
//! bytes. `KB` is refused as ambiguous (it means 1000 or 1024 depending on
//! who wrote it). Rates: a size, `/`, and `iter`, `s` or `min` (minutes are
//! stored per second). Long spellings (`/iteration`, `/sec`) are refused so
//! that one config has one spelling; the error lists the accepted forms.

use serde::{Deserialize, Serialize};

use crate::series::XUnit;

/// What a budget limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetKind {
    /// Growth rate after warm-up (bytes per iteration or second).
    Slope,
    /// Total growth after warm-up: fitted slope × x span (bytes).
    Growth,
    /// Highest sample of the whole series (bytes).
    Peak,
    /// Level at the start of the last session minus at the start of the first (bytes).
    Retained,
}

impl BudgetKind {
    /// The config key of this kind: `slope`, `growth`, `peak`, `retained`.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetKind::Slope => "slope",
            BudgetKind::Growth => "growth",
            BudgetKind::Peak => "peak",
            BudgetKind::Retained => "retained",
        }
    }

    /// The kind named by a config key, if any.
    pub fn from_key(key: &str) -> Option<BudgetKind> {
        [
            BudgetKind::Slope,
            BudgetKind::Growth,
            BudgetKind::Peak,
            BudgetKind::Retained,
        ]
        .into_iter()
        .find(|k| k.as_str() == key)
    }
}

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
            Quantity::Bytes(bytes) => f.write_str(&format_bytes(bytes)),
            Quantity::Rate { bytes, per } => f.write_str(&format_rate(bytes, per)),
        }
    }
}

/// One limit on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub kind: BudgetKind,
    pub limit: Quantity,
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
    match SIZE_UNITS.iter().find(|(u, _)| *u == unit) {
        Some((_, m)) => Ok(v * m),
        None if unit == "KB" => {
            Err("unit \"KB\" is ambiguous: write kB (1000) or KiB (1024)".into())
        }
        None => Err(format!("unknown size unit {unit:?}")),
    }
}

/// Bytes with an IEC unit and three significant digits: `41.3 KiB`, `512 B`,
/// `1.5 GiB`, `-2 MiB`.
pub fn format_bytes(b: f64) -> String {
    let (scaled, unit) = scale(b.abs());
    format!("{}{} {unit}", if b < 0.0 { "-" } else { "" }, sig3(scaled))
}

/// A rate: `41.3 KiB/iter`, `10 MiB/s`.
pub fn format_rate(b: f64, per: XUnit) -> String {
    format!("{}/{}", format_bytes(b), per.suffix())
}

/// Two values in the unit of the larger: `40.9–41.8 KiB` (or `-3 to 7 KiB`),
/// with up to two extra digits when three would print them equal.
pub fn format_bytes_range(lo: f64, hi: f64) -> String {
    let (_, unit) = scale(lo.abs().max(hi.abs()));
    let div = unit_divisor(unit);
    let mut pair = (String::new(), String::new());
    for digits in 3..=5 {
        pair = (sig_signed(lo / div, digits), sig_signed(hi / div, digits));
        if pair.0 != pair.1 {
            break;
        }
    }
    let (a, b) = pair;
    if lo < 0.0 || hi < 0.0 {
        format!("{a} to {b} {unit}")
    } else {
        format!("{a}–{b} {unit}")
    }
}

const IEC: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

fn scale(mut v: f64) -> (f64, &'static str) {
    let mut i = 0;
    // 1023.5 and up would print as "1024": move to the next unit instead.
    while i < IEC.len() - 1 && v >= 1023.5 {
        v /= 1024.0;
        i += 1;
    }
    (v, IEC[i])
}

fn unit_divisor(unit: &str) -> f64 {
    let i = IEC.iter().position(|u| *u == unit).unwrap_or(0);
    1024f64.powi(i as i32)
}

fn sig_signed(v: f64, digits: i32) -> String {
    let s = sig(v.abs(), digits);
    if v < 0.0 && s != "0" {
        format!("-{s}")
    } else {
        s
    }
}

/// Three significant digits, trailing zeros trimmed.
fn sig3(v: f64) -> String {
    sig(v, 3)
}

/// `digits` significant digits, trailing zeros trimmed.
fn sig(v: f64, digits: i32) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".into();
    }
    let digits = (digits - 1 - v.log10().floor() as i32).clamp(0, 9) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(format_bytes(41.3 * 1024.0), "41.3 KiB");
        assert_eq!(format_bytes(512.0), "512 B");
        assert_eq!(format_bytes(1024.0), "1 KiB");
        assert_eq!(format_bytes(1023.9 * 1024.0), "1 MiB");
        assert_eq!(format_bytes(-2.0 * 1048576.0), "-2 MiB");
        assert_eq!(format_bytes(0.0), "0 B");
        assert_eq!(format_rate(1536.0, XUnit::Iteration), "1.5 KiB/iter");
        assert_eq!(
            format_bytes_range(40.9 * 1024.0, 41.8 * 1024.0),
            "40.9–41.8 KiB"
        );
    }
}
