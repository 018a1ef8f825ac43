//! Focal + soft-dice loss over per-pixel softmax, with its exact gradient.
//!
//! Focal loss (Lin et al. 2017) down-weights the easy background pixels; the
//! soft dice term (Milletari et al. 2016) optimises the overlap the validation
//! metric measures. Both act on `p = softmax(z)` and are chained through the
//! softmax Jacobian by hand: `dL/dz_j = p_j (g_j - sum_c g_c p_c)`, `g = dL/dp`.

use ndarray::{Array2, ArrayRef2, Axis, Zip};
use serde::{Deserialize, Serialize};

use super::softmax_columns;

/// Weights of the loss terms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossConfig {
    /// Focal exponent; 0 gives plain cross-entropy.
    pub gamma: f32,
    /// Weight of the soft dice term (mean over foreground classes).
    pub dice_weight: f32,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            gamma: 2.0,
            dice_weight: 1.0,
        }
    }
}

/// The loss of one image and its parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LossParts {
    pub total: f32,
    pub focal: f32,
    pub dice: f32,
}

const P_MIN: f32 = 1e-7;
const SMOOTH: f32 = 1.0;

/// Loss of `logits` against soft one-hot `target` (both `(classes, pixels)`; channel 0 is the
/// background). Writes the softmax into `probs` and `dL/dlogits` into `dlogits`.
pub fn focal_dice(
    logits: &ArrayRef2<f32>,
    target: &ArrayRef2<f32>,
    cfg: &LossConfig,
    probs: &mut Array2<f32>,
    dlogits: &mut Array2<f32>,
) -> LossParts {
    let (classes, n) = logits.dim();
    probs.assign(logits);
    softmax_columns(probs);
    let inv_n = 1.0 / n as f32;
    let g = cfg.gamma;
    // g = dL/dp, accumulated into dlogits first.
    let mut focal = 0.0f64;
    Zip::from(&mut *dlogits)
        .and(&*probs)
        .and(target)
        .for_each(|d, &p, &y| {
            let p = p.max(P_MIN);
            let q = 1.0 - p;
            let qg = q.powf(g);
            let lp = p.ln();
            focal -= (y * qg * lp) as f64;
            let dq = if g == 0.0 { 0.0 } else { g * q.powf(g - 1.0) };
            *d = -y * (-dq * lp + qg / p) * inv_n;
        });
    let focal = focal as f32 * inv_n;
    let mut dice_loss = 0.0;
    let fg = classes - 1;
    if fg > 0 && cfg.dice_weight != 0.0 {
        let scale = cfg.dice_weight / fg as f32;
        for c in 1..classes {
            let p = probs.row(c);
            let y = target.row(c);
            let inter: f32 = p.iter().zip(y.iter()).map(|(a, b)| a * b).sum();
            let sum = p.sum() + y.sum();
            let den = sum + SMOOTH;
            let num = 2.0 * inter + SMOOTH;
            dice_loss += 1.0 - num / den;
            let mut d = dlogits.row_mut(c);
            Zip::from(&mut d).and(&y).for_each(|d, &y| {
                // d(1 - num/den)/dp = -(2 y den - num) / den^2
                *d -= scale * (2.0 * y * den - num) / (den * den);
            });
        }
        dice_loss /= fg as f32;
    }
    // Chain through the softmax, column by column.
    for (mut dcol, pcol) in dlogits.axis_iter_mut(Axis(1)).zip(probs.axis_iter(Axis(1))) {
        let dot: f32 = dcol.iter().zip(pcol.iter()).map(|(a, b)| a * b).sum();
        Zip::from(&mut dcol)
            .and(&pcol)
            .for_each(|d, &p| *d = p * (*d - dot));
    }
    LossParts {
        total: focal + cfg.dice_weight * dice_loss,
        focal,
        dice: dice_loss,
    }
}

/// Intersection and size sums of hard predictions for one foreground class.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DiceCounts {
    pub intersection: u64,
    pub predicted: u64,
    pub actual: u64,
}

/// Accumulate hard-dice counts per foreground class: `labels` predicted, `target` soft one-hot
/// (a pixel's true class is its largest channel).
pub fn hard_dice(labels: &[u8], target: &ArrayRef2<f32>, counts: &mut [DiceCounts]) {
    for (i, col) in target.axis_iter(Axis(1)).enumerate() {
        let truth = super::argmax(col.iter().copied());
        let pred = labels[i] as usize;
        for (c, k) in counts.iter_mut().enumerate() {
            let class = c + 1;
            let (t, p) = (truth == class, pred == class);
            k.intersection += (t && p) as u64;
            k.predicted += p as u64;
            k.actual += t as u64;
        }
    }
}

impl DiceCounts {
    /// `2|A∩B| / (|A| + |B|)`, `None` when the class is absent from both.
    pub fn dice(&self) -> Option<f64> {
        let den = self.predicted + self.actual;
        (den > 0).then(|| 2.0 * self.intersection as f64 / den as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Finite differences against the hand-written gradient (f64 reference would be
    /// stricter, but f32 central differences at h = 1e-2 agree to ~1e-3 here).
    #[test]
    fn gradient_matches_finite_differences() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let (c, n) = (3, 7);
        let z = Array2::from_shape_fn((c, n), |_| rng.random_range(-2.0f32..2.0));
        let mut y = Array2::<f32>::zeros((c, n));
        for j in 0..n {
            y[[rng.random_range(0..c), j]] = 1.0;
        }
        let cfg = LossConfig::default();
        let mut p = Array2::zeros((c, n));
        let mut d = Array2::zeros((c, n));
        focal_dice(&z, &y, &cfg, &mut p, &mut d);
        let eps = 1e-2;
        for i in 0..c {
            for j in 0..n {
                let mut zp = z.clone();
                zp[[i, j]] += eps;
                let mut zm = z.clone();
                zm[[i, j]] -= eps;
                let mut scratch = Array2::zeros((c, n));
                let lp = focal_dice(&zp, &y, &cfg, &mut p, &mut scratch).total;
                let lm = focal_dice(&zm, &y, &cfg, &mut p, &mut scratch).total;
                let num = (lp - lm) / (2.0 * eps);
                assert!(
                    (num - d[[i, j]]).abs() < 2e-3,
                    "({i},{j}): numeric {num} analytic {}",
                    d[[i, j]]
                );
            }
        }
    }

    #[test]
    fn hard_dice_counts() {
        let target = ndarray::arr2(&[
            [1.0, 0.0, 0.0, 1.0],
            [0.0, 1.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
        ]);
        let mut k = [DiceCounts::default(); 2];
        hard_dice(&[0, 1, 0, 1], &target, &mut k);
        assert_eq!(
            k[0],
            DiceCounts {
                intersection: 1,
                predicted: 2,
                actual: 2
            }
        );
        assert_eq!(k[0].dice(), Some(0.5));
        assert_eq!(k[1].dice(), None);
    }
}
