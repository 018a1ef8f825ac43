//! A baseline file from any bytes: refused with an error or accepted, never a panic; an
//! accepted one survives a write and a read back.
#![no_main]

use std::path::Path;

use leakcheck_judge::Baseline;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(baseline) = Baseline::parse(text, Path::new("baseline.json")) {
        let again = serde_json::to_string(&baseline).unwrap();
        assert!(Baseline::parse(&again, Path::new("again.json")).is_ok());
    }
});
