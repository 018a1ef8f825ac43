//! `retrain-sequential`: the retraining incident as a leakcheck scenario.
//!
//! Session 1 trains on 3 generated samples, session 2 on the same plus a 4th, and so
//! on (`--sessions N`). `--variant leaky` keeps every earlier session's state
//! ([`CleanupPolicy::Retain`]), `fixed` releases it. Training steps are marked as
//! iterations (increasing across sessions) and sessions as sessions through
//! `leakcheck-probe`, and each session start (after the earlier sessions' state was
//! released or kept) is a checkpoint, so the runner measures retained memory there, with
//! an interval; with `--sessions 3` or more the retained growth per session gets a slope.
//!
//! Exit status: 0 when every session completes, 1 when a session fails (the message,
//! with the ceiling and the measured memory for the watchdog, goes to stderr, the
//! progress file and a probe note), 2 for bad arguments.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::{Parser, ValueEnum};
use leakcheck_probe::Probe;
use seg_trainer::service::{Progress, SessionObserver, fmt_bytes};
use seg_trainer::{CleanupPolicy, ServiceConfig, Status, TrainingService, generate};

#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[cfg(all(feature = "jemalloc", not(feature = "dhat-heap")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Default watchdog ceiling: above the fixed variant's peak RSS, below what the
/// leaky variant reaches in session 2 (see the seg-trainer README for the sizing).
const DEFAULT_CEILING: &str = "448MiB";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Variant {
    /// Earlier sessions' state is retained (the incident).
    Leaky,
    /// Earlier sessions' state is released when a session starts (the fix).
    Fixed,
}

#[derive(Debug, Parser)]
#[command(version, about = "Sequential 3 -> 4 sample retraining, leaky or fixed")]
struct Cli {
    #[arg(long, value_enum)]
    variant: Variant,
    /// Training sessions; session k trains on k + 2 samples.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    sessions: u64,
    /// Watchdog ceiling on resident memory, e.g. 600MiB, 1GiB, 500MB, or `none`.
    #[arg(long, default_value = DEFAULT_CEILING, value_parser = parse_ceiling)]
    ceiling: Ceiling,
    /// Epochs per session.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    epochs: u64,
    /// Progress JSON file, rewritten as the service runs.
    #[arg(long)]
    progress: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Side of the generated (full-resolution) square images, in pixels.
    #[arg(long, default_value_t = 1536, value_parser = clap::value_parser!(u64).range(8..=4096))]
    image_size: u64,
    /// Side of the training resolution the samples are resized to, in pixels.
    #[arg(long, default_value_t = 96, value_parser = clap::value_parser!(u64).range(4..=512))]
    train_size: u64,
    /// Side of the cached inference model's serving resolution, in pixels.
    #[arg(long, default_value_t = 384, value_parser = clap::value_parser!(u64).range(8..=1024))]
    serving_size: u64,
}

#[derive(Debug, Clone, Copy)]
struct Ceiling(Option<u64>);

/// `600MiB`, `1.5GiB`, `500MB`, `123456` (bytes) or `none`.
fn parse_ceiling(s: &str) -> Result<Ceiling, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(Ceiling(None));
    }
    parse_size(s).map(|b| Ceiling(Some(b)))
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {s:?}: expected B, KB, MB, GB, KiB, MiB or GiB (e.g. 600MiB)"
            ));
        }
    };
    let v: f64 = num.parse().map_err(|_| {
        format!("invalid size {s:?}: expected a number with an optional unit (e.g. 600MiB)")
    })?;
    let bytes = v * mult as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!(
            "size {s:?} is out of range: expected at least 1 byte"
        ));
    }
    Ok(bytes as u64)
}

/// jemalloc `allocated` at each session start, by session id.
type SessionStarts = Arc<Mutex<Vec<(u64, Option<u64>)>>>;

/// Forwards the service's hooks to the probe, and keeps jemalloc `allocated` at each
/// session start for the summary.
struct ProbeObserver {
    probe: Arc<Probe>,
    starts: SessionStarts,
}

