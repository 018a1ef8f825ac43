//! Patch reads against brute-force references computed from direct zarrs reads.

mod common;

use common::*;
use ndarray::{Array3, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use volume_loader::{ImageKind, Transform, VolumeError, trilinear};

const S0: f64 = 8.0;

#[test]
fn nearest_selection_equals_direct_indexing() {
    let dir = generate(&small_config(1));
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for (group, kind) in [
        ("/raw", ImageKind::Raw),
        ("/labels/membrane", ImageKind::Label),
    ] {
        for (level, vs) in [(0usize, S0), (1, 2.0 * S0)] {
            let reference = direct(dir.path(), &format!("{group}/s{level}"));
            let n = [8, 12, 10];
            let mut image = open_image(dir.path(), group, spec(kind, n, vs, false), 1 << 20);
            assert_eq!(image.level(), level);
            let translation = image.levels()[level].translation;
            let dims = reference.dim();
            for _ in 0..20 {
                let v0 = [
                    rng.random_range(0..=(dims.0 - n[0]) as i64),
                    rng.random_range(0..=(dims.1 - n[1]) as i64),
                    rng.random_range(0..=(dims.2 - n[2]) as i64),
                ];
                let patch = image
                    .read(centre_for(v0, n, vs, translation), &Transform::IDENTITY)
                    .expect("read inside the volume");
                assert_eq!(patch.shape(), &n);
                for ((z, y, x), &value) in patch.indexed_iter() {
                    let expected =
                        reference[[v0[0] as usize + z, v0[1] as usize + y, v0[2] as usize + x]];
                    assert_eq!(
                        value,
                        expected,
                        "{group} s{level} at {v0:?} + {:?}",
                        (z, y, x)
                    );
                }
            }
        }
    }
}

#[test]
fn nearest_selection_at_a_non_native_voxel_size_matches_per_voxel_rounding() {
    let dir = generate(&small_config(2));
    let reference = direct(dir.path(), "/raw/s0");
    // 12 nm requested: level 0 (8 nm) is the coarsest not coarser than that.
    let n = [6, 7, 9];
    let mut image = open_image(
        dir.path(),
        "/raw",
        spec(ImageKind::Raw, n, 12.0, true),
        1 << 20,
    );
    assert_eq!(image.level(), 0);
    let t = image.levels()[0].translation;
    let centre = [251.3, 260.0, 240.7];
    let patch = image.read(centre, &Transform::IDENTITY).expect("read");
    for ((z, y, x), &value) in patch.indexed_iter() {
        let idx = [z, y, x];
        let index = [0, 1, 2].map(|a| {
            let world = centre[a] + (idx[a] as f64 - (n[a] as f64 - 1.0) / 2.0) * 12.0;
            ((world - t[a]) / S0).round() as i64
        });
        assert_eq!(value, at_or_fill(&reference, index, 0.0), "at {idx:?}");
    }
}

#[test]
fn padding_outside_the_volume_gives_the_fill_value() {
    let dir = generate(&small_config(3));
    for (group, kind) in [("/raw", ImageKind::Raw), ("/labels/cell", ImageKind::Label)] {
        let reference = direct(dir.path(), &format!("{group}/s0"));
        let n = [10, 10, 10];
        let mut image = open_image(dir.path(), group, spec(kind, n, S0, true), 1 << 20);
        let t = image.levels()[0].translation;
        // Straddle the low corner and the high corner.
        for v0 in [[-4, -7, -2], [58, 60, 55], [-20, -20, -20]] {
            let patch = image
                .read(centre_for(v0, n, S0, t), &Transform::IDENTITY)
                .expect("padded read");
            let mut outside = 0;
            for ((z, y, x), &value) in patch.indexed_iter() {
                let i = [v0[0] + z as i64, v0[1] + y as i64, v0[2] + x as i64];
                let expected = at_or_fill(&reference, i, kind.fill());
                outside +=
                    usize::from(expected.is_nan() || i.iter().any(|&c| !(0..64).contains(&c)));
                assert!(
                    same(value, expected),
                    "{group} at {i:?}: {value} vs {expected}"
                );
            }
            assert!(outside > 0, "the patch at {v0:?} should leave the volume");
        }
    }
}

#[test]
fn padding_off_rejects_reads_outside_or_larger_than_the_volume() {
    let dir = generate(&small_config(4));
    let mut image = open_image(
        dir.path(),
        "/raw",
        spec(ImageKind::Raw, [10; 3], S0, false),
        1 << 20,
    );
    let t = image.levels()[0].translation;
    let err = image
        .read(centre_for([-1, 0, 0], [10; 3], S0, t), &Transform::IDENTITY)
        .expect_err("outside with padding off");
    assert!(matches!(err, VolumeError::OutsideVolume { .. }), "{err}");
    assert!(err.to_string().contains("padding is off"), "{err}");
    // A patch larger than the whole volume.
    let mut big = open_image(
        dir.path(),
        "/raw",
        spec(ImageKind::Raw, [80, 8, 8], S0, false),
        1 << 20,
    );
    let err = big
        .read([252.0, 252.0, 252.0], &Transform::IDENTITY)
        .expect_err("too large");
    assert!(err.to_string().contains("shape [64, 64, 64]"), "{err}");
    // Also with a rotated grid.
    let rotated = Transform {
        rotate_z: 0.3,
        ..Transform::IDENTITY
    };
    assert!(matches!(
        big.read([252.0, 252.0, 252.0], &rotated),
        Err(VolumeError::OutsideVolume { .. })
    ));
}

#[test]
fn trilinear_at_integer_coordinates_equals_the_voxel() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let volume = Array3::from_shape_fn((7, 9, 11), |_| rng.random_range(-100.0f32..100.0));
    for ((z, y, x), &v) in volume.indexed_iter() {
        assert_eq!(trilinear(&volume, [z as f64, y as f64, x as f64]), v);
    }
    // And between two voxels along x it is their mean.
    let mid = trilinear(&volume, [3.0, 4.0, 5.5]);
    let mean = (volume[[3, 4, 5]] + volume[[3, 4, 6]]) / 2.0;
    assert!((mid - mean).abs() < 1e-4, "{mid} vs {mean}");
}

