//! Adam (Kingma & Ba 2015) with bias correction.

use ndarray::{Array1, Array2, Zip};

use super::{Grads, Model};

/// Optimiser state: first and second moments shaped like the model's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Adam {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    t: i32,
    moments: Vec<Moments>,
}

#[derive(Debug, Clone, PartialEq)]
struct Moments {
    mw: Array2<f32>,
    vw: Array2<f32>,
    mb: Array1<f32>,
    vb: Array1<f32>,
}

impl Adam {
    pub fn new(model: &Model, lr: f32) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            t: 0,
            moments: model
                .layers
                .iter()
                .map(|l| Moments {
                    mw: Array2::zeros(l.weight.raw_dim()),
                    vw: Array2::zeros(l.weight.raw_dim()),
                    mb: Array1::zeros(l.cout),
                    vb: Array1::zeros(l.cout),
                })
                .collect(),
        }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> i32 {
        self.t
    }

    /// Heap bytes of the moment estimates.
    pub fn byte_size(&self) -> usize {
        self.moments
            .iter()
            .map(|m| (m.mw.len() + m.vw.len() + m.mb.len() + m.vb.len()) * size_of::<f32>())
            .sum()
    }

    /// One update with `grads * scale` (scale = 1 / batch size for summed gradients).
    pub fn step(&mut self, model: &mut Model, grads: &Grads, scale: f32) {
        self.t += 1;
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        let lr_t = self.lr * (1.0 - b2.powi(self.t)).sqrt() / (1.0 - b1.powi(self.t));
        let update = |p: &mut f32, m: &mut f32, v: &mut f32, g: f32| {
            let g = g * scale;
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= lr_t * *m / (v.sqrt() + eps);
        };
        for ((layer, (gw, gb)), m) in model
            .layers
            .iter_mut()
            .zip(&grads.layers)
            .zip(&mut self.moments)
        {
            Zip::from(&mut layer.weight)
                .and(&mut m.mw)
                .and(&mut m.vw)
                .and(gw)
                .for_each(|p, m, v, &g| update(p, m, v, g));
            Zip::from(&mut layer.bias)
                .and(&mut m.mb)
                .and(&mut m.vb)
                .and(gb)
                .for_each(|p, m, v, &g| update(p, m, v, g));
        }
    }
}