impl SessionObserver for ProbeObserver {
    /// Called after the service released (fixed) or kept (leaky) the earlier sessions'
    /// state and before the new one allocates anything: the quiescent point retained
    /// memory is measured at, so it is sent as a checkpoint first.
    fn session_start(&mut self, id: u64, label: &str) {
        self.probe.checkpoint(
            id,
            &format!("before {label} (earlier sessions released or kept)"),
        );
        let allocated = leakcheck_probe::alloc::stats().ok().map(|s| s.allocated);
        if let Ok(mut v) = self.starts.lock() {
            v.push((id, allocated));
        }
        self.probe.session_start(id, label);
    }
    fn step(&mut self, step: u64) {
        self.probe.mark(step);
    }
    fn session_end(&mut self, id: u64, label: &str) {
        self.probe.session_end(id, label);
    }
    fn status(&mut self, p: &Progress) {
        let text = match (&p.message, p.log.back()) {
            (Some(m), _) => format!("status {}: {m}", p.status),
            (None, Some(l)) => format!("status {}: {l}", p.status),
            (None, None) => format!("status {}", p.status),
        };
        self.probe.note(&text);
    }
}

fn main() -> ExitCode {
    leakcheck_probe::heap_profile::start();
    let cli = Cli::parse();
    run(cli)
}

fn run(cli: Cli) -> ExitCode {
    let probe = Arc::new(Probe::from_env());
    let starts: SessionStarts = Arc::new(Mutex::new(Vec::new()));
    let classes = generate::classes();
    let policy = match cli.variant {
        Variant::Leaky => CleanupPolicy::Retain,
        Variant::Fixed => CleanupPolicy::Release,
    };
    let mut cfg = ServiceConfig::new(policy, classes);
    cfg.epochs = cli.epochs as usize;
    cfg.seed = cli.seed;
    cfg.ceiling_bytes = cli.ceiling.0;
    cfg.progress_path = cli.progress.clone();
    cfg.serving_size = cli.serving_size as usize;
    cfg.train_size = cli.train_size as usize;
    let svc = match TrainingService::new(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("retrain-sequential: {e}");
            probe.note(&format!("status failed: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let mut svc = svc.with_observer(Box::new(ProbeObserver {
        probe: Arc::clone(&probe),
        starts: Arc::clone(&starts),
    }));
    let size = cli.image_size as usize;
    let mut samples: Vec<_> = (0..2)
        .map(|i| generate::sample(cli.seed, i, size))
        .collect();
    let variant = format!("{:?}", cli.variant).to_lowercase();
    println!(
        "retrain-sequential: variant {variant}, {} sessions, ceiling {}, {} epochs, images {size}px",
        cli.sessions,
        cli.ceiling.0.map_or("none".into(), fmt_bytes),
        cli.epochs
    );
    let mut failed = None;
    for k in 1..=cli.sessions {
        samples.push(generate::sample(cli.seed, k + 1, size));
        match svc.start(&samples) {
            Ok(r) => {
                let first = r.epoch_losses.first().copied().unwrap_or(f32::NAN);
                let last = r.epoch_losses.last().copied().unwrap_or(f32::NAN);
                println!(
                    "session {k} ({} samples): completed, {} steps, loss {first:.4} -> {last:.4}, val dice {}, peak RSS {}",
                    r.samples,
                    r.steps,
                    r.val_dice.map_or("n/a".into(), |d| format!("{d:.3}")),
                    r.peak_rss_bytes.map_or("n/a".into(), fmt_bytes),
                );
                let b = r.state_bytes;
                println!(
                    "session {k} state: {} (model {}, optimizer {}, dataset cache {}, inference model {}, pool {})",
                    fmt_bytes(b.total() as u64),
                    b.model,
                    b.optimizer,
                    b.dataset_cache,
                    b.inference,
                    b.pool
                );
            }
            Err(e) => {
                eprintln!("retrain-sequential: session {k} failed: {e}");
                println!("session {k} ({} samples): failed: {e}", samples.len());
                failed = Some(e);
                break;
            }
        }
    }
    // An attribution build's profile ends here, with what the service kept still live.
    leakcheck_probe::heap_profile::stop();
    if let Ok(v) = starts.lock() {
        for (id, a) in v.iter() {
            println!(
                "jemalloc allocated at session {id} start: {}",
                a.map_or("n/a".into(), fmt_bytes)
            );
        }
    }
    println!(
        "held by the service at the end: {} ({} sessions)",
        fmt_bytes(svc.held_bytes().total() as u64),
        svc.sessions().len()
    );
    let status = svc.progress().status;
    println!("status: {status}");
    match failed {
        Some(_) => ExitCode::FAILURE,
        None => {
            debug_assert_eq!(status, Status::Completed);
            probe.end();
            ExitCode::SUCCESS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("600MiB"), Ok(600 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(
            parse_size("600XB")
                .unwrap_err()
                .contains("unknown unit \"XB\"")
        );
        assert!(parse_size("MiB").unwrap_err().contains("invalid size"));
        assert!(parse_size("0").unwrap_err().contains("out of range"));
        assert!(parse_ceiling("none").unwrap().0.is_none());
    }
}