#[test]
fn rotation_by_90_degrees_about_z_equals_an_axis_swap() {
    let dir = generate(&small_config(6));
    let n = [6, 16, 16];
    for (group, kind, tolerance) in [
        ("/raw", ImageKind::Raw, 0.01f32),
        ("/labels/membrane", ImageKind::Label, 0.0),
    ] {
        let mut image = open_image(dir.path(), group, spec(kind, n, S0, true), 1 << 20);
        let t = image.levels()[0].translation;
        for v0 in [[10, 20, 30], [0, 40, 3], [50, -4, 52]] {
            let centre = centre_for(v0, n, S0, t);
            let plain = image.read(centre, &Transform::IDENTITY).expect("plain");
            let rotated = image
                .read(
                    centre,
                    &Transform {
                        rotate_z: std::f64::consts::FRAC_PI_2,
                        ..Transform::IDENTITY
                    },
                )
                .expect("rotated");
            // Rotating the grid by +90° maps output (y, x) to plain (n-1-x, y).
            for ((z, y, x), &value) in rotated.indexed_iter() {
                let expected = plain[[z, n[2] - 1 - x, y]];
                assert!(
                    same(value, expected) || (value - expected).abs() <= tolerance,
                    "{group} {v0:?} at {:?}: {value} vs {expected}",
                    (z, y, x)
                );
            }
        }
    }
}

#[test]
fn mirrored_and_transposed_reads_equal_the_reversed_and_permuted_array() {
    let dir = generate(&small_config(7));
    let n = [5, 12, 12];
    let mut image = open_image(
        dir.path(),
        "/raw",
        spec(ImageKind::Raw, n, S0, true),
        1 << 20,
    );
    let centre = [200.0, 150.0, 310.0];
    let plain = image.read(centre, &Transform::IDENTITY).expect("plain");
    let mirrored = image
        .read(
            centre,
            &Transform {
                mirror: [true, false, true],
                ..Transform::IDENTITY
            },
        )
        .expect("mirrored");
    let mut expected = plain.clone();
    expected.invert_axis(Axis(0));
    expected.invert_axis(Axis(2));
    assert_eq!(mirrored, expected);
    let transposed = image
        .read(
            centre,
            &Transform {
                axes: [0, 2, 1],
                ..Transform::IDENTITY
            },
        )
        .expect("transposed");
    assert_eq!(transposed, plain.view().permuted_axes([0, 2, 1]));
    assert!(transposed.is_standard_layout());
}

#[test]
fn clear_after_read_drops_the_view_even_when_the_read_fails() {
    let dir = generate(&small_config(8));
    let mut image = open_image(
        dir.path(),
        "/raw",
        spec(ImageKind::Raw, [8; 3], S0, false),
        1 << 20,
    );
    image
        .read([200.0; 3], &Transform::IDENTITY)
        .expect("inside");
    assert!(!image.has_view());
    assert!(image.last_read_intermediate_bytes() > 0);
    image
        .read([-100.0; 3], &Transform::IDENTITY)
        .expect_err("outside, padding off");
    assert!(
        !image.has_view(),
        "the drop guard must clear the view on error too"
    );
    assert_eq!(image.retained_bytes(), 0);
}

#[test]
fn retain_accumulates_every_reads_intermediates() {
    let dir = generate(&small_config(9));
    let mut spec = spec(ImageKind::Raw, [8; 3], S0, false);
    spec.view_cache = volume_loader::ViewCache::Retain;
    let mut image = open_image(dir.path(), "/raw", spec, 1 << 20);
    let mut expected = 0;
    for i in 0..5 {
        let t = Transform {
            rotate_z: 0.2 * i as f64,
            ..Transform::IDENTITY
        };
        image
            .read([200.0 + i as f64, 210.0, 220.0], &t)
            .expect("read");
        expected += image.last_read_intermediate_bytes();
        assert_eq!(image.retained_bytes(), expected);
    }
    image
        .read([-100.0; 3], &Transform::IDENTITY)
        .expect_err("outside");
    assert!(image.has_view());
    assert_eq!(
        image.retained_bytes(),
        expected,
        "a failed read adds nothing"
    );
}

#[test]
fn generated_labels_are_not_trivial_and_downsampling_is_consistent() {
    let config = small_config(10);
    let dir = tempfile::tempdir().unwrap();
    let info = volume_loader::generate(dir.path(), &config).unwrap();
    for (class, fraction) in info.classes.iter().zip(&info.class_fractions) {
        assert!(*fraction > 0.005 && *fraction < 0.9, "{class}: {fraction}");
    }
    let s0 = direct(dir.path(), "/raw/s0");
    let s1 = direct(dir.path(), "/raw/s1");
    assert_eq!(s1.dim(), (32, 32, 32));
    // Level 1 voxel = rounded mean of the 2x2x2 block, recomputed here by brute force.
    for (z, y, x) in [(0, 0, 0), (5, 17, 31), (31, 31, 31)] {
        let mut sum = 0.0;
        for dz in 0..2 {
            for dy in 0..2 {
                for dx in 0..2 {
                    sum += s0[[2 * z + dz, 2 * y + dy, 2 * x + dx]];
                }
            }
        }
        assert_eq!(s1[[z, y, x]], ((sum as u32 + 4) / 8) as f32);
    }
}
