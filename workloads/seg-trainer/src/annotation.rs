//! Annotated samples: RGB images with polygon and RLE brush annotations.
//!
//! Validation is separate from rasterisation so that a session can reject a bad
//! sample *before* it touches any state (the incident's fix hardened exactly the
//! RLE decoding; a bad 4th sample must not spoil what session 1 produced).

use std::fmt;

use serde::{Deserialize, Serialize};

/// An 8-bit RGB image, row-major, interleaved (`[r, g, b, r, g, b, …]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl RgbImage {
    /// Pixels in the image (`width * height`).
    pub fn pixels(&self) -> usize {
        self.width * self.height
    }

    /// Heap bytes held by the pixel data.
    pub fn byte_size(&self) -> usize {
        self.data.capacity()
    }

    /// Non-empty, and `data` holds exactly `width * height` RGB pixels.
    pub fn check(&self) -> Result<(), Problem> {
        if self.width == 0 || self.height == 0 {
            return Err(Problem::EmptyImage {
                width: self.width,
                height: self.height,
            });
        }
        let expected = self
            .width
            .checked_mul(self.height)
            .and_then(|p| p.checked_mul(3));
        if expected != Some(self.data.len()) {
            return Err(Problem::ImageSize {
                expected: expected.unwrap_or(usize::MAX),
                found: self.data.len(),
            });
        }
        Ok(())
    }
}

/// The region one annotation covers, in the pixel grid of its image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Closed polygon of `[x, y]` vertices in pixel units (even–odd fill at pixel centres).
    Polygon(Vec<[f32; 2]>),
    /// Brush strokes as flat `(start, length)` pairs of 0-based row-major pixel indices.
    Rle(Vec<u64>),
}

/// One labelled region of a sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// Class name; must be one of the service's [`ClassSet`] names (never the background).
    pub class: String,
    pub shape: Shape,
}

/// One training example as an annotation tool would export it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotatedSample {
    /// Stable name used in every error about this sample.
    pub id: String,
    pub image: RgbImage,
    /// Painted in order: a later annotation overrides an earlier one where they overlap.
    pub annotations: Vec<Annotation>,
}

impl AnnotatedSample {
    /// Heap bytes held by the sample (image plus annotation payloads).
    pub fn byte_size(&self) -> usize {
        let ann: usize = self
            .annotations
            .iter()
            .map(|a| {
                a.class.capacity()
                    + match &a.shape {
                        Shape::Polygon(v) => v.capacity() * size_of::<[f32; 2]>(),
                        Shape::Rle(r) => r.capacity() * size_of::<u64>(),
                    }
            })
            .sum();
        self.image.byte_size()
            + self.id.capacity()
            + self.annotations.capacity() * size_of::<Annotation>()
            + ann
    }
}

/// The foreground classes a service segments; index 0 is always the implicit background.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassSet {
    names: Vec<String>,
}

impl ClassSet {
    /// Foreground class names, in output-channel order starting at channel 1.
    pub fn new<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self {
            names: names.into_iter().map(Into::into).collect(),
        }
    }

    /// Output channels of a model over this set: the foreground classes plus background.
    pub fn channels(&self) -> usize {
        self.names.len() + 1
    }

    /// Foreground names, without the background.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Channel of `name` (1-based: 0 is the background), if it is a known class.
    pub fn channel(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name).map(|i| i + 1)
    }
}

/// What is wrong with one annotation or image.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The image has zero width or height.
    EmptyImage {
        width: usize,
        height: usize,
    },
    /// `data.len()` is not `width * height * 3`.
    ImageSize {
        expected: usize,
        found: usize,
    },
    UnknownClass {
        class: String,
        known: Vec<String>,
    },
    /// A polygon needs at least three vertices to enclose anything.
    EmptyPolygon {
        vertices: usize,
    },
    NonFiniteVertex {
        vertex: usize,
    },
    /// RLE must be `(start, length)` pairs.
    OddRle {
        len: usize,
    },
    /// A run starting at or past the last pixel.
    RunStartOutOfRange {
        run: usize,
        start: u64,
        pixels: u64,
    },
    /// A run whose end overflows or passes the last pixel.
    RunPastEnd {
        run: usize,
        start: u64,
        length: u64,
        pixels: u64,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::EmptyImage { width, height } => {
                write!(f, "image is {width}x{height}: expected at least 1x1 pixels")
            }
            Problem::ImageSize { expected, found } => write!(
                f,
                "image data has {found} bytes: expected {expected} (width * height * 3)"
            ),
            Problem::UnknownClass { class, known } => write!(
                f,
                "unknown class {class:?}: expected one of {}",
                known.join(", ")
            ),
            Problem::EmptyPolygon { vertices } => write!(
                f,
                "empty polygon with {vertices} vertices: expected at least 3"
            ),
            Problem::NonFiniteVertex { vertex } => {
                write!(f, "polygon vertex {vertex} is not finite")
            }
            Problem::OddRle { len } => {
                write!(f, "odd RLE length {len}: expected (start, length) pairs")
            }
            Problem::RunStartOutOfRange { run, start, pixels } => write!(
                f,
                "RLE run {run} starts at pixel {start}: expected a start below {pixels} (the image's pixel count)"
            ),
            Problem::RunPastEnd {
                run,
                start,
                length,
                pixels,
            } => write!(
                f,
                "RLE run {run} (start {start}, length {length}) ends past the image: expected start + length <= {pixels}"
            ),
        }
    }
}

