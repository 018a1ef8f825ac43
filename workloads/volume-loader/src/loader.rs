//! A PyTorch-style data loader: worker threads, prefetching, per-epoch or persistent workers,
//! and collation of samples into contiguous f32 batches.
//!
//! Worker `w` of `W` builds batches `start + w, start + w + W, ...` and hands them over a
//! channel holding `prefetch` batches; the loop consumes them in order. Batch contents
//! depend only on the seed and the batch index, never on the worker count or timing.
//! Each worker opens its own images and chunk cache (a `1/W` share of the budget), as a
//! forked worker process would; non-persistent workers are joined at every epoch end and
//! take their state with them, persistent ones live as long as the iterator.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use ndarray::{Array5, Axis};

use crate::cache::{per_worker_share, resolve_cache_bytes};
use crate::dataset::{Dataset, WorkerDataset};
use crate::error::{Result, VolumeError};

/// Loader knobs (the incident's: 11 workers, prefetch 1, non-persistent, a 1-byte cache).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoaderConfig {
    /// Samples per batch (at least 1).
    pub batch_size: usize,
    /// Worker threads; 0 loads in the calling thread.
    pub workers: usize,
    /// Batches each worker may have ready ahead of the loop (at least 1 with workers).
    pub prefetch: usize,
    /// Keep workers (and their caches and views) across epochs.
    pub persistent_workers: bool,
    /// Batches per epoch (at least 1).
    pub batches_per_epoch: u64,
    /// Total decoded-chunk budget; `None` reads `VOLUME_CACHE_BYTES`, else 2 GiB.
    pub cache_bytes: Option<u64>,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        Self {
            batch_size: 2,
            workers: 2,
            prefetch: 2,
            persistent_workers: false,
            batches_per_epoch: 100,
            cache_bytes: None,
        }
    }
}

/// A collated batch: `input` is `[batch, 1, z, y, x]`, `target` `[batch, classes, z, y, x]`.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Global batch number, counted from 0 across epochs.
    pub index: u64,
    pub epoch: u64,
    pub input: Array5<f32>,
    pub target: Array5<f32>,
}

impl Batch {
    /// Bytes of the two batch tensors.
    pub fn bytes(&self) -> u64 {
        ((self.input.len() + self.target.len()) * size_of::<f32>()) as u64
    }
}

/// Batches from a [`Dataset`] with the configured workers.
#[derive(Debug)]
pub struct DataLoader {
    dataset: Arc<Dataset>,
    config: LoaderConfig,
    worker_cache_bytes: u64,
}

impl DataLoader {
    /// Validate the configuration and resolve the cache budget (split across workers).
    pub fn new(dataset: Dataset, config: LoaderConfig) -> Result<Self> {
        if config.batch_size == 0 {
            return Err(VolumeError::config(
                "batch size",
                0,
                "at least 1 sample per batch",
            ));
        }
        if config.workers > 0 && config.prefetch == 0 {
            return Err(VolumeError::config(
                "prefetch factor",
                0,
                "at least 1 batch per worker when workers > 0",
            ));
        }
        if config.batches_per_epoch == 0 {
            return Err(VolumeError::config("batches per epoch", 0, "at least 1"));
        }
        let total = resolve_cache_bytes(config.cache_bytes)?;
        let worker_cache_bytes = per_worker_share(total, config.workers.max(1));
        Ok(Self {
            dataset: Arc::new(dataset),
            config,
            worker_cache_bytes,
        })
    }

