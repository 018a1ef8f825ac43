//! The one way numbers are written for people: bytes, byte ranges, rates, counts,
//! durations and confidence levels. The report, the runner's messages and the workloads
//! all call these, so a table, a plot label and a terminal line agree to the digit.
//!
//! Style: three significant digits with trailing zeros trimmed (`1.5 KiB`, `41.3 KiB`,
//! `512 B`); IEC units for bytes, SI prefixes for counts; a value that would print as
//! `1024 KiB` moves to the next unit (`1 MiB`); non-finite values print as `n/a`.

use std::time::Duration;

use crate::{BudgetKind, ValueUnit, XUnit};

const IEC: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
const SI: [&str; 6] = ["", "k", "M", "G", "T", "P"];

/// Bytes with an IEC unit and three significant digits: `41.3 KiB`, `512 B`, `-2 MiB`.
pub fn bytes(b: f64) -> String {
    if !b.is_finite() {
        return "n/a".to_string();
    }
    let (scaled, unit) = scale_iec(b.abs());
    format!(
        "{}{} {unit}",
        if b < 0.0 { "-" } else { "" },
        sig(scaled, 3)
    )
}

/// Two byte values in the unit of the larger: `40.9–41.8 KiB` (or `-3 to 7 KiB`), with up
/// to two extra digits when three would print them equal.
pub fn bytes_range(lo: f64, hi: f64) -> String {
    if !(lo.is_finite() && hi.is_finite()) {
        return "n/a".to_string();
    }
    let (_, unit) = scale_iec(lo.abs().max(hi.abs()));
    let div = 1024f64.powi(IEC.iter().position(|u| *u == unit).unwrap_or(0) as i32);
    let mut pair = (String::new(), String::new());
    for digits in 3..=5 {
        pair = (sig_signed(lo / div, digits), sig_signed(hi / div, digits));
        if pair.0 != pair.1 {
            break;
        }
    }
    let (a, b) = pair;
    if a == b {
        // Narrower than five significant digits: one number, not `6.8858–6.8858`.
        return format!("{} {unit} at both ends", sig_signed(lo / div, 3));
    }
    if lo < 0.0 || hi < 0.0 {
        format!("{a} to {b} {unit}")
    } else {
        format!("{a}–{b} {unit}")
    }
}

/// A plain count: integers as such below 1000, else three significant digits with an SI
/// prefix (`42`, `1.9 k`, `190 M`).
pub fn count(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_string();
    }
    let mut i = 0;
    let mut a = v.abs();
    while a >= 999.5 && i + 1 < SI.len() {
        a /= 1000.0;
        i += 1;
    }
    if i == 0 {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            sig_signed(v, 3)
        }
    } else {
        format!("{} {}", sig_signed(v / 1000f64.powi(i as i32), 3), SI[i])
    }
}

/// A value in its metric's unit.
pub fn value(v: f64, unit: ValueUnit) -> String {
    match unit {
        ValueUnit::Bytes => bytes(v),
        ValueUnit::Count => count(v),
    }
}

/// A value range in its metric's unit: `40.9–41.8 KiB`, `12 to 40`.
pub fn value_range(lo: f64, hi: f64, unit: ValueUnit) -> String {
    match unit {
        ValueUnit::Bytes => bytes_range(lo, hi),
        ValueUnit::Count if lo < 0.0 || hi < 0.0 => format!("{} to {}", count(lo), count(hi)),
        ValueUnit::Count => format!("{}–{}", count(lo), count(hi)),
    }
}

/// A rate in the metric's unit per x unit: `36.2 KiB/iter`, `1.2 k/s`.
pub fn rate(v: f64, unit: ValueUnit, per: XUnit) -> String {
    if !v.is_finite() {
        return "n/a".to_string();
    }
    format!("{}/{}", value(v, unit), per.suffix())
}

/// The quantity a budget of `kind` limits: a rate for slopes, a value otherwise.
pub fn budget_value(v: f64, kind: BudgetKind, unit: ValueUnit, per: XUnit) -> String {
    match kind {
        BudgetKind::Slope => rate(v, unit, per),
        BudgetKind::Growth | BudgetKind::Peak | BudgetKind::Retained => value(v, unit),
    }
}

/// A byte rate: `41.3 KiB/iter`, `10 MiB/s`.
pub fn byte_rate(v: f64, per: XUnit) -> String {
    rate(v, ValueUnit::Bytes, per)
}

/// A duration: `250 ms`, `1.5 s`, `5 s`, `2 min 5 s`.
pub fn duration(d: Duration) -> String {
    seconds(d.as_secs_f64())
}

/// Seconds as [`duration`] writes them; non-finite or negative values print as `n/a`.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        "n/a".to_string()
    } else if s < 1.0 {
        format!("{:.0} ms", (s * 1000.0).floor())
    } else if s < 120.0 {
        let text = format!("{s:.1}");
        format!("{} s", text.strip_suffix(".0").unwrap_or(&text))
    } else {
        let whole = s.round() as u64;
        format!("{} min {} s", whole / 60, whole % 60)
    }
}

