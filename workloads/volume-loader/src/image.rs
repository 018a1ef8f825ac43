//! One multiscale image (raw intensities or one label class) and its patch reads.
//!
//! A read maps an output grid (patch shape x requested voxel size, centred on a world
//! coordinate in nm, optionally rotated about z) to fractional voxel indices of the chosen
//! scale level, reads the bounding box through the chunk cache, pads it with the fill value
//! where it leaves the volume, and samples it: nearest voxel without rotation (and always
//! for labels), trilinear for rotated raw reads. Mirror and transpose are applied to the
//! sampled patch.
//!
//! The incident lives in [`ViewCache`]: every read goes through a lazily built [`ArrayView`]
//! that records the read's intermediates. [`ViewCache::Retain`] keeps that view (and so
//! every intermediate ever made) on the image; [`ViewCache::ClearAfterRead`] drops it after
//! each read, through a drop guard, so also when the read fails.

use std::f64::consts::TAU;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use ndarray::{Array3, Array4, Axis, Ix3};
use zarrs::array::{Array, data_type};
use zarrs::group::Group;
use zarrs::storage::ReadableStorageTraits;

use crate::cache::{CachedArray, ChunkCachePool};
use crate::error::{Result, VolumeError};
use crate::generate::ATTRIBUTE_KEY;

/// What an image holds, which decides fill value and interpolation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// Intensities: fill 0, trilinear when the grid is rotated.
    Raw,
    /// A 0/1 class mask: fill NaN (so "unknown" differs from "background"), always nearest.
    Label,
}

impl ImageKind {
    /// The value of voxels outside the volume.
    pub fn fill(self) -> f32 {
        match self {
            Self::Raw => 0.0,
            Self::Label => f32::NAN,
        }
    }
}

/// What happens to the per-image array view after a read: the incident and its fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewCache {
    /// Keep the lazily built view, and with it the intermediates of every read: the leak.
    Retain,
    /// Drop the view after every read (also a failed one); keep the chunk store and cache.
    ClearAfterRead,
}

/// Spatial transform of one read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    /// Reverse output axis `a` (z, y, x) when `mirror[a]`.
    pub mirror: [bool; 3],
    /// Output axis `a` is sampled axis `axes[a]` (a permutation of 0, 1, 2).
    pub axes: [usize; 3],
    /// Rotation of the sampling grid about z (in the y-x plane), radians.
    pub rotate_z: f64,
}

impl Transform {
    /// No mirror, no transpose, no rotation.
    pub const IDENTITY: Self = Self {
        mirror: [false; 3],
        axes: [0, 1, 2],
        rotate_z: 0.0,
    };

    fn validate(&self) -> Result<()> {
        let mut seen = [false; 3];
        for &a in &self.axes {
            if a > 2 || seen[a] {
                return Err(VolumeError::config(
                    "transpose axes",
                    format!("{:?}", self.axes),
                    "a permutation of [0, 1, 2]",
                ));
            }
            seen[a] = true;
        }
        if !self.rotate_z.is_finite() {
            return Err(VolumeError::config(
                "rotation angle",
                self.rotate_z,
                "a finite angle in radians",
            ));
        }
        Ok(())
    }

    fn is_rotated(&self) -> bool {
        self.rotate_z.rem_euclid(TAU) != 0.0
    }
}

impl Default for Transform {
    fn default() -> Self {
        Self::IDENTITY
    }
}

/// How an image is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageSpec {
    /// Output patch shape, z-y-x voxels.
    pub patch_shape: [usize; 3],
    /// Output voxel size in nm; also picks the scale level.
    pub voxel_size: [f64; 3],
    pub kind: ImageKind,
    /// Pad outside the volume with the fill value; when false such reads are an error.
    pub pad: bool,
    pub view_cache: ViewCache,
}

