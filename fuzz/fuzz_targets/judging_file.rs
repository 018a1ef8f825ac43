//! A judging.json from any bytes: refused with an error, or accepted and then judging a
//! small run by it never panics.
#![no_main]

use std::path::Path;

use leakcheck_judge::{Judging, RunFacts, judge};
use leakcheck_records::{Record, Timeline};
use libfuzzer_sys::fuzz_target;

/// A short marking run with outside samples before, between and after the marks.
fn timeline() -> Timeline {
    let mut t = Timeline::default();
    for i in 0..40u64 {
        let line = format!(
            r#"{{"type":"mark","iteration":{i},"t_s":{},"rss":{}}}"#,
            0.1 + i as f64 * 0.01,
            (1 << 20) + i * 4096
        );
        t.apply(&serde_json::from_str::<Record>(&line).unwrap());
        let tree = format!(
            r#"{{"type":"tree","t_s":{},"rss":1,"rss_tree":{},"pids":1}}"#,
            0.095 + i as f64 * 0.02,
            (2 << 20) + i * 8192
        );
        t.apply(&serde_json::from_str::<Record>(&tree).unwrap());
    }
    t
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(judging) = Judging::parse(text, Path::new("judging.json")) {
        let timeline = timeline();
        let _ = judge(
            &judging,
            &RunFacts {
                timeline: &timeline,
                termination: None,
                reason: None,
                wall_s: 1.0,
                samples_file: String::new(),
            },
        );
    }
});
