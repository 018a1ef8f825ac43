//! The numeric core: a small fully-convolutional network on `ndarray`.
//!
//! Kept apart from the service so a GPU backend can replace it later. Tensors are
//! `(channels, height * width)` matrices; convolutions are im2col + one matrix
//! product (`matrixmultiply` through ndarray), which is fast enough to train in
//! seconds on two cores. Every scratch buffer comes from a [`BufferPool`].

mod adam;
mod loss;
mod pool;

pub use adam::Adam;
pub use loss::{DiceCounts, LossConfig, LossParts, focal_dice, hard_dice};
pub use pool::BufferPool;

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayRef2, ArrayView2, Axis, Zip, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Shape of the network: `depth` 3x3 conv + ReLU layers of `hidden` channels, then a 1x1 classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub in_channels: usize,
    pub hidden: usize,
    pub depth: usize,
    pub classes: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            in_channels: 3,
            hidden: 16,
            depth: 3,
            classes: 3,
        }
    }
}

/// A same-padded 2-D convolution with a square `k x k` kernel (`k` odd).
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2d {
    pub cin: usize,
    pub cout: usize,
    pub k: usize,
    /// `(cout, cin * k * k)`, rows in im2col order.
    pub weight: Array2<f32>,
    pub bias: Array1<f32>,
}

impl Conv2d {
    /// He-uniform initialisation (suits the ReLU layers that follow).
    fn new(cin: usize, cout: usize, k: usize, rng: &mut ChaCha8Rng) -> Self {
        let fan_in = (cin * k * k) as f32;
        let bound = (6.0 / fan_in).sqrt();
        let weight =
            Array2::from_shape_fn((cout, cin * k * k), |_| rng.random_range(-bound..bound));
        Self {
            cin,
            cout,
            k,
            weight,
            bias: Array1::zeros(cout),
        }
    }
}

/// The segmentation network.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub config: ModelConfig,
    pub layers: Vec<Conv2d>,
}

/// Gradients, shaped like the model's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Grads {
    pub layers: Vec<(Array2<f32>, Array1<f32>)>,
}

impl Grads {
    pub fn zeros_like(model: &Model) -> Self {
        Self {
            layers: model
                .layers
                .iter()
                .map(|l| (Array2::zeros(l.weight.raw_dim()), Array1::zeros(l.cout)))
                .collect(),
        }
    }

    pub fn fill_zero(&mut self) {
        for (w, b) in &mut self.layers {
            w.fill(0.0);
            b.fill(0.0);
        }
    }
}

/// What the forward pass keeps for the backward pass.
#[derive(Debug)]
pub struct Tape {
    h: usize,
    w: usize,
    /// im2col matrix of each layer's input.
    cols: Vec<Array2<f32>>,
    /// Each layer's output (post-ReLU for hidden layers, logits for the last).
    outs: Vec<Array2<f32>>,
}

impl Tape {
    /// The logits `(classes, h * w)`.
    pub fn logits(&self) -> ArrayView2<'_, f32> {
        self.outs.last().expect("a model has layers").view()
    }

    /// Hand every buffer back to `pool`.
    pub fn release(self, pool: &mut BufferPool) {
        self.cols
            .into_iter()
            .chain(self.outs)
            .for_each(|a| pool.give(a));
    }
}

impl Model {
    pub fn new(config: ModelConfig, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut layers = Vec::with_capacity(config.depth + 1);
        let mut cin = config.in_channels;
        for _ in 0..config.depth {
            layers.push(Conv2d::new(cin, config.hidden, 3, &mut rng));
            cin = config.hidden;
        }
        layers.push(Conv2d::new(cin, config.classes, 1, &mut rng));
        Self { config, layers }
    }