/// One scale level of an image.
#[derive(Debug)]
pub struct ScaleLevel {
    /// Array name inside the image group (`s0`, `s1`, ...).
    pub name: String,
    /// nm per voxel, z-y-x.
    pub voxel_size: [f64; 3],
    /// World position (nm) of the centre of voxel (0, 0, 0).
    pub translation: [f64; 3],
    pub shape: [u64; 3],
    store: Arc<CachedArray>,
}

impl ScaleLevel {
    /// The chunk store of this level.
    pub fn store(&self) -> &Arc<CachedArray> {
        &self.store
    }
}

/// Everything a read allocates on the way to its patch.
#[derive(Debug)]
struct Intermediates {
    /// Fractional voxel indices of every sample: per-axis vectors, or full z/y/x grids when
    /// the grid is rotated.
    coords: Vec<f32>,
    /// The voxels read from the chunk store (the bounding box clipped to the volume).
    selection: ndarray::ArrayD<u8>,
    /// The bounding box as f32, fill value outside the volume.
    padded: Array3<f32>,
}

impl Intermediates {
    fn bytes(&self) -> u64 {
        (self.coords.len() * size_of::<f32>()
            + self.selection.len()
            + self.padded.len() * size_of::<f32>()) as u64
    }
}

/// The lazily built view of the chosen scale level; it records every read's intermediates
/// (as the incident's cached array view did through its lazy computation graph).
#[derive(Debug)]
pub struct ArrayView {
    store: Arc<CachedArray>,
    level: usize,
    history: Vec<Intermediates>,
    history_bytes: u64,
}

impl ArrayView {
    /// Bytes of intermediates this view holds.
    pub fn retained_bytes(&self) -> u64 {
        self.history_bytes
    }
}

/// Drops the image's view on scope exit when the policy says so, whatever the read's outcome.
struct ClearGuard<'a> {
    view: &'a mut Option<ArrayView>,
    clear: bool,
}

impl Drop for ClearGuard<'_> {
    fn drop(&mut self) {
        if self.clear {
            *self.view = None;
        }
    }
}

/// A multiscale image read through a worker's chunk cache.
#[derive(Debug)]
pub struct Image {
    node: String,
    spec: ImageSpec,
    levels: Vec<ScaleLevel>,
    level: usize,
    view: Option<ArrayView>,
    last_intermediate_bytes: u64,
}

fn open_err(root: &Path, node: &str, err: impl std::fmt::Display) -> VolumeError {
    VolumeError::Open {
        root: root.to_path_buf(),
        node: node.to_string(),
        reason: err.to_string(),
    }
}

fn meta_err(node: &str, reason: impl Into<String>) -> VolumeError {
    VolumeError::Metadata {
        node: node.to_string(),
        reason: reason.into(),
    }
}

fn vec3(
    attrs: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    node: &str,
) -> Result<[f64; 3]> {
    let values = attrs.get(key).and_then(|v| v.as_array()).ok_or_else(|| {
        meta_err(
            node,
            format!("missing attribute `{key}` (expected [z, y, x] in nm)"),
        )
    })?;
    let parsed: Option<Vec<f64>> = values.iter().map(|v| v.as_f64()).collect();
    match parsed.as_deref() {
        Some(&[z, y, x]) if [z, y, x].iter().all(|v| v.is_finite()) => Ok([z, y, x]),
        _ => Err(meta_err(
            node,
            format!(
                "attribute `{key}` is {}, expected three finite numbers",
                serde_json::Value::Array(values.clone())
            ),
        )),
    }
}

