//! The long-lived training service: sessions, progress file, memory watchdog and
//! the session-cleanup policy that is the retraining incident's bug (or its fix).
//!
//! A session validates every sample before it touches any state, so a bad sample
//! fails that session with a message naming it and leaves the previous session's
//! model in place. Every failure is written to the progress file with its message
//! and reported to the observer: the incident's silent "failed" is the second bug
//! this service does not copy.

use std::collections::VecDeque;
use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::annotation::{AnnotatedSample, AnnotationError, ClassSet, Problem, RgbImage, validate};
use crate::dataset::DatasetCache;
use crate::nn::{Adam, BufferPool, Grads, LossConfig, Model, ModelConfig, focal_dice};
use crate::session::validate_dice;
pub use crate::session::{InferenceModel, SessionReport, SessionState, StateBytes};

/// What happens to earlier sessions' state when a new session starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CleanupPolicy {
    /// Keep every earlier session's model, optimiser, dataset cache, inference model and
    /// buffer pool alive: the incident's bug.
    Retain,
    /// Drop them (and empty the pool) when a session starts: the fix.
    Release,
}

/// A session's lifecycle, as written to the progress file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Idle,
    Initializing,
    Running,
    Completed,
    Failed,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Status::Idle => "idle",
            Status::Initializing => "initializing",
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
        };
        f.write_str(s)
    }
}

/// Service settings. [`ServiceConfig::new`] gives the defaults the scenario uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    pub policy: CleanupPolicy,
    pub classes: ClassSet,
    /// Hidden width and depth; `classes` and `in_channels` are derived from the class set.
    pub model: ModelConfig,
    /// Square training resolution the samples are resized to.
    pub train_size: usize,
    /// Square resolution of the cached inference model (serving predictions).
    pub serving_size: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f32,
    pub loss: LossConfig,
    pub seed: u64,
    /// Resident-memory ceiling of the watchdog; `None` disables it.
    pub ceiling_bytes: Option<u64>,
    /// Progress JSON file, rewritten atomically on every change.
    pub progress_path: Option<PathBuf>,
    /// Log lines kept in the progress file.
    pub log_lines: usize,
}

impl ServiceConfig {
    pub fn new(policy: CleanupPolicy, classes: ClassSet) -> Self {
        let model = ModelConfig {
            classes: classes.channels(),
            ..ModelConfig::default()
        };
        Self {
            policy,
            classes,
            model,
            train_size: 96,
            serving_size: 384,
            epochs: 40,
            batch_size: 1,
            learning_rate: 0.01,
            loss: LossConfig::default(),
            seed: 0,
            ceiling_bytes: None,
            progress_path: None,
            log_lines: 20,
        }
    }
}

/// Reads the process's resident memory for the watchdog and the progress file.
pub trait MemoryMeter: Send {
    fn resident_bytes(&mut self) -> Result<u64, String>;
}

/// RSS of this process through `leakcheck-probe` (procfs `statm` via a kept-open fd).
#[derive(Debug)]
pub struct ProcessRss(leakcheck_probe::process::ProcessMemory);

impl ProcessRss {
    pub fn new() -> Result<Self, String> {
        leakcheck_probe::process::ProcessMemory::current()
            .map(Self)
            .map_err(|e| e.to_string())
    }
}

impl MemoryMeter for ProcessRss {
    fn resident_bytes(&mut self) -> Result<u64, String> {
        self.0.rss_bytes().map_err(|e| e.to_string())
    }
}

/// Hooks for session boundaries, steps and status changes (the scenario forwards them
/// to `leakcheck-probe`; the library itself marks nothing).
pub trait SessionObserver: Send {
    fn session_start(&mut self, _id: u64, _label: &str) {}
    /// After each optimiser step; `step` increases across sessions.
    fn step(&mut self, _step: u64) {}
    fn session_end(&mut self, _id: u64, _label: &str) {}
    /// After each status change, with the progress as written.
    fn status(&mut self, _progress: &Progress) {}
}

/// The progress file's contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub status: Status,
    /// Current (or last) session id, 0 before the first.
    pub session: u64,
    pub samples: usize,
    /// 1-based epoch and batch within the session; 0 before the first.
    pub epoch: usize,
    pub epochs: usize,
    pub batch: usize,
    pub batches: usize,
    /// Optimiser steps since the service started.
    pub step: u64,
    pub loss: Option<f32>,
    pub val_dice: Option<f64>,
    pub rss_bytes: Option<u64>,
    pub ceiling_bytes: Option<u64>,
    /// Why a session failed; `None` otherwise.
    pub message: Option<String>,
    /// The last log lines, oldest first.
    pub log: VecDeque<String>,
}

