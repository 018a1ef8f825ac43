//! Reading a samples.jsonl back from any bytes: an error or a run, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(run) = leakcheck_records::read_run_from(data, Path::new("fuzz.jsonl")) {
        // Every series the timeline offers must be buildable.
        for metric in run.timeline.metrics() {
            let _ = run.timeline.series(metric);
        }
    }
});