/// A bad sample: which one, which annotation (if any) and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct AnnotationError {
    pub sample: String,
    /// Index of the annotation, `None` for problems with the image itself.
    pub annotation: Option<usize>,
    pub problem: Problem,
}

impl fmt::Display for AnnotationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sample {:?}", self.sample)?;
        if let Some(i) = self.annotation {
            write!(f, " annotation {i}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// Check everything rasterisation relies on, allocating nothing proportional to the image.
pub fn validate(sample: &AnnotatedSample, classes: &ClassSet) -> Result<(), AnnotationError> {
    let err = |annotation, problem| AnnotationError {
        sample: sample.id.clone(),
        annotation,
        problem,
    };
    let img = &sample.image;
    img.check().map_err(|p| err(None, p))?;
    let pixels = img.pixels() as u64;
    for (i, a) in sample.annotations.iter().enumerate() {
        if classes.channel(&a.class).is_none() {
            return Err(err(
                Some(i),
                Problem::UnknownClass {
                    class: a.class.clone(),
                    known: classes.names().to_vec(),
                },
            ));
        }
        match &a.shape {
            Shape::Polygon(v) => {
                if v.len() < 3 {
                    return Err(err(Some(i), Problem::EmptyPolygon { vertices: v.len() }));
                }
                if let Some(vertex) = v
                    .iter()
                    .position(|p| !p[0].is_finite() || !p[1].is_finite())
                {
                    return Err(err(Some(i), Problem::NonFiniteVertex { vertex }));
                }
            }
            Shape::Rle(r) => {
                if r.len() % 2 != 0 {
                    return Err(err(Some(i), Problem::OddRle { len: r.len() }));
                }
                for (run, pair) in r.chunks_exact(2).enumerate() {
                    let (start, length) = (pair[0], pair[1]);
                    if start >= pixels {
                        return Err(err(
                            Some(i),
                            Problem::RunStartOutOfRange { run, start, pixels },
                        ));
                    }
                    match start.checked_add(length) {
                        Some(end) if end <= pixels => {}
                        _ => {
                            return Err(err(
                                Some(i),
                                Problem::RunPastEnd {
                                    run,
                                    start,
                                    length,
                                    pixels,
                                },
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Call `paint(index)` for every pixel whose centre lies inside the polygon (even–odd rule).
///
/// Shared by the generator and the decoder, so generated images and their masks agree exactly.
pub fn fill_polygon(
    vertices: &[[f32; 2]],
    width: usize,
    height: usize,
    mut paint: impl FnMut(usize),
) {
    let mut xs: Vec<f32> = Vec::with_capacity(vertices.len());
    let (ymin, ymax) = vertices
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p[1]), hi.max(p[1]))
        });
    let y0 = (ymin - 0.5).ceil().max(0.0) as usize;
    let y1 = ((ymax - 0.5).floor().min(height as f32 - 1.0)).max(-1.0);
    if y1 < 0.0 {
        return;
    }
    for y in y0..=(y1 as usize) {
        let cy = y as f32 + 0.5;
        xs.clear();
        for (i, a) in vertices.iter().enumerate() {
            let b = vertices[(i + 1) % vertices.len()];
            // Half-open rule: an edge counts when cy lies in [min y, max y).
            if (a[1] <= cy) != (b[1] <= cy) {
                xs.push(a[0] + (cy - a[1]) / (b[1] - a[1]) * (b[0] - a[0]));
            }
        }
        xs.sort_by(f32::total_cmp);
        for span in xs.chunks_exact(2) {
            let x0 = (span[0] - 0.5).ceil().max(0.0) as usize;
            let x1 = (span[1] - 0.5).floor().min(width as f32 - 1.0);
            if x1 < 0.0 {
                continue;
            }
            for x in x0..=(x1 as usize) {
                paint(y * width + x);
            }
        }
    }
}

/// Per-pixel class channel (0 = background) of a sample that passed [`validate`].
pub fn rasterize_labels(
    sample: &AnnotatedSample,
    classes: &ClassSet,
) -> Result<Vec<u8>, AnnotationError> {
    validate(sample, classes)?;
    let (w, h) = (sample.image.width, sample.image.height);
    let mut labels = vec![0u8; w * h];
    for a in &sample.annotations {
        // Validated above: the class is known and fits a u8 for any sane class set.
        let c = classes.channel(&a.class).unwrap_or(0) as u8;
        match &a.shape {
            Shape::Polygon(v) => fill_polygon(v, w, h, |i| labels[i] = c),
            Shape::Rle(r) => {
                for pair in r.chunks_exact(2) {
                    let (s, l) = (pair[0] as usize, pair[1] as usize);
                    labels[s..s + l].fill(c);
                }
            }
        }
    }
    Ok(labels)
}

/// Encode the pixels where `inside(i)` holds as `(start, length)` runs.
pub fn encode_rle(pixels: usize, mut inside: impl FnMut(usize) -> bool) -> Vec<u64> {
    let mut out = Vec::new();
    let mut run_start: Option<usize> = None;
    for i in 0..pixels {
        match (inside(i), run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(s)) => {
                out.extend([s as u64, (i - s) as u64]);
                run_start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = run_start {
        out.extend([s as u64, (pixels - s) as u64]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(annotations: Vec<Annotation>) -> AnnotatedSample {
        AnnotatedSample {
            id: "s4".into(),
            image: RgbImage {
                width: 4,
                height: 3,
                data: vec![0; 36],
            },
            annotations,
        }
    }

    fn classes() -> ClassSet {
        ClassSet::new(["cell", "fibre"])
    }

    #[test]
    fn rle_round_trip_and_order() {
        let rle = encode_rle(12, |i| (2..5).contains(&i) || i == 11);
        assert_eq!(rle, vec![2, 3, 11, 1]);
        let s = sample(vec![
            Annotation {
                class: "cell".into(),
                shape: Shape::Rle(rle),
            },
            Annotation {
                class: "fibre".into(),
                shape: Shape::Rle(vec![4, 1]),
            },
        ]);
        let labels = rasterize_labels(&s, &classes()).unwrap();
        assert_eq!(labels, vec![0, 0, 1, 1, 2, 0, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn polygon_covers_pixel_centres() {
        // Square from (1,0) to (3,2) covers centres x in {1.5, 2.5}, y in {0.5, 1.5}.
        let mut hit = Vec::new();
        fill_polygon(
            &[[1.0, 0.0], [3.0, 0.0], [3.0, 2.0], [1.0, 2.0]],
            4,
            3,
            |i| hit.push(i),
        );
        assert_eq!(hit, vec![1, 2, 5, 6]);
        // Entirely outside: nothing, and no panic.
        fill_polygon(
            &[[-9.0, -9.0], [-5.0, -9.0], [-5.0, -5.0]],
            4,
            3,
            |_| panic!(),
        );
    }

    #[test]
    fn bad_annotations_name_sample_and_problem() {
        let cases = [
            (Shape::Rle(vec![1, 2, 3]), "cell", "odd RLE length 3"),
            (Shape::Rle(vec![12, 1]), "cell", "starts at pixel 12"),
            (Shape::Rle(vec![10, 3]), "cell", "ends past the image"),
            (Shape::Rle(vec![5, u64::MAX]), "cell", "ends past the image"),
            (
                Shape::Polygon(vec![[0.0, 0.0], [1.0, 1.0]]),
                "cell",
                "empty polygon",
            ),
            (Shape::Rle(vec![0, 1]), "tumour", "unknown class \"tumour\""),
        ];
        for (shape, class, want) in cases {
            let s = sample(vec![Annotation {
                class: class.into(),
                shape,
            }]);
            let e = validate(&s, &classes()).unwrap_err().to_string();
            assert!(e.starts_with("sample \"s4\" annotation 0: "), "{e}");
            assert!(e.contains(want), "{e} lacks {want}");
        }
    }
}
