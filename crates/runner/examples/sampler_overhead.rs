//! CPU cost of watching a run: the whole runner (sampler thread, wire reader,
//! merging thread writing `samples.jsonl`), as a share of one core.
//!
//! `cargo run --release -p leakcheck-runner --example sampler_overhead -- [SECONDS] [INTERVAL_MS] [WORKERS]`
//!
//! The child is `sleep` (WORKERS = 0) or a python parent with WORKERS sleeping
//! children, so the process tree has 1 or WORKERS + 1 processes. The child's own
//! CPU is not counted (`RUSAGE_SELF` covers this process only).

use std::time::Duration;

use leakcheck_runner::{RunSpec, run};

fn cpu_seconds() -> f64 {
    // SAFETY: zeroed rusage is a valid out-parameter.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| {
        args.get(i)
            .map(|a| a.parse().expect("arguments: SECONDS INTERVAL_MS WORKERS"))
            .unwrap_or(default)
    };
    let (seconds, interval_ms, workers) = (arg(0, 10), arg(1, 50), arg(2, 0));
    let argv = if workers == 0 {
        vec!["sleep".to_owned(), seconds.to_string()]
    } else {
        let script = format!(
            "import subprocess, sys\nws = [subprocess.Popen(['sleep', '{seconds}']) for _ in range({workers})]\nfor w in ws:\n    w.wait()\n"
        );
        vec!["python3".to_owned(), "-c".to_owned(), script]
    };
    let out = tempfile::tempdir().expect("temp dir");
    let mut spec = RunSpec::new("overhead", argv, out.path());
    spec.rss_interval = Duration::from_millis(interval_ms);

    let before = cpu_seconds();
    let outcome = run(&spec, &mut |_| {}).expect("run");
    let cpu = cpu_seconds() - before;
    let samples = outcome.timeline.samples.len();
    let bytes = std::fs::metadata(&outcome.samples_path).map_or(0, |m| m.len());
    println!(
        "{seconds} s at {interval_ms} ms, {} process(es): {samples} tree samples, {bytes} bytes of samples.jsonl",
        workers + 1
    );
    println!(
        "runner cpu {:.1} ms over {:.2} s wall = {:.3} % of one core ({:.0} µs per sample, all threads)",
        cpu * 1e3,
        outcome.wall_s,
        cpu / outcome.wall_s * 100.0,
        cpu / samples.max(1) as f64 * 1e6
    );
}