/// A command line (or any text) for one line of a message: whitespace runs (a `-c`
/// script's newlines) as one space, cut to `max` characters with `…`.
pub fn one_line(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// How long a command line may be in a message or a report row.
pub const COMMAND_CHARS: usize = 100;

/// A stretch of time ahead, as a forecast says it, to three significant digits: `45.2 s`,
/// `38.7 min`, `3.5 h`, `2.1 days`.
pub fn span(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        "n/a".to_string()
    } else if s < 120.0 {
        format!("{} s", sig(s, 3))
    } else if s < 2.0 * 3600.0 {
        format!("{} min", sig(s / 60.0, 3))
    } else if s < 48.0 * 3600.0 {
        format!("{} h", sig(s / 3600.0, 3))
    } else {
        format!("{} days", sig(s / 86400.0, 3))
    }
}

/// A confidence level as a percentage without trailing zeros: `0.99` → `99`, `0.995` → `99.5`.
pub fn percent(confidence: f64) -> String {
    // Never "100" for a level below 1 (a late look's 99.996 %): more decimals instead.
    let mut s = format!("{:.2}", confidence * 100.0);
    for decimals in 3..=8 {
        if !(s.starts_with("100") && confidence < 1.0) {
            break;
        }
        s = format!("{:.decimals$}", confidence * 100.0);
    }
    if s.starts_with("100") && confidence < 1.0 {
        s = "99.99999999".to_string();
    }
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn scale_iec(mut v: f64) -> (f64, &'static str) {
    let mut i = 0;
    // 1023.5 and up would print as "1024": move to the next unit instead.
    while i < IEC.len() - 1 && v >= 1023.5 {
        v /= 1024.0;
        i += 1;
    }
    (v, IEC[i])
}

fn sig_signed(v: f64, digits: i32) -> String {
    let s = sig(v.abs(), digits);
    if v < 0.0 && s != "0" {
        format!("-{s}")
    } else {
        s
    }
}

/// `digits` significant digits of a non-negative finite value, trailing zeros trimmed.
fn sig(v: f64, digits: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v >= 1e4 {
        // Only reachable beyond EiB: absurd values stay short.
        return format!("{v:.2e}");
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

    const KIB: f64 = 1024.0;
    const MIB: f64 = 1024.0 * 1024.0;

    #[test]
    fn one_line_folds_whitespace_and_cuts_long_text() {
        assert_eq!(
            one_line("python3 -c 'import x\nx.run()'", 100),
            "python3 -c 'import x x.run()'"
        );
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(one_line("é€ü", 2), "é€…");
    }

    #[test]
    fn spans_ahead_read_in_the_unit_that_fits() {
        assert_eq!(span(45.2), "45.2 s");
        assert_eq!(span(0.0), "0 s");
        assert_eq!(span(12.0 * 60.0), "12 min");
        assert_eq!(span(38.71 * 60.0), "38.7 min");
        assert_eq!(span(3.5 * 3600.0), "3.5 h");
        assert_eq!(span(3.0 * 3600.0), "3 h");
        assert_eq!(span(2.1 * 86400.0), "2.1 days");
        assert_eq!(span(f64::NAN), "n/a");
    }

    #[test]
    fn bytes_use_three_significant_digits_and_the_largest_unit() {
        assert_eq!(bytes(41.3 * KIB), "41.3 KiB");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(1024.0), "1 KiB");
        assert_eq!(bytes(1023.9 * KIB), "1 MiB");
        assert_eq!(bytes(-2.0 * MIB), "-2 MiB");
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(bytes(f64::NAN), "n/a");
        assert_eq!(bytes(1e30), "8.67e11 EiB");
    }

    #[test]
    fn ranges_share_the_unit_of_the_larger_bound() {
        assert_eq!(bytes_range(40.9 * KIB, 41.8 * KIB), "40.9–41.8 KiB");
        assert_eq!(bytes_range(-3.0 * KIB, 7.0 * KIB), "-3 to 7 KiB");
        // Three digits would print both as 1.23: more digits until they differ.
        assert_eq!(bytes_range(1.2301 * MIB, 1.2304 * MIB), "1.2301–1.2304 MiB");
        assert_eq!(value_range(3.0, 40.0, ValueUnit::Count), "3–40");
    }

    #[test]
    fn counts_rates_durations_and_levels() {
        assert_eq!(count(42.0), "42");
        assert_eq!(count(1.9e8), "190 M");
        assert_eq!(count(1900.0), "1.9 k");
        assert_eq!(count(2.5), "2.5");
        assert_eq!(byte_rate(1536.0, XUnit::Iteration), "1.5 KiB/iter");
        assert_eq!(rate(1200.0, ValueUnit::Count, XUnit::Second), "1.2 k/s");
        assert_eq!(rate(f64::INFINITY, ValueUnit::Bytes, XUnit::Second), "n/a");
        assert_eq!(duration(Duration::from_millis(250)), "250 ms");
        assert_eq!(duration(Duration::from_secs(2)), "2 s");
        assert_eq!(duration(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(seconds(125.0), "2 min 5 s");
        assert_eq!(seconds(f64::NAN), "n/a");
        assert_eq!(percent(0.99), "99");
        assert_eq!(percent(0.995), "99.5");
        // A late look's level is not 100 % (regression: a SIGTERM-ignoring run printed "100% CI").
        assert_eq!(percent(0.99996), "99.996");
        // A range narrower than five digits is one number (it printed `6.8858–6.8858 MiB`).
        assert_eq!(
            bytes_range(7_220_000.0, 7_220_000.5),
            "6.89 MiB at both ends"
        );
        assert_eq!(percent(1.0), "100");
    }
}