impl Image {
    /// Open the image group `group` (e.g. `/raw`) of the dataset at `root`, registering each
    /// scale level's array in `pool`.
    pub fn open(
        storage: &Arc<dyn ReadableStorageTraits>,
        root: &Path,
        group: &str,
        spec: ImageSpec,
        pool: &Arc<ChunkCachePool>,
    ) -> Result<Self> {
        validate_spec(&spec)?;
        let g = Group::open(storage.clone(), group).map_err(|e| open_err(root, group, e))?;
        let scales: Vec<String> = g
            .attributes()
            .get(ATTRIBUTE_KEY)
            .and_then(|v| v.get("scales"))
            .and_then(|v| v.as_array())
            .map(|v| {
                v.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .filter(|v: &Vec<String>| !v.is_empty())
            .ok_or_else(|| {
                meta_err(
                    group,
                    format!("missing `{ATTRIBUTE_KEY}.scales` (expected a list of array names)"),
                )
            })?;
        let mut levels = Vec::with_capacity(scales.len());
        for name in scales {
            let node = format!("{group}/{name}");
            let array =
                Array::open(storage.clone(), &node).map_err(|e| open_err(root, &node, e))?;
            if *array.data_type() != data_type::uint8() {
                return Err(meta_err(
                    &node,
                    format!("data type is {}, expected uint8", array.data_type()),
                ));
            }
            let shape: [u64; 3] = array
                .shape()
                .try_into()
                .map_err(|_| meta_err(&node, format!("shape {:?} is not 3-D", array.shape())))?;
            let voxel_size = vec3(array.attributes(), "voxel_size", &node)?;
            if voxel_size.iter().any(|v| *v <= 0.0) {
                return Err(meta_err(
                    &node,
                    format!("voxel size {voxel_size:?} must be positive"),
                ));
            }
            let translation = vec3(array.attributes(), "translation", &node)?;
            let store = Arc::new(pool.register(node, Arc::new(array)));
            levels.push(ScaleLevel {
                name,
                voxel_size,
                translation,
                shape,
                store,
            });
        }
        let level = choose_level(&levels, spec.voxel_size);
        Ok(Self {
            node: group.to_string(),
            spec,
            levels,
            level,
            view: None,
            last_intermediate_bytes: 0,
        })
    }

    /// The scale levels, finest first.
    pub fn levels(&self) -> &[ScaleLevel] {
        &self.levels
    }

    /// Index of the level reads use: the coarsest not coarser than the requested voxel size.
    pub fn level(&self) -> usize {
        self.level
    }

    pub fn spec(&self) -> &ImageSpec {
        &self.spec
    }

    /// World bounding box (nm) of voxel centres at the chosen level: `(min, max)`.
    pub fn world_extent(&self) -> ([f64; 3], [f64; 3]) {
        let l = &self.levels[self.level];
        let max = [0, 1, 2].map(|a| l.translation[a] + (l.shape[a] as f64 - 1.0) * l.voxel_size[a]);
        (l.translation, max)
    }

    /// Whether the lazily built view currently exists.
    pub fn has_view(&self) -> bool {
        self.view.is_some()
    }

    /// Intermediate bytes held by the view (0 without one).
    pub fn retained_bytes(&self) -> u64 {
        self.view.as_ref().map_or(0, ArrayView::retained_bytes)
    }

    /// Intermediate bytes allocated by the last successful read.
    pub fn last_read_intermediate_bytes(&self) -> u64 {
        self.last_intermediate_bytes
    }

    /// Read the patch centred on `center` (world nm, z-y-x) with `transform`.
    pub fn read(&mut self, center: [f64; 3], transform: &Transform) -> Result<Array3<f32>> {
        transform.validate()?;
        if center.iter().any(|c| !c.is_finite()) {
            return Err(VolumeError::config(
                "patch centre",
                format!("{center:?}"),
                "finite world coordinates in nm",
            ));
        }
        let level = self.level;
        self.view.get_or_insert_with(|| ArrayView {
            store: Arc::clone(&self.levels[level].store),
            level,
            history: Vec::new(),
            history_bytes: 0,
        });
        let guard = ClearGuard {
            view: &mut self.view,
            clear: self.spec.view_cache == ViewCache::ClearAfterRead,
        };
        let view = guard.view.as_mut().expect("the view was built just above");
        let scale = &self.levels[view.level];
        let (sampled, intermediates) = sample(
            &self.node,
            scale,
            &view.store,
            &self.spec,
            center,
            transform,
        )?;
        let bytes = intermediates.bytes();
        view.history_bytes += bytes;
        view.history.push(intermediates);
        self.last_intermediate_bytes = bytes;
        drop(guard);
        Ok(apply_axes(sampled, transform))
    }
}

fn validate_spec(spec: &ImageSpec) -> Result<()> {
    if spec.patch_shape.contains(&0) {
        return Err(VolumeError::config(
            "patch shape",
            format!("{:?}", spec.patch_shape),
            "three positive voxel counts",
        ));
    }
    if spec.voxel_size.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(VolumeError::config(
            "voxel size",
            format!("{:?}", spec.voxel_size),
            "three positive sizes in nm",
        ));
    }
    Ok(())
}

/// The coarsest level whose voxel size does not exceed `requested` on any axis (level 0
/// when the request is finer than all of them): never upsample more than needed.
fn choose_level(levels: &[ScaleLevel], requested: [f64; 3]) -> usize {
    let mut best = 0;
    for (i, level) in levels.iter().enumerate() {
        if (0..3).all(|a| level.voxel_size[a] <= requested[a] * (1.0 + 1e-9)) {
            best = i;
        }
    }
    best
}

/// Trilinear interpolation of `volume` at fractional index `at`; indices are clamped into
/// the array, so at integer coordinates it returns the voxel exactly.
pub fn trilinear(volume: &Array3<f32>, at: [f64; 3]) -> f32 {
    let dim = volume.dim();
    let dims = [dim.0, dim.1, dim.2];
    let mut i0 = [0usize; 3];
    let mut i1 = [0usize; 3];
    let mut w = [0f32; 3];
    for a in 0..3 {
        let max = (dims[a] - 1) as f64;
        let c = at[a].clamp(0.0, max);
        let f = c.floor();
        i0[a] = f as usize;
        i1[a] = (i0[a] + 1).min(dims[a] - 1);
        w[a] = (c - f) as f32;
    }
    let v = |z: usize, y: usize, x: usize| volume[[z, y, x]];
    let lerp = |a: f32, b: f32, t: f32| if t == 0.0 { a } else { a + (b - a) * t };
    let c00 = lerp(v(i0[0], i0[1], i0[2]), v(i0[0], i0[1], i1[2]), w[2]);
    let c01 = lerp(v(i0[0], i1[1], i0[2]), v(i0[0], i1[1], i1[2]), w[2]);
    let c10 = lerp(v(i1[0], i0[1], i0[2]), v(i1[0], i0[1], i1[2]), w[2]);
    let c11 = lerp(v(i1[0], i1[1], i0[2]), v(i1[0], i1[1], i1[2]), w[2]);
    lerp(lerp(c00, c01, w[1]), lerp(c10, c11, w[1]), w[0])
}

fn nearest(c: f64) -> i64 {
    (c + 0.5).floor() as i64
}

/// Largest bounding box a read may allocate (2^28 voxels: 1 GiB as f32).
const MAX_BOX_VOXELS: usize = 1 << 28;

/// Error when voxels `lo..hi` are not all inside the level.
fn check_inside(node: &str, scale: &ScaleLevel, lo: [i64; 3], hi: [i64; 3]) -> Result<()> {
    if (0..3).all(|a| lo[a] >= 0 && hi[a] <= scale.shape[a] as i64) {
        return Ok(());
    }
    Err(VolumeError::OutsideVolume {
        node: format!("{node}/{}", scale.name),
        requested: format!("{:?}", (0..3).map(|a| lo[a]..hi[a]).collect::<Vec<_>>()),
        shape: scale.shape.to_vec(),
    })
}

/// Read `lo..hi` (may leave the volume) as f32, fill outside; returns (selection, padded).
fn read_padded(
    node: &str,
    scale: &ScaleLevel,
    store: &CachedArray,
    lo: [i64; 3],
    hi: [i64; 3],
    fill: f32,
    pad: bool,
) -> Result<(ndarray::ArrayD<u8>, Array3<f32>)> {
    if !pad {
        check_inside(node, scale, lo, hi)?;
    }
    let dims = [0, 1, 2].map(|a| (hi[a] - lo[a]) as usize);
    // A voxel size far coarser than every level needs a huge box: refuse, don't abort.
    let voxels = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if voxels.is_none_or(|v| v > MAX_BOX_VOXELS) {
        return Err(VolumeError::InvalidConfig {
            what: "voxel size for this dataset",
            value: format!("{node}/{} box {dims:?}", scale.name),
            expected: "a voxel size at most a few times the coarsest level's (the box must stay under 2^28 voxels)",
        });
    }
    let mut padded = Array3::from_elem(dims, fill);
    let clipped: Vec<Range<u64>> = (0..3)
        .map(|a| {
            let start = lo[a].clamp(0, scale.shape[a] as i64) as u64;
            let end = hi[a].clamp(0, scale.shape[a] as i64) as u64;
            start..end.max(start)
        })
        .collect();
    let selection = if clipped.iter().any(|r| r.is_empty()) {
        ndarray::ArrayD::<u8>::zeros(vec![0, 0, 0])
    } else {
        let selection = store.read_u8(&clipped)?;
        let offset = [0, 1, 2].map(|a| (clipped[a].start as i64 - lo[a]) as usize);
        let view = selection
            .view()
            .into_dimensionality::<Ix3>()
            .expect("a 3-D subset of a 3-D array");
        let (sz, sy, sx) = view.dim();
        padded
            .slice_mut(ndarray::s![
                offset[0]..offset[0] + sz,
                offset[1]..offset[1] + sy,
                offset[2]..offset[2] + sx
            ])
            .zip_mut_with(&view, |d, &s| *d = f32::from(s));
        selection
    };
    Ok((selection, padded))
}

/// Sample one patch centred on `center` (world nm): a separable nearest-voxel selection
/// when the transform does not rotate, full coordinate grids when it does.
fn sample(
    node: &str,
    scale: &ScaleLevel,
    store: &CachedArray,
    spec: &ImageSpec,
    center: [f64; 3],
    transform: &Transform,
) -> Result<(Array3<f32>, Intermediates)> {
    let read = PatchRead {
        node,
        scale,
        store,
        spec,
        center,
    };
    if transform.is_rotated() {
        read.rotated(transform)
    } else {
        read.axis_aligned()
    }
}

/// One patch read: the level it reads, and where the patch is centred (world nm).
struct PatchRead<'a> {
    node: &'a str,
    scale: &'a ScaleLevel,
    store: &'a CachedArray,
    spec: &'a ImageSpec,
    center: [f64; 3],
}

