//! leakcheck.toml from any text: a config or an error naming where, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(config) = leakcheck_settings::Config::from_str(&text, Path::new("fuzz/leakcheck.toml"))
    {
        for scenario in &config.scenarios {
            let _ = scenario.argv(&config.path, None, Some(3));
        }
    }
});
