//! Human units for bytes, rates and seconds, shared by every format so the
//! table, the plot and the JUnit message say the same number the same way.

use crate::model::{BudgetKind, ValueUnit, XAxis};

const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

const SI: [&str; 6] = ["", "k", "M", "G", "T", "P"];

/// Index into [`SI`] that keeps `|v|` in `[1, 1000)` where possible.
fn si_index(v: f64) -> usize {
    let mut i = 0;
    let mut a = v.abs();
    while a >= 1000.0 && i + 1 < SI.len() {
        a /= 1000.0;
        i += 1;
    }
    i
}

/// Index into [`UNITS`] that keeps `|v|` in `[1, 1024)` where possible.
fn unit_index(v: f64) -> usize {
    let mut i = 0;
    let mut a = v.abs();
    while a >= 1024.0 && i + 1 < UNITS.len() {
        a /= 1024.0;
        i += 1;
    }
    i
}

/// Number with 3 significant digits (`1.23`, `12.3`, `123`, `1234`).
fn sig3(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".to_string()
    } else if a >= 1e4 {
        // Only reachable beyond EiB: absurd values stay short.
        format!("{v:.2e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.2e}")
    }
}

/// `1.50 MiB`; non-finite values print as `n/a`.
pub fn bytes(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_string();
    }
    let i = unit_index(v);
    format!("{} {}", sig3(v / 1024f64.powi(i as i32)), UNITS[i])
}

/// A value in the metric's unit.
pub fn value(v: f64, unit: ValueUnit) -> String {
    match unit {
        ValueUnit::Bytes => bytes(v),
        ValueUnit::Count if v.is_finite() => {
            let i = si_index(v);
            if i == 0 {
                count(v)
            } else {
                format!("{} {}", sig3(v / 1000f64.powi(i as i32)), SI[i])
            }
        }
        ValueUnit::Count => "n/a".to_string(),
    }
}

/// A plain number: integers as such, else 3 significant digits.
pub fn count(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.is_finite() {
        sig3(v)
    } else {
        "n/a".to_string()
    }
}

/// A slope in the metric's unit per x unit: `36.2 KiB/iter`.
pub fn rate(v: f64, unit: ValueUnit, x: XAxis) -> String {
    if v.is_finite() {
        format!("{}{}", value(v, unit), x.per())
    } else {
        "n/a".to_string()
    }
}

/// A budget quantity: rates for slopes, plain values otherwise.
pub fn budget_value(v: f64, kind: BudgetKind, unit: ValueUnit, x: XAxis) -> String {
    match kind {
        BudgetKind::Slope => rate(v, unit, x),
        _ => value(v, unit),
    }
}

/// `5 s`, `1.5 s`, `2 min 5 s`.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() {
        "n/a".to_string()
    } else if s >= 120.0 {
        let m = (s / 60.0).floor();
        format!("{m:.0} min {:.0} s", s - m * 60.0)
    } else if (s - s.round()).abs() < 0.05 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// Scale and suffix for an axis spanning `lo..hi`: one unit for all ticks,
/// chosen from the largest magnitude, so the chart can be drawn in that
/// unit and plotters picks round ticks (`50 MiB`, not `47.7 MiB`).
pub fn axis_scale(lo: f64, hi: f64, unit: ValueUnit) -> (f64, &'static str) {
    match unit {
        ValueUnit::Bytes => {
            let i = unit_index(lo.abs().max(hi.abs()));
            (1024f64.powi(i as i32), UNITS[i])
        }
        ValueUnit::Count => {
            let i = si_index(lo.abs().max(hi.abs()));
            (1000f64.powi(i as i32), SI[i])
        }
    }
}

/// Tick formatter for an axis already in its display unit, spanning
/// `lo..hi` with about `ticks` labels: enough decimals to tell
/// neighbouring ticks apart.
pub fn tick_formatter(lo: f64, hi: f64, ticks: usize, suffix: &str) -> impl Fn(&f64) -> String {
    let step = ((hi - lo) / ticks.max(1) as f64).abs();
    let decimals = if step.is_finite() && step > 0.0 && step < 1.0 {
        ((-step.log10()).ceil() as usize).min(6)
    } else {
        0
    };
    let suffix = if suffix.is_empty() {
        String::new()
    } else {
        format!(" {suffix}")
    };
    move |v: &f64| {
        if v.abs() >= 1e7 {
            format!("{v:.2e}{suffix}")
        } else {
            // Avoid "-0".
            let v = if v.abs() < 0.5 * 10f64.powi(-(decimals as i32)) {
                0.0
            } else {
                *v
            };
            format!("{v:.decimals$}{suffix}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_pick_the_largest_unit_below_1024() {
        assert_eq!(bytes(0.0), "0 B");
        assert_eq!(bytes(1023.0), "1023 B");
        assert_eq!(bytes(1536.0), "1.50 KiB");
        assert_eq!(bytes(512.0 * 1024.0 * 1024.0), "512 MiB");
        assert_eq!(bytes(-3.0 * 1024.0 * 1024.0 * 1024.0), "-3.00 GiB");
        assert_eq!(bytes(f64::NAN), "n/a");
        assert_eq!(bytes(1e30), "8.67e11 EiB");
        assert_eq!(bytes(f64::MIN), "-1.56e290 EiB");
    }

    #[test]
    fn axis_ticks_share_one_unit() {
        let mib = 1024.0 * 1024.0;
        assert_eq!(axis_scale(0.0, 3.0 * mib, ValueUnit::Bytes), (mib, "MiB"));
        assert_eq!(axis_scale(-2.0 * mib, 1.0, ValueUnit::Bytes), (mib, "MiB"));
        assert_eq!(axis_scale(0.0, 999.0, ValueUnit::Count), (1.0, ""));
        assert_eq!(axis_scale(0.0, 1.9e8, ValueUnit::Count), (1e6, "M"));
        assert_eq!(value(1.9e8, ValueUnit::Count), "190 M");
        assert_eq!(value(42.0, ValueUnit::Count), "42");
        let f = tick_formatter(0.0, 3.0, 7, "MiB");
        assert_eq!(f(&1.5), "1.5 MiB");
        assert_eq!(f(&-0.0001), "0.0 MiB");
        let g = tick_formatter(0.0, 600.0, 7, "MiB");
        assert_eq!(g(&100.0), "100 MiB");
        assert_eq!(tick_formatter(0.0, 500.0, 10, "")(&250.0), "250");
    }

    #[test]
    fn seconds_read_naturally() {
        assert_eq!(seconds(5.0), "5 s");
        assert_eq!(seconds(1.3), "1.3 s");
        assert_eq!(seconds(125.0), "2 min 5 s");
    }
}