impl PatchRead<'_> {
    /// World offset of output voxel `i` along axis `a`, centred on the patch.
    fn offset(&self, i: usize, a: usize) -> f64 {
        (i as f64 - (self.spec.patch_shape[a] as f64 - 1.0) / 2.0) * self.spec.voxel_size[a]
    }

    /// Voxel-index coordinate along axis `a` of the point `d` nm from the centre.
    fn index_at(&self, a: usize, d: f64) -> f64 {
        (self.center[a] + d - self.scale.translation[a]) / self.scale.voxel_size[a]
    }

    fn read(
        &self,
        lo: [i64; 3],
        hi: [i64; 3],
        pad: bool,
    ) -> Result<(ndarray::ArrayD<u8>, Array3<f32>)> {
        let fill = self.spec.kind.fill();
        read_padded(self.node, self.scale, self.store, lo, hi, fill, pad)
    }

    /// Separable grid: nearest-voxel selection along each axis.
    fn axis_aligned(&self) -> Result<(Array3<f32>, Intermediates)> {
        let shape = self.spec.patch_shape;
        let idx: [Vec<i64>; 3] = [0, 1, 2].map(|a| {
            (0..shape[a])
                .map(|i| nearest(self.index_at(a, self.offset(i, a))))
                .collect()
        });
        let lo = [0, 1, 2].map(|a| *idx[a].iter().min().expect("non-empty patch"));
        let hi = [0, 1, 2].map(|a| *idx[a].iter().max().expect("non-empty patch") + 1);
        let (selection, padded) = self.read(lo, hi, self.spec.pad)?;
        let rel: [Vec<usize>; 3] =
            [0, 1, 2].map(|a| idx[a].iter().map(|&i| (i - lo[a]) as usize).collect());
        let out =
            Array3::from_shape_fn(shape, |(z, y, x)| padded[[rel[0][z], rel[1][y], rel[2][x]]]);
        let coords = idx.iter().flatten().map(|&i| i as f32).collect();
        Ok((
            out,
            Intermediates {
                coords,
                selection,
                padded,
            },
        ))
    }

    /// Rotated grid about z: full coordinate grids in voxel-index space, then nearest or
    /// trilinear sampling.
    fn rotated(&self, transform: &Transform) -> Result<(Array3<f32>, Intermediates)> {
        let shape = self.spec.patch_shape;
        let (sin, cos) = transform.rotate_z.sin_cos();
        let [nz, ny, nx] = shape;
        let mut grid = Array4::<f32>::zeros((3, nz, ny, nx));
        let mut min = [f64::INFINITY; 3];
        let mut max = [f64::NEG_INFINITY; 3];
        for z in 0..nz {
            let cz = self.index_at(0, self.offset(z, 0));
            for y in 0..ny {
                let dy0 = self.offset(y, 1);
                for x in 0..nx {
                    let dx0 = self.offset(x, 2);
                    let c = [
                        cz,
                        self.index_at(1, cos * dy0 - sin * dx0),
                        self.index_at(2, sin * dy0 + cos * dx0),
                    ];
                    for a in 0..3 {
                        grid[[a, z, y, x]] = c[a] as f32;
                        min[a] = min[a].min(c[a]);
                        max[a] = max[a].max(c[a]);
                    }
                }
            }
        }
        // Nearest voxels must lie inside the volume when padding is off; trilinear also needs
        // the upper neighbour, which is padded with the fill value at the very border.
        let trilinear_read = self.spec.kind == ImageKind::Raw;
        let near_lo = min.map(nearest);
        let near_hi = max.map(|m| nearest(m) + 1);
        if !self.spec.pad {
            check_inside(self.node, self.scale, near_lo, near_hi)?;
        }
        let (lo, hi) = if trilinear_read {
            (
                min.map(|m| m.floor() as i64),
                max.map(|m| m.floor() as i64 + 2),
            )
        } else {
            (near_lo, near_hi)
        };
        let (selection, padded) = self.read(lo, hi, true)?;
        let out = Array3::from_shape_fn(shape, |(z, y, x)| {
            let c = [0, 1, 2].map(|a| f64::from(grid[[a, z, y, x]]) - lo[a] as f64);
            if trilinear_read {
                trilinear(&padded, c)
            } else {
                padded[[
                    nearest(c[0]) as usize,
                    nearest(c[1]) as usize,
                    nearest(c[2]) as usize,
                ]]
            }
        });
        let coords = grid.into_raw_vec_and_offset().0;
        Ok((
            out,
            Intermediates {
                coords,
                selection,
                padded,
            },
        ))
    }
}

/// Transpose then mirror the sampled patch, returned in standard (C) layout.
fn apply_axes(sampled: Array3<f32>, transform: &Transform) -> Array3<f32> {
    if transform.axes == [0, 1, 2] && transform.mirror == [false; 3] {
        return sampled;
    }
    let mut out = sampled.permuted_axes(transform.axes);
    for (a, &m) in transform.mirror.iter().enumerate() {
        if m {
            out.invert_axis(Axis(a));
        }
    }
    out.as_standard_layout().into_owned()
}