/// Why a session failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Annotation(#[from] AnnotationError),
    #[error(
        "memory ceiling exceeded in session {session} while {phase}: measured {} resident, ceiling {}",
        fmt_bytes(*.measured),
        fmt_bytes(*.ceiling)
    )]
    MemoryCeiling {
        session: u64,
        phase: String,
        measured: u64,
        ceiling: u64,
    },
    #[error("no samples given: expected at least 1 annotated sample")]
    NoSamples,
    #[error("invalid config: {0}")]
    Config(String),
    #[error("cannot measure resident memory for the watchdog: {0}")]
    Meter(String),
    #[error("cannot write progress file {path}: {source}")]
    Progress {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// `612 MiB (642056192 bytes)`: leakcheck's size wording, then the exact count.
pub fn fmt_bytes(b: u64) -> String {
    format!("{} ({b} bytes)", leakcheck_vocab::fmt::bytes(b as f64))
}

/// The service. One session at a time, in-process, on the caller's thread.
pub struct TrainingService {
    config: ServiceConfig,
    meter: Option<Box<dyn MemoryMeter>>,
    observer: Option<Box<dyn SessionObserver>>,
    progress: Progress,
    /// Earlier sessions (all of them under `Retain`), the latest last.
    sessions: Vec<SessionState>,
    next_id: u64,
    peak_rss: Option<u64>,
}

impl fmt::Debug for TrainingService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrainingService")
            .field("config", &self.config)
            .field("progress", &self.progress)
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl TrainingService {
    /// A service in status idle, measuring RSS through `leakcheck-probe`. Writes the progress
    /// file (if any) at once, so a bad path fails here rather than mid-session.
    pub fn new(config: ServiceConfig) -> Result<Self, TrainError> {
        if config.epochs == 0
            || config.batch_size == 0
            || config.train_size == 0
            || config.serving_size == 0
        {
            return Err(TrainError::Config(format!(
                "epochs {}, batch size {}, train size {}, serving size {}: expected all >= 1",
                config.epochs, config.batch_size, config.train_size, config.serving_size
            )));
        }
        if config.classes.names().is_empty() || config.classes.channels() > 256 {
            return Err(TrainError::Config(format!(
                "{} foreground classes: expected 1 to 255 (labels are bytes)",
                config.classes.names().len()
            )));
        }
        if config.model.classes != config.classes.channels() || config.model.in_channels != 3 {
            return Err(TrainError::Config(format!(
                "model has {} input and {} output channels: expected 3 and {} (classes plus background)",
                config.model.in_channels,
                config.model.classes,
                config.classes.channels()
            )));
        }
        let meter = ProcessRss::new()
            .ok()
            .map(|m| Box::new(m) as Box<dyn MemoryMeter>);
        let progress = Progress {
            status: Status::Idle,
            session: 0,
            samples: 0,
            epoch: 0,
            epochs: config.epochs,
            batch: 0,
            batches: 0,
            step: 0,
            loss: None,
            val_dice: None,
            rss_bytes: None,
            ceiling_bytes: config.ceiling_bytes,
            message: None,
            log: VecDeque::new(),
        };
        let svc = Self {
            config,
            meter,
            observer: None,
            progress,
            sessions: Vec::new(),
            next_id: 1,
            peak_rss: None,
        };
        svc.write_progress()?;
        Ok(svc)
    }

    /// Measure memory with `meter` instead of procfs.
    pub fn with_meter(mut self, meter: Box<dyn MemoryMeter>) -> Self {
        self.meter = Some(meter);
        self
    }

    pub fn with_observer(mut self, observer: Box<dyn SessionObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Sessions whose state the service still holds, oldest first.
    pub fn sessions(&self) -> &[SessionState] {
        &self.sessions
    }

    /// The latest session that completed, if its state is still held.
    pub fn latest_completed(&self) -> Option<&SessionState> {
        self.sessions.iter().rev().find(|s| s.report.is_some())
    }

    /// Bytes held by every session the service keeps.
    pub fn held_bytes(&self) -> StateBytes {
        let mut b = StateBytes::default();
        for s in &self.sessions {
            b += s.bytes();
        }
        b
    }

    /// Predict with the latest completed session's cached inference model; `None` before
    /// any session completed.
    pub fn predict(&mut self, image: &RgbImage) -> Option<Result<Vec<u8>, Problem>> {
        let s = self
            .sessions
            .iter_mut()
            .rev()
            .find(|s| s.report.is_some())?;
        s.inference.as_mut().map(|m| m.predict(image))
    }

    /// Run one training session on `samples` to completion or failure.
    ///
    /// On failure the progress file says `failed` with the error's message, the observer
    /// hears it, and the error is returned; nothing fails silently.
    pub fn start(&mut self, samples: &[AnnotatedSample]) -> Result<SessionReport, TrainError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut started = false;
        let result = self.run(id, samples, &mut started);
        let label = session_label(id, samples.len());
        if let Err(e) = &result {
            self.progress.status = Status::Failed;
            self.progress.message = Some(e.to_string());
            self.log(format!("session {id} failed: {e}"));
            self.announce();
            // The failure is already in the returned error; a progress write error must not
            // replace it.
            let _ = self.write_progress();
        }
        if started && let Some(o) = &mut self.observer {
            o.session_end(id, &label);
        }
        result
    }

    fn run(
        &mut self,
        id: u64,
        samples: &[AnnotatedSample],
        started: &mut bool,
    ) -> Result<SessionReport, TrainError> {
        self.progress.session = id;
        self.progress.samples = samples.len();
        self.progress.epoch = 0;
        self.progress.batch = 0;
        self.progress.loss = None;
        self.progress.val_dice = None;
        self.progress.message = None;
        if samples.is_empty() {
            return Err(TrainError::NoSamples);
        }
        // Validate everything before touching state: a bad sample leaves the last session intact.
        for s in samples {
            validate(s, &self.config.classes)?;
        }
        if self.config.policy == CleanupPolicy::Release {
            self.sessions.clear();
        }
        let label = session_label(id, samples.len());
        if let Some(o) = &mut self.observer {
            o.session_start(id, &label);
        }
        *started = true;
        self.set_status(Status::Initializing, format!("{label}: initializing"))?;
        self.watch("initializing")?;

        let cfg = &self.config;
        let model = Model::new(cfg.model, cfg.seed.wrapping_add(id));
        let mut state = SessionState {
            id,
            optimizer: Adam::new(&model, cfg.learning_rate),
            model,
            dataset: DatasetCache::new(samples.len(), cfg.train_size, cfg.seed.wrapping_add(id)),
            inference: None,
            pool: BufferPool::new(),
            report: None,
        };
        let result = self.train(&mut state, samples);
        // Held whatever happened: under Retain even a failed session's state survives, as it did.
        if let Ok(r) = &result {
            state.report = Some(r.clone());
        }
        self.sessions.push(state);
        result
    }

    fn train(
        &mut self,
        st: &mut SessionState,
        samples: &[AnnotatedSample],
    ) -> Result<SessionReport, TrainError> {
        let size = self.config.train_size;
        let epochs = self.config.epochs;
        let bs = self.config.batch_size;
        let batches = st.dataset.train.len().div_ceil(bs);
        self.progress.batches = batches;
        self.set_status(
            Status::Running,
            format!(
                "session {}: training on {} samples, validating on {}, {} batches per epoch",
                st.id,
                st.dataset.train.len(),
                st.dataset.val.len(),
                batches
            ),
        )?;
        let mut grads = Grads::zeros_like(&st.model);
        let mut epoch_losses = Vec::with_capacity(epochs);
        let mut steps = 0u64;
        let mut dice = (None, Vec::new());
        for epoch in 1..=epochs {
            let mut sum = 0.0f64;
            let train = st.dataset.train.clone();
            for (b, batch) in train.chunks(bs).enumerate() {
                let batch_loss =
                    self.train_batch(st, samples, &mut grads, batch, (epoch, b + 1))?;
                sum += batch_loss as f64;
                steps += 1;
            }
            let mean = (sum / st.dataset.train.len() as f64) as f32;
            epoch_losses.push(mean);
            for i in st.dataset.val.clone() {
                if st.dataset.ensure(i, &samples[i], &self.config.classes)? {
                    self.watch(&format!("decoding {:?} for validation", samples[i].id))?;
                }
            }
            dice = validate_dice(st, size);
            self.progress.val_dice = dice.0;
            let val = dice.0.map_or("n/a".to_string(), |d| format!("{d:.3}"));
            self.log(format!(
                "epoch {epoch}/{epochs}: loss {mean:.4}, val dice {val}"
            ));
            self.write_progress()?;
        }
        // The service caches a serving model and warms it on a validation image.
        let mut inf = InferenceModel::new(st.model.clone(), self.config.serving_size);
        if let Some(&i) = st.dataset.val.first().or(st.dataset.train.first()) {
            // Validated at session start, so this cannot fail.
            let _ = inf.predict(&samples[i].image);
        }
        st.inference = Some(inf);
        self.watch("caching the inference model")?;
        let report = SessionReport {
            session: st.id,
            samples: samples.len(),
            train_samples: st.dataset.train.len(),
            val_samples: st.dataset.val.len(),
            epochs,
            steps,
            epoch_losses,
            val_dice: dice.0,
            per_class_dice: dice.1,
            peak_rss_bytes: self.peak_rss,
            state_bytes: st.bytes(),
        };
        let first = report.epoch_losses.first().copied().unwrap_or(f32::NAN);
        let last = report.epoch_losses.last().copied().unwrap_or(f32::NAN);
        self.set_status(
            Status::Completed,
            format!(
                "session {} completed: loss {first:.4} -> {last:.4}, val dice {}",
                st.id,
                report.val_dice.map_or("n/a".into(), |d| format!("{d:.3}"))
            ),
        )?;
        Ok(report)
    }

    /// One optimiser step over `batch` (sample indices), decoding samples as needed;
    /// returns the batch's summed loss. `at` is (epoch, 1-based batch).
    fn train_batch(
        &mut self,
        st: &mut SessionState,
        samples: &[AnnotatedSample],
        grads: &mut Grads,
        batch: &[usize],
        (epoch, b): (usize, usize),
    ) -> Result<f32, TrainError> {
        let size = self.config.train_size;
        let hw = size * size;
        let classes = self.config.model.classes;
        let (epochs, batches) = (self.config.epochs, self.progress.batches);
        grads.fill_zero();
        let mut batch_loss = 0.0f32;
        for &i in batch {
            if st.dataset.ensure(i, &samples[i], &self.config.classes)? {
                self.watch(&format!(
                    "decoding {:?} in epoch {epoch}/{epochs} batch {b}/{batches}",
                    samples[i].id
                ))?;
            }
            let d = st.dataset.get(i).expect("decoded above");
            let tape = st.model.forward(&d.input, size, size, &mut st.pool);
            let mut probs = st.pool.take(classes, hw);
            let mut dlogits = st.pool.take(classes, hw);
            let l = focal_dice(
                &tape.logits(),
                &d.target,
                &self.config.loss,
                &mut probs,
                &mut dlogits,
            );
            st.model.backward(&tape, dlogits, grads, &mut st.pool);
            tape.release(&mut st.pool);
            st.pool.give(probs);
            batch_loss += l.total;
        }
        st.optimizer
            .step(&mut st.model, grads, 1.0 / batch.len() as f32);
        self.progress.step += 1;
        self.progress.epoch = epoch;
        self.progress.batch = b;
        self.progress.loss = Some(batch_loss / batch.len() as f32);
        if let Some(o) = &mut self.observer {
            o.step(self.progress.step);
        }
        self.watch(&format!(
            "training epoch {epoch}/{epochs} batch {b}/{batches}"
        ))?;
        self.write_progress()?;
        Ok(batch_loss)
    }

    /// Watchdog: measure RSS, record it, and fail the session above the ceiling.
    fn watch(&mut self, phase: &str) -> Result<(), TrainError> {
        let rss = match self.meter.as_mut().map(|m| m.resident_bytes()) {
            Some(Ok(v)) => Some(v),
            Some(Err(e)) if self.config.ceiling_bytes.is_some() => {
                return Err(TrainError::Meter(e));
            }
            None if self.config.ceiling_bytes.is_some() => {
                return Err(TrainError::Meter("no memory meter available".into()));
            }
            _ => None,
        };
        self.progress.rss_bytes = rss;
        if let Some(r) = rss {
            self.peak_rss = Some(self.peak_rss.map_or(r, |p| p.max(r)));
        }
        if let (Some(measured), Some(ceiling)) = (rss, self.config.ceiling_bytes)
            && measured > ceiling
        {
            return Err(TrainError::MemoryCeiling {
                session: self.progress.session,
                phase: phase.to_string(),
                measured,
                ceiling,
            });
        }
        Ok(())
    }

    fn log(&mut self, line: String) {
        if self.progress.log.len() >= self.config.log_lines.max(1) {
            self.progress.log.pop_front();
        }
        self.progress.log.push_back(line);
    }

    fn announce(&mut self) {
        if let Some(o) = &mut self.observer {
            o.status(&self.progress);
        }
    }

    fn set_status(&mut self, status: Status, line: String) -> Result<(), TrainError> {
        self.progress.status = status;
        self.log(line);
        self.announce();
        self.write_progress()
    }

    /// Rewrite the progress file atomically (temp file + rename), so readers never see half.
    fn write_progress(&self) -> Result<(), TrainError> {
        let Some(path) = &self.config.progress_path else {
            return Ok(());
        };
        let err = |source| TrainError::Progress {
            path: path.clone(),
            source,
        };
        let tmp = path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(&self.progress).map_err(|e| err(e.into()))?;
        let mut f = fs::File::create(&tmp).map_err(err)?;
        f.write_all(&json).map_err(err)?;
        drop(f);
        fs::rename(&tmp, path).map_err(err)
    }
}

fn session_label(id: u64, n: usize) -> String {
    format!("session {id}: {n} samples")
}