    pub fn dataset(&self) -> &Arc<Dataset> {
        &self.dataset
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// Each worker's decoded-chunk budget.
    pub fn worker_cache_bytes(&self) -> u64 {
        self.worker_cache_bytes
    }

    /// An endless iterator over batches (epoch after epoch); stop by dropping it.
    pub fn iter(&self) -> Batches {
        Batches {
            dataset: Arc::clone(&self.dataset),
            config: self.config.clone(),
            worker_cache_bytes: self.worker_cache_bytes,
            next: 0,
            start: 0,
            workers: Vec::new(),
            inline: None,
        }
    }
}

/// Build batch `index` from `worker`: samples `index * batch_size ..` collated.
fn build_batch(
    worker: &mut WorkerDataset,
    index: u64,
    batch_size: usize,
    per_epoch: u64,
) -> Result<Batch> {
    let first = index * batch_size as u64;
    let samples = (first..first + batch_size as u64)
        .map(|i| worker.get(i))
        .collect::<Result<Vec<_>>>()?;
    let collate = |parts: Vec<ndarray::ArrayView4<f32>>, what: &str| {
        ndarray::stack(Axis(0), &parts).map_err(|e| VolumeError::Metadata {
            node: what.to_string(),
            reason: format!("samples of batch {index} differ in shape: {e}"),
        })
    };
    let input = collate(samples.iter().map(|s| s.input.view()).collect(), "input")?;
    let target = collate(samples.iter().map(|s| s.target.view()).collect(), "target")?;
    Ok(Batch {
        index,
        epoch: index / per_epoch,
        input,
        target,
    })
}

struct Worker {
    rx: Receiver<Result<Batch>>,
    join: JoinHandle<()>,
}

/// Everything a worker thread needs.
struct WorkerJob {
    dataset: Arc<Dataset>,
    cache_bytes: u64,
    batch_size: usize,
    per_epoch: u64,
    first: u64,
    stride: u64,
    end: Option<u64>,
    tx: SyncSender<Result<Batch>>,
}

impl WorkerJob {
    fn run(self) {
        let mut worker = match self.dataset.open_worker(self.cache_bytes) {
            Ok(worker) => worker,
            Err(err) => {
                let _ = self.tx.send(Err(err));
                return;
            }
        };
        let mut index = self.first;
        while self.end.is_none_or(|end| index < end) {
            let batch = build_batch(&mut worker, index, self.batch_size, self.per_epoch);
            // A closed channel means the loop is gone: stop quietly.
            if self.tx.send(batch).is_err() {
                return;
            }
            index += self.stride;
        }
    }
}

/// The iterator returned by [`DataLoader::iter`].
pub struct Batches {
    dataset: Arc<Dataset>,
    config: LoaderConfig,
    worker_cache_bytes: u64,
    next: u64,
    /// First batch index of the running workers.
    start: u64,
    workers: Vec<Worker>,
    /// The in-thread "worker" when `workers == 0`.
    inline: Option<WorkerDataset>,
}

impl std::fmt::Debug for Batches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batches")
            .field("next", &self.next)
            .field("running_workers", &self.workers.len())
            .finish()
    }
}

impl Batches {
    fn spawn(&mut self) -> Result<()> {
        let cfg = &self.config;
        self.start = self.next;
        let end = (!cfg.persistent_workers)
            .then(|| (self.next / cfg.batches_per_epoch + 1) * cfg.batches_per_epoch);
        for w in 0..cfg.workers {
            let (tx, rx) = sync_channel(cfg.prefetch);
            let job = WorkerJob {
                dataset: Arc::clone(&self.dataset),
                cache_bytes: self.worker_cache_bytes,
                batch_size: cfg.batch_size,
                per_epoch: cfg.batches_per_epoch,
                first: self.next + w as u64,
                stride: cfg.workers as u64,
                end,
                tx,
            };
            let join = std::thread::Builder::new()
                .name(format!("loader-worker-{w}"))
                .spawn(move || job.run())
                .map_err(|e| VolumeError::WorkerPanicked {
                    worker: w,
                    message: format!("cannot spawn: {e}"),
                })?;
            self.workers.push(Worker { rx, join });
        }
        Ok(())
    }

    /// Close the channels (unblocking senders) and join every worker.
    fn shutdown(&mut self) {
        let joins: Vec<JoinHandle<()>> = self.workers.drain(..).map(|w| w.join).collect();
        for join in joins {
            let _ = join.join();
        }
    }

    fn next_threaded(&mut self) -> Result<Batch> {
        if self.workers.is_empty() {
            self.spawn()?;
        }
        let w = ((self.next - self.start) % self.config.workers as u64) as usize;
        match self.workers[w].rx.recv() {
            Ok(batch) => batch,
            Err(_) => {
                // The worker hung up: it panicked, or stopped after sending an error.
                let worker = self.workers.remove(w);
                let message = match worker.join.join() {
                    Ok(()) => "it stopped after an earlier error".to_string(),
                    Err(panic) => panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "unknown panic".into()),
                };
                self.shutdown();
                Err(VolumeError::WorkerPanicked { worker: w, message })
            }
        }
    }

    fn next_inline(&mut self) -> Result<Batch> {
        if self.inline.is_none() {
            self.inline = Some(self.dataset.open_worker(self.worker_cache_bytes)?);
        }
        let worker = self.inline.as_mut().expect("opened just above");
        build_batch(
            worker,
            self.next,
            self.config.batch_size,
            self.config.batches_per_epoch,
        )
    }
}

impl Iterator for Batches {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        let result = if self.config.workers == 0 {
            self.next_inline()
        } else {
            self.next_threaded()
        };
        self.next += 1;
        if !self.config.persistent_workers
            && self.next.is_multiple_of(self.config.batches_per_epoch)
        {
            // Epoch end: per-epoch workers exit (their last batch was just consumed).
            self.shutdown();
            self.inline = None;
        }
        Some(result)
    }
}

impl Drop for Batches {
    fn drop(&mut self) {
        self.shutdown();
    }
}