    /// Learnable parameters.
    pub fn parameter_count(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.weight.len() + l.bias.len())
            .sum()
    }

    /// Heap bytes of the parameters.
    pub fn byte_size(&self) -> usize {
        self.parameter_count() * size_of::<f32>()
    }

    /// Forward pass of one image `x` (`(in_channels, h * w)`), keeping what backward needs.
    pub fn forward(&self, x: &ArrayRef2<f32>, h: usize, w: usize, pool: &mut BufferPool) -> Tape {
        let mut tape = Tape {
            h,
            w,
            cols: Vec::with_capacity(self.layers.len()),
            outs: Vec::with_capacity(self.layers.len()),
        };
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            let mut cols = pool.take(layer.cin * layer.k * layer.k, h * w);
            if i == 0 {
                im2col(x, h, w, layer.k, &mut cols);
            } else {
                im2col(&tape.outs[i - 1], h, w, layer.k, &mut cols);
            }
            let mut out = pool.take(layer.cout, h * w);
            layer_forward(layer, &cols, &mut out, i < last);
            tape.cols.push(cols);
            tape.outs.push(out);
        }
        tape
    }

    /// Accumulate parameter gradients into `grads` given `dlogits` (consumed, returned to `pool`).
    pub fn backward(
        &self,
        tape: &Tape,
        dlogits: Array2<f32>,
        grads: &mut Grads,
        pool: &mut BufferPool,
    ) {
        let (h, w) = (tape.h, tape.w);
        let mut d_out = dlogits;
        for i in (0..self.layers.len()).rev() {
            let layer = &self.layers[i];
            if i < self.layers.len() - 1 {
                // ReLU: the output is positive exactly where the pre-activation was.
                Zip::from(&mut d_out).and(&tape.outs[i]).for_each(|d, &o| {
                    if o <= 0.0 {
                        *d = 0.0
                    }
                });
            }
            let (gw, gb) = &mut grads.layers[i];
            general_mat_mul(1.0, &d_out, &tape.cols[i].t(), 1.0, gw);
            *gb += &d_out.sum_axis(Axis(1));
            if i > 0 {
                let mut dcols = pool.take(layer.cin * layer.k * layer.k, h * w);
                general_mat_mul(1.0, &layer.weight.t(), &d_out, 0.0, &mut dcols);
                let mut d_in = pool.take_zeroed(layer.cin, h * w);
                col2im(&dcols, h, w, layer.k, &mut d_in);
                pool.give(dcols);
                pool.give(std::mem::replace(&mut d_out, d_in));
            }
        }
        pool.give(d_out);
    }

    /// Per-pixel argmax class of one image, through `ws`'s buffers (no tape, no allocation).
    pub fn predict_into(&self, x: &ArrayRef2<f32>, ws: &mut InferenceBuffers, labels: &mut [u8]) {
        let (h, w) = (ws.h, ws.w);
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            let rows = layer.cin * layer.k * layer.k;
            let mut cols = ws.cols.slice_mut(s![..rows, ..]);
            if i == 0 {
                im2col(x, h, w, layer.k, &mut cols);
            } else {
                im2col(&ws.a.slice(s![..layer.cin, ..]), h, w, layer.k, &mut cols);
            }
            layer_forward(
                layer,
                &cols,
                &mut ws.b.slice_mut(s![..layer.cout, ..]),
                i < last,
            );
            std::mem::swap(&mut ws.a, &mut ws.b);
        }
        let logits = ws.a.slice(s![..self.config.classes, ..]);
        for (label, col) in labels.iter_mut().zip(logits.axis_iter(Axis(1))) {
            *label = argmax(col.iter().copied()) as u8;
        }
    }
}

/// Index of the largest value (the first on ties).
pub fn argmax(values: impl Iterator<Item = f32>) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// Scratch of tape-free inference at one resolution: one im2col buffer and two activations.
#[derive(Debug)]
pub struct InferenceBuffers {
    h: usize,
    w: usize,
    cols: Array2<f32>,
    a: Array2<f32>,
    b: Array2<f32>,
}

impl InferenceBuffers {
    /// Buffers for `model` at `h x w`, written once so their pages are really resident.
    pub fn new(model: &Model, h: usize, w: usize) -> Self {
        let rows = model
            .layers
            .iter()
            .map(|l| l.cin * l.k * l.k)
            .max()
            .unwrap_or(0);
        let chans = model
            .layers
            .iter()
            .map(|l| l.cin.max(l.cout))
            .max()
            .unwrap_or(0);
        Self {
            h,
            w,
            cols: Array2::from_elem((rows, h * w), 1.0),
            a: Array2::from_elem((chans, h * w), 1.0),
            b: Array2::from_elem((chans, h * w), 1.0),
        }
    }

