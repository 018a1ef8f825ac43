//! Durations in `leakcheck.toml` and on the command line (`"500ms"`, `"1.5s"`, `"2min"`,
//! `"1h"`). Sizes are parsed by `leakcheck-analysis` (`Budget::parse`), so one config has
//! one spelling of a size; both are shown by `leakcheck_vocab::fmt`.
//!
//! Not `humantime`: it refuses fractions (`"1.5s"`, `"0.5 h"`), which configs use.

use std::time::Duration;

/// Accepted duration units, for error messages.
pub const DURATION_UNITS: &str = "ms, s, min, h (e.g. \"500ms\", \"30s\", \"2min\", \"1h\")";

/// Split `"1.5 GiB"` into `(1.5, "GiB")`; `None` when there is no leading number.
fn split_number(text: &str) -> Option<(f64, &str)> {
    let text = text.trim();
    let end = text
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .map_or(text.len(), |(i, _)| i);
    let number: String = text[..end].chars().filter(|&c| c != '_').collect();
    let value: f64 = number.parse().ok()?;
    value
        .is_finite()
        .then_some((value, text[end..].trim_start()))
}

/// Parse a duration with a mandatory unit; `None` when it is not one.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let (value, unit) = split_number(text)?;
    let seconds = match unit {
        "ns" => value / 1e9,
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "s" | "sec" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration(" 2 min"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("30"), None, "a unit is mandatory");
        assert_eq!(parse_duration("30 parsecs"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("-1s"), None);
    }
}
