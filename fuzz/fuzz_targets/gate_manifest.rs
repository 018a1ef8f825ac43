//! A gate.json from any bytes: refused with an error or accepted, never a panic; every
//! name an accepted one lists is a plain folder name (nothing `merge` could copy from
//! outside the shard).
#![no_main]

use std::path::Path;

use leakcheck_report::GateManifest;
use leakcheck_vocab::names::is_plain_name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = GateManifest::parse(text, Path::new("gate.json")) {
        let names = m.planned.iter().flatten().chain(&m.scenarios);
        assert!(names.clone().all(|n| is_plain_name(n)));
        let _ = m.unfinished();
    }
});
