//! What one training session builds and reports: its state (model, optimiser, decoded
//! dataset cache, inference model, buffer pool) with the bytes it holds, and the dice
//! validation of its model.

use serde::{Deserialize, Serialize};

use crate::annotation::{Problem, RgbImage};
use crate::dataset::{DatasetCache, network_input};
use crate::nn::{Adam, BufferPool, DiceCounts, InferenceBuffers, Model, hard_dice};

/// Bytes one session's state holds, computed from the structures themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateBytes {
    pub model: usize,
    pub optimizer: usize,
    pub dataset_cache: usize,
    pub inference: usize,
    pub pool: usize,
}

impl StateBytes {
    pub fn total(&self) -> usize {
        self.model + self.optimizer + self.dataset_cache + self.inference + self.pool
    }
}

impl std::ops::AddAssign for StateBytes {
    fn add_assign(&mut self, o: Self) {
        self.model += o.model;
        self.optimizer += o.optimizer;
        self.dataset_cache += o.dataset_cache;
        self.inference += o.inference;
        self.pool += o.pool;
    }
}

/// A trained model kept for serving predictions, with its serving-resolution buffers.
#[derive(Debug)]
pub struct InferenceModel {
    pub model: Model,
    pub size: usize,
    buffers: InferenceBuffers,
}

impl InferenceModel {
    pub fn new(model: Model, size: usize) -> Self {
        let buffers = InferenceBuffers::new(&model, size, size);
        Self {
            model,
            size,
            buffers,
        }
    }

    /// Per-pixel class of `image` at the serving resolution (`size * size` labels, row-major).
    pub fn predict(&mut self, image: &RgbImage) -> Result<Vec<u8>, Problem> {
        image.check()?;
        let x = network_input(image, self.size);
        let mut labels = vec![0u8; self.size * self.size];
        self.model.predict_into(&x, &mut self.buffers, &mut labels);
        Ok(labels)
    }

    pub fn byte_size(&self) -> usize {
        self.model.byte_size() + self.buffers.byte_size()
    }
}

/// Everything one session built.
#[derive(Debug)]
pub struct SessionState {
    pub id: u64,
    pub model: Model,
    pub optimizer: Adam,
    pub dataset: DatasetCache,
    pub inference: Option<InferenceModel>,
    pub pool: BufferPool,
    /// Set when the session completed.
    pub report: Option<SessionReport>,
}

impl SessionState {
    pub fn bytes(&self) -> StateBytes {
        StateBytes {
            model: self.model.byte_size(),
            optimizer: self.optimizer.byte_size(),
            dataset_cache: self.dataset.byte_size(),
            inference: self.inference.as_ref().map_or(0, InferenceModel::byte_size),
            pool: self.pool.byte_size(),
        }
    }
}

/// What a completed session reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionReport {
    pub session: u64,
    pub samples: usize,
    pub train_samples: usize,
    pub val_samples: usize,
    pub epochs: usize,
    pub steps: u64,
    /// Mean training loss of each epoch.
    pub epoch_losses: Vec<f32>,
    /// Mean hard dice over foreground classes on the validation split (classes absent from
    /// both prediction and truth are skipped); `None` without validation samples.
    pub val_dice: Option<f64>,
    pub per_class_dice: Vec<Option<f64>>,
    pub peak_rss_bytes: Option<u64>,
    /// Bytes this session's state holds at its end.
    pub state_bytes: StateBytes,
}

/// Hard dice per foreground class on the validation split and their mean.
pub(crate) fn validate_dice(st: &mut SessionState, size: usize) -> (Option<f64>, Vec<Option<f64>>) {
    let classes = st.model.config.classes;
    let mut counts = vec![DiceCounts::default(); classes - 1];
    if st.dataset.val.is_empty() {
        return (None, Vec::new());
    }
    let mut labels = vec![0u8; size * size];
    for &i in &st.dataset.val {
        let Some(d) = st.dataset.samples[i].as_ref() else {
            continue;
        };
        let tape = st.model.forward(&d.input, size, size, &mut st.pool);
        for (l, col) in labels.iter_mut().zip(tape.logits().columns()) {
            *l = crate::nn::argmax(col.iter().copied()) as u8;
        }
        tape.release(&mut st.pool);
        hard_dice(&labels, &d.target, &mut counts);
    }
    let per: Vec<Option<f64>> = counts.iter().map(DiceCounts::dice).collect();
    let present: Vec<f64> = per.iter().flatten().copied().collect();
    let mean = (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64);
    (mean, per)
}
