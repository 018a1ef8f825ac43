//! The memory watchdog fails a session loudly: status failed, a message with the
//! ceiling and the measured memory, in the progress file and the returned error.
//! A scripted meter makes the crossing point deterministic.

use std::sync::{Arc, Mutex};

use seg_trainer::service::{MemoryMeter, Progress, SessionObserver, Status};
use seg_trainer::{CleanupPolicy, ServiceConfig, TrainError, TrainingService, generate};

/// Reports `base` plus `step` bytes more on every reading.
struct Ramp {
    next: u64,
    step: u64,
}

impl MemoryMeter for Ramp {
    fn resident_bytes(&mut self) -> Result<u64, String> {
        self.next += self.step;
        Ok(self.next)
    }
}

struct Broken;

impl MemoryMeter for Broken {
    fn resident_bytes(&mut self) -> Result<u64, String> {
        Err("statm unreadable".into())
    }
}

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl SessionObserver for Seen {
    fn status(&mut self, p: &Progress) {
        self.0.lock().unwrap().push(format!(
            "{} {}",
            p.status,
            p.message.clone().unwrap_or_default()
        ));
    }
}

fn config(progress: Option<std::path::PathBuf>) -> ServiceConfig {
    let mut cfg = ServiceConfig::new(CleanupPolicy::Retain, generate::classes());
    cfg.epochs = 3;
    cfg.train_size = 32;
    cfg.serving_size = 32;
    cfg.progress_path = progress;
    cfg
}

#[test]
fn ceiling_crossing_fails_loudly_with_ceiling_and_measurement() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("progress.json");
    let mut cfg = config(Some(path.clone()));
    // 1000 bytes per reading from 0: the 5th reading (5000) is the first above 4500.
    cfg.ceiling_bytes = Some(4500);
    let seen = Seen::default();
    let mut svc = TrainingService::new(cfg)
        .unwrap()
        .with_meter(Box::new(Ramp {
            next: 0,
            step: 1000,
        }))
        .with_observer(Box::new(seen.clone()));
    let samples: Vec<_> = (0..3).map(|i| generate::sample(1, i, 64)).collect();
    let err = svc.start(&samples).unwrap_err();
    let TrainError::MemoryCeiling {
        measured, ceiling, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*measured, *ceiling), (5000, 4500));
    let msg = err.to_string();
    assert!(msg.contains("ceiling 4.39 KiB (4500 bytes)"), "{msg}");
    assert!(msg.contains("measured 4.88 KiB (5000 bytes)"), "{msg}");
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(p["status"], "failed");
    assert_eq!(p["message"].as_str(), Some(msg.as_str()));
    assert_eq!(p["rss_bytes"], 5000);
    assert_eq!(p["ceiling_bytes"], 4500);
    assert!(
        p["log"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_str()
            .unwrap()
            .contains(&msg)
    );
    let seen = seen.0.lock().unwrap();
    assert_eq!(seen.last().unwrap(), &format!("failed {msg}"));
    assert!(seen.iter().any(|s| s.starts_with("initializing")));
    assert_eq!(svc.progress().status, Status::Failed);
}

#[test]
fn unreadable_meter_with_a_ceiling_is_an_error_not_a_silent_pass() {
    let mut cfg = config(None);
    cfg.ceiling_bytes = Some(1 << 30);
    let mut svc = TrainingService::new(cfg)
        .unwrap()
        .with_meter(Box::new(Broken));
    let samples: Vec<_> = (0..2).map(|i| generate::sample(1, i, 64)).collect();
    let err = svc.start(&samples).unwrap_err().to_string();
    assert_eq!(
        err,
        "cannot measure resident memory for the watchdog: statm unreadable"
    );
    // Without a ceiling the same meter only leaves RSS unknown.
    let mut svc = TrainingService::new(config(None))
        .unwrap()
        .with_meter(Box::new(Broken));
    svc.start(&samples).unwrap();
    assert_eq!(svc.progress().rss_bytes, None);
}

#[test]
fn progress_file_path_is_checked_up_front() {
    let err =
        TrainingService::new(config(Some("/nonexistent-dir/progress.json".into()))).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot write progress file /nonexistent-dir/progress.json"),
        "{err}"
    );
}
