//! 200 reads of one image under dhat's testing profiler, heap sampled after reads 50 and 200.

use volume_loader::{ImageKind, Transform, ViewCache};

#[path = "mod.rs"]
mod common;

/// The chunk-cache budget of the image under test.
pub const CACHE_BYTES: u64 = 1 << 20;

#[derive(Debug)]
pub struct Run {
    pub heap_after_50: u64,
    pub heap_after_200: u64,
    /// Intermediate bytes of one read (identical for every read here, checked).
    pub intermediate_bytes_per_read: u64,
}

pub fn run(policy: ViewCache) -> Run {
    let dir = common::generate(&common::small_config(41));
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut spec = common::spec(ImageKind::Raw, [16; 3], 8.0, true);
    spec.view_cache = policy;
    let mut image = common::open_image(dir.path(), "/raw", spec, CACHE_BYTES);
    // A fixed rotation and voxel-aligned centres: every read has the same intermediates.
    let transform = Transform {
        rotate_z: 0.5,
        ..Transform::IDENTITY
    };
    let mut per_read = None;
    let mut heap_after_50 = 0;
    let mut heap_after_200 = 0;
    for i in 1..=200u64 {
        let v = [(i * 7) % 40 + 12, (i * 13) % 40 + 12, (i * 29) % 40 + 12].map(|v| v as f64 * 8.0);
        let patch = image.read(v, &transform).expect("read");
        drop(patch);
        let bytes = image.last_read_intermediate_bytes();
        assert_eq!(
            *per_read.get_or_insert(bytes),
            bytes,
            "read {i} differs in intermediate bytes"
        );
        if i == 50 {
            heap_after_50 = dhat::HeapStats::get().curr_bytes as u64;
        }
        if i == 200 {
            heap_after_200 = dhat::HeapStats::get().curr_bytes as u64;
        }
    }
    Run {
        heap_after_50,
        heap_after_200,
        intermediate_bytes_per_read: per_read.unwrap_or(0),
    }
}
