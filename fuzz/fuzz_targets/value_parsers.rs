//! The size, rate, duration and `--budget` parsers on any text: a value or an error that
//! quotes it, never a panic.
#![no_main]

use leakcheck_analysis::{Budget, BudgetKind};
use leakcheck_settings::{parse_budget_flag, parse_duration_flag, parse_size_flag};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for kind in BudgetKind::ALL {
        if let Ok(b) = Budget::parse("k", kind, &text) {
            assert!(b.limit.bytes() >= 0.0, "{text:?} -> {b:?}");
        }
    }
    let _ = parse_size_flag("--ceiling", &text);
    let _ = parse_duration_flag("--timeout", &text);
    let _ = parse_budget_flag(&text);
});