    /// Heap bytes of the buffers.
    pub fn byte_size(&self) -> usize {
        (self.cols.len() + self.a.len() + self.b.len()) * size_of::<f32>()
    }
}

/// `out = weight · cols + bias`, then ReLU when `relu`.
fn layer_forward(layer: &Conv2d, cols: &ArrayRef2<f32>, out: &mut ArrayRef2<f32>, relu: bool) {
    general_mat_mul(1.0, &layer.weight, cols, 0.0, out);
    for (mut row, &b) in out.axis_iter_mut(Axis(0)).zip(layer.bias.iter()) {
        if relu {
            row.mapv_inplace(|v| (v + b).max(0.0));
        } else {
            row.mapv_inplace(|v| v + b);
        }
    }
}

/// Unfold `x` (`(c, h * w)`) into `(c * k * k, h * w)`: row `(c, ky, kx)` holds the input
/// shifted by `(ky - k/2, kx - k/2)`, zero outside the image.
pub fn im2col(x: &ArrayRef2<f32>, h: usize, w: usize, k: usize, cols: &mut ArrayRef2<f32>) {
    let p = (k / 2) as isize;
    let x = x.as_standard_layout();
    for c in 0..x.nrows() {
        let src = x.row(c);
        let src = src.as_slice().expect("standard layout");
        for ky in 0..k {
            for kx in 0..k {
                let mut row = cols.row_mut((c * k + ky) * k + kx);
                let dst = row.as_slice_mut().expect("pool buffers are contiguous");
                let (dy, dx) = (ky as isize - p, kx as isize - p);
                for y in 0..h {
                    let d = &mut dst[y * w..(y + 1) * w];
                    let sy = y as isize + dy;
                    if sy < 0 || sy >= h as isize {
                        d.fill(0.0);
                        continue;
                    }
                    let s = &src[sy as usize * w..(sy as usize + 1) * w];
                    // Valid x range: 0 <= x + dx < w.
                    let x0 = (-dx).max(0) as usize;
                    let x1 = (w as isize - dx).min(w as isize) as usize;
                    d[..x0].fill(0.0);
                    d[x1..].fill(0.0);
                    d[x0..x1].copy_from_slice(
                        &s[(x0 as isize + dx) as usize..(x1 as isize + dx) as usize],
                    );
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: add each row of `cols` back into the shifted input positions.
pub fn col2im(cols: &ArrayRef2<f32>, h: usize, w: usize, k: usize, dx_out: &mut ArrayRef2<f32>) {
    let p = (k / 2) as isize;
    for c in 0..dx_out.nrows() {
        let mut dst_row = dx_out.row_mut(c);
        let dst = dst_row.as_slice_mut().expect("pool buffers are contiguous");
        for ky in 0..k {
            for kx in 0..k {
                let row = cols.row((c * k + ky) * k + kx);
                let src = row.as_slice().expect("pool buffers are contiguous");
                let (dy, dx) = (ky as isize - p, kx as isize - p);
                for y in 0..h {
                    let sy = y as isize + dy;
                    if sy < 0 || sy >= h as isize {
                        continue;
                    }
                    let x0 = (-dx).max(0) as usize;
                    let x1 = (w as isize - dx).min(w as isize) as usize;
                    let s = &src[y * w + x0..y * w + x1];
                    let base = sy as usize * w;
                    let d = &mut dst[(base as isize + x0 as isize + dx) as usize
                        ..(base as isize + x1 as isize + dx) as usize];
                    for (a, b) in d.iter_mut().zip(s) {
                        *a += b;
                    }
                }
            }
        }
    }
}

/// Softmax over channels, per pixel (column), in place.
pub fn softmax_columns(z: &mut Array2<f32>) {
    for mut col in z.axis_iter_mut(Axis(1)) {
        let m = col.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        col.mapv_inplace(|v| (v - m).exp());
        let s = col.sum();
        col.mapv_inplace(|v| v / s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss_of(model: &Model, x: &Array2<f32>, y: &Array2<f32>, h: usize, w: usize) -> f32 {
        let mut pool = BufferPool::new();
        let tape = model.forward(x, h, w, &mut pool);
        let mut p = Array2::zeros(y.raw_dim());
        let mut d = Array2::zeros(y.raw_dim());
        focal_dice(&tape.logits(), y, &LossConfig::default(), &mut p, &mut d).total
    }

    /// Backward through every layer against central differences of the whole network.
    #[test]
    fn model_gradient_matches_finite_differences() {
        let (h, w) = (5, 4);
        let cfg = ModelConfig {
            in_channels: 3,
            hidden: 4,
            depth: 2,
            classes: 3,
        };
        let model = Model::new(cfg, 3);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let x = Array2::from_shape_fn((3, h * w), |_| rng.random_range(-1.0f32..1.0));
        let mut y = Array2::<f32>::zeros((3, h * w));
        for j in 0..h * w {
            y[[rng.random_range(0..3), j]] = 1.0;
        }
        let mut pool = BufferPool::new();
        let tape = model.forward(&x, h, w, &mut pool);
        let mut p = pool.take(3, h * w);
        let mut d = pool.take(3, h * w);
        focal_dice(&tape.logits(), &y, &LossConfig::default(), &mut p, &mut d);
        let mut grads = Grads::zeros_like(&model);
        model.backward(&tape, d, &mut grads, &mut pool);
        // Small enough that no ReLU flips, large enough for f32 loss differences.
        let eps = 1e-3;
        let mut checked = 0;
        for li in 0..model.layers.len() {
            for idx in [0, 5, 11] {
                let (r, c) = (
                    idx % model.layers[li].cout,
                    idx % model.layers[li].weight.ncols(),
                );
                let mut plus = model.clone();
                plus.layers[li].weight[[r, c]] += eps;
                let mut minus = model.clone();
                minus.layers[li].weight[[r, c]] -= eps;
                let num =
                    (loss_of(&plus, &x, &y, h, w) - loss_of(&minus, &x, &y, h, w)) / (2.0 * eps);
                let ana = grads.layers[li].0[[r, c]];
                assert!(
                    (num - ana).abs() <= 2e-3 + 0.02 * ana.abs(),
                    "layer {li} w[{r},{c}]: numeric {num} analytic {ana}"
                );
                checked += 1;
            }
            let mut plus = model.clone();
            plus.layers[li].bias[0] += eps;
            let mut minus = model.clone();
            minus.layers[li].bias[0] -= eps;
            let num = (loss_of(&plus, &x, &y, h, w) - loss_of(&minus, &x, &y, h, w)) / (2.0 * eps);
            let ana = grads.layers[li].1[0];
            assert!(
                (num - ana).abs() <= 2e-3 + 0.02 * ana.abs(),
                "layer {li} b[0]: numeric {num} analytic {ana}"
            );
        }
        assert_eq!(checked, 9);
    }

    #[test]
    fn im2col_col2im_are_adjoint() {
        // <im2col(x), c> == <x, col2im(c)> for random x, c: the defining property of the adjoint.
        let (ch, h, w, k) = (2, 4, 3, 3);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let x = Array2::from_shape_fn((ch, h * w), |_| rng.random_range(-1.0f32..1.0));
        let c = Array2::from_shape_fn((ch * k * k, h * w), |_| rng.random_range(-1.0f32..1.0));
        let mut cols = Array2::zeros((ch * k * k, h * w));
        im2col(&x, h, w, k, &mut cols);
        let mut back = Array2::zeros((ch, h * w));
        col2im(&c, h, w, k, &mut back);
        let lhs: f32 = (&cols * &c).sum();
        let rhs: f32 = (&x * &back).sum();
        assert!((lhs - rhs).abs() < 1e-4, "{lhs} vs {rhs}");
        // Centre tap of a 3x3 unfold is the input itself.
        assert_eq!(cols.row(4), x.row(0));
    }

    #[test]
    fn predict_into_matches_forward() {
        let model = Model::new(ModelConfig::default(), 1);
        let (h, w) = (6, 7);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let x = Array2::from_shape_fn((3, h * w), |_| rng.random_range(-1.0f32..1.0));
        let mut pool = BufferPool::new();
        let tape = model.forward(&x, h, w, &mut pool);
        let want: Vec<u8> = tape
            .logits()
            .columns()
            .into_iter()
            .map(|c| argmax(c.iter().copied()) as u8)
            .collect();
        let mut ws = InferenceBuffers::new(&model, h, w);
        let mut got = vec![0; h * w];
        model.predict_into(&x, &mut ws, &mut got);
        assert_eq!(got, want);
    }
}
