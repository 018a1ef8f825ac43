//! Axis ranges and tick labels: one display unit per axis, chosen from its largest
//! magnitude, so plotters can pick round ticks (`50 MiB`, not `47.7 MiB`).

use leakcheck_vocab::ValueUnit;

const IEC: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
const SI: [&str; 6] = ["", "k", "M", "G", "T", "P"];

/// Index into `units` that keeps `|v|` in `[1, base)` where possible.
fn unit_index(v: f64, base: f64, units: usize) -> usize {
    let mut i = 0;
    let mut a = v.abs();
    while a >= base && i + 1 < units {
        a /= base;
        i += 1;
    }
    i
}

/// Scale and suffix for an axis spanning `lo..hi`: one unit for all ticks,
/// chosen from the largest magnitude, so the chart can be drawn in that
/// unit and plotters picks round ticks (`50 MiB`, not `47.7 MiB`).
pub fn axis_scale(lo: f64, hi: f64, unit: ValueUnit) -> (f64, &'static str) {
    match unit {
        ValueUnit::Bytes => {
            let i = unit_index(lo.abs().max(hi.abs()), 1024.0, IEC.len());
            (1024f64.powi(i as i32), IEC[i])
        }
        ValueUnit::Count => {
            let i = unit_index(lo.abs().max(hi.abs()), 1000.0, SI.len());
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

/// `lo..hi` widened by 5 % each side (or by 1 unit when empty), finite.
pub(super) fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let pad = hi * 0.05 - lo * 0.05; // no overflow even at ±f64::MAX
    let pad = if pad > 0.0 {
        pad
    } else {
        (lo.abs() * 0.05).max(1.0)
    };
    let lo2 = lo - pad;
    let hi2 = hi + pad;
    (
        if lo2.is_finite() { lo2 } else { lo },
        if hi2.is_finite() { hi2 } else { hi },
    )
}

pub(super) fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_ticks_share_one_unit() {
        let mib = 1024.0 * 1024.0;
        assert_eq!(axis_scale(0.0, 3.0 * mib, ValueUnit::Bytes), (mib, "MiB"));
        assert_eq!(axis_scale(-2.0 * mib, 1.0, ValueUnit::Bytes), (mib, "MiB"));
        assert_eq!(axis_scale(0.0, 999.0, ValueUnit::Count), (1.0, ""));
        assert_eq!(axis_scale(0.0, 1.9e8, ValueUnit::Count), (1e6, "M"));
        let f = tick_formatter(0.0, 3.0, 7, "MiB");
        assert_eq!(f(&1.5), "1.5 MiB");
        assert_eq!(f(&-0.0001), "0.0 MiB");
        let g = tick_formatter(0.0, 600.0, 7, "MiB");
        assert_eq!(g(&100.0), "100 MiB");
        assert_eq!(tick_formatter(0.0, 500.0, 10, "")(&250.0), "250");
    }
}
