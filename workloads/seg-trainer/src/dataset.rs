//! The decoded dataset cache: full-resolution float images and per-class masks,
//! plus their resized training tensors, and the 80/20 train/validation split.
//!
//! Like the incident's service, the cache keeps the full-resolution decode around
//! (it is what a re-split or a resolution change would need): that is the bulk of
//! what a retained session holds.

use ndarray::{Array2, ArrayRef2};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::annotation::{AnnotatedSample, AnnotationError, ClassSet, RgbImage, rasterize_labels};

/// One sample, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedSample {
    pub id: String,
    pub width: usize,
    pub height: usize,
    /// `(3, height * width)`, values in `[0, 1]`.
    pub full_image: Array2<f32>,
    /// `(classes, height * width)` one-hot masks, channel 0 the background.
    pub full_masks: Array2<f32>,
    /// `(3, size * size)` normalised network input.
    pub input: Array2<f32>,
    /// `(classes, size * size)` soft targets (area-averaged masks; columns sum to 1).
    pub target: Array2<f32>,
}

impl DecodedSample {
    /// Validate, rasterise and resize `sample` to `size x size`.
    pub fn decode(
        sample: &AnnotatedSample,
        classes: &ClassSet,
        size: usize,
    ) -> Result<Self, AnnotationError> {
        let labels = rasterize_labels(sample, classes)?;
        let (w, h) = (sample.image.width, sample.image.height);
        let full_image = image_planes(&sample.image);
        let mut full_masks = Array2::zeros((classes.channels(), w * h));
        for (i, &l) in labels.iter().enumerate() {
            full_masks[[l as usize, i]] = 1.0;
        }
        let input = normalise(resize_area(&full_image, h, w, size, size));
        let target = resize_area(&full_masks, h, w, size, size);
        Ok(Self {
            id: sample.id.clone(),
            width: w,
            height: h,
            full_image,
            full_masks,
            input,
            target,
        })
    }

    /// Heap bytes of the decoded arrays.
    pub fn byte_size(&self) -> usize {
        (self.full_image.len() + self.full_masks.len() + self.input.len() + self.target.len())
            * size_of::<f32>()
            + self.id.capacity()
    }
}

/// Decoded samples of one session and its split, filled lazily on first use (so a
/// session's memory grows batch by batch during its first epoch, as the incident's did).
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetCache {
    pub size: usize,
    /// `None` until the sample is first used.
    pub samples: Vec<Option<DecodedSample>>,
    /// Indices into `samples`.
    pub train: Vec<usize>,
    pub val: Vec<usize>,
}

impl DatasetCache {
    /// Empty cache for `n` samples at training resolution `size`, split by `seed`.
    pub fn new(n: usize, size: usize, seed: u64) -> Self {
        let (train, val) = split(n, seed);
        Self {
            size,
            samples: vec![None; n],
            train,
            val,
        }
    }

    /// Decode sample `i` from `source` unless it is cached; true when it decoded now.
    pub fn ensure(
        &mut self,
        i: usize,
        source: &AnnotatedSample,
        classes: &ClassSet,
    ) -> Result<bool, AnnotationError> {
        if self.samples[i].is_some() {
            return Ok(false);
        }
        self.samples[i] = Some(DecodedSample::decode(source, classes, self.size)?);
        Ok(true)
    }

    /// Sample `i`, if decoded.
    pub fn get(&self, i: usize) -> Option<&DecodedSample> {
        self.samples[i].as_ref()
    }

    /// Heap bytes of every decoded sample and the index vectors.
    pub fn byte_size(&self) -> usize {
        self.samples
            .iter()
            .flatten()
            .map(DecodedSample::byte_size)
            .sum::<usize>()
            + self.samples.capacity() * size_of::<Option<DecodedSample>>()
            + (self.train.capacity() + self.val.capacity()) * size_of::<usize>()
    }
}

/// Seeded 80/20 split of `n` samples: `floor(0.8 n)` for training (at least 1), the rest
/// (at least 1 when `n >= 2`) for validation. 3 samples give 2 + 1, 4 give 3 + 1.
pub fn split(n: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut n_train = (n * 4 / 5).max(1).min(n);
    if n >= 2 && n_train == n {
        n_train = n - 1;
    }
    let val = idx.split_off(n_train);
    (idx, val)
}

/// RGB bytes as `(3, pixels)` planes in `[0, 1]`.
pub fn image_planes(img: &RgbImage) -> Array2<f32> {
    let n = img.pixels();
    Array2::from_shape_fn((3, n), |(c, i)| img.data[i * 3 + c] as f32 / 255.0)
}

/// Centre `[0, 1]` values to roughly unit scale, as the network expects.
pub fn normalise(mut planes: Array2<f32>) -> Array2<f32> {
    planes.mapv_inplace(|v| (v - 0.5) * 4.0);
    planes
}

/// Network input for `img` at `size x size`.
pub fn network_input(img: &RgbImage, size: usize) -> Array2<f32> {
    normalise(resize_area(
        &image_planes(img),
        img.height,
        img.width,
        size,
        size,
    ))
}

/// Resize `(channels, sh * sw)` planes to `(channels, dh * dw)` by averaging each output
/// pixel's source footprint (box filter; nearest neighbour when upsampling).
pub fn resize_area(
    src: &ArrayRef2<f32>,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
) -> Array2<f32> {
    let spans = |s: usize, d: usize| -> Vec<(usize, usize)> {
        (0..d)
            .map(|o| {
                let a = o * s / d;
                let b = ((o + 1) * s / d).max(a + 1).min(s);
                (a, b)
            })
            .collect()
    };
    let (ys, xs) = (spans(sh, dh), spans(sw, dw));
    let mut out = Array2::zeros((src.nrows(), dh * dw));
    for (c, plane) in src.outer_iter().enumerate() {
        for (oy, &(y0, y1)) in ys.iter().enumerate() {
            for (ox, &(x0, x1)) in xs.iter().enumerate() {
                let mut acc = 0.0f32;
                for y in y0..y1 {
                    for x in x0..x1 {
                        acc += plane[y * sw + x];
                    }
                }
                out[[c, oy * dw + ox]] = acc / ((y1 - y0) * (x1 - x0)) as f32;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_sizes() {
        for (n, t, v) in [
            (1, 1, 0),
            (2, 1, 1),
            (3, 2, 1),
            (4, 3, 1),
            (5, 4, 1),
            (10, 8, 2),
        ] {
            let (a, b) = split(n, 9);
            assert_eq!((a.len(), b.len()), (t, v), "n = {n}");
            let mut all: Vec<_> = a.iter().chain(&b).copied().collect();
            all.sort();
            assert_eq!(all, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn resize_area_averages_blocks() {
        // 4x4 -> 2x2: each output is the mean of a 2x2 block.
        let src = Array2::from_shape_fn((1, 16), |(_, i)| i as f32);
        let out = resize_area(&src, 4, 4, 2, 2);
        assert_eq!(out.as_slice().unwrap(), &[2.5, 4.5, 10.5, 12.5]);
        // Upsampling 2x2 -> 4x4 repeats pixels.
        let up = resize_area(&out, 2, 2, 4, 4);
        assert_eq!(up[[0, 0]], 2.5);
        assert_eq!(up[[0, 15]], 12.5);
    }
}
