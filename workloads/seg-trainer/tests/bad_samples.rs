//! A bad 4th sample (odd RLE, out-of-range run, empty polygon, unknown class) fails
//! session 2 loudly, naming the sample and the problem, and does not spoil what
//! session 1 produced: its model, its predictions, and the service's next session.

use seg_trainer::service::Status;
use seg_trainer::{
    Annotation, CleanupPolicy, ServiceConfig, Shape, TrainError, TrainingService, generate,
};

fn bad_fourth(kind: &str) -> (seg_trainer::AnnotatedSample, &'static str) {
    let mut s = generate::sample(3, 3, 128);
    let pixels = (s.image.width * s.image.height) as u64;
    let (ann, want) = match kind {
        "odd" => (
            Annotation {
                class: "cell".into(),
                shape: Shape::Rle(vec![10, 4, 30]),
            },
            "odd RLE length 3: expected (start, length) pairs",
        ),
        "start" => (
            Annotation {
                class: "cell".into(),
                shape: Shape::Rle(vec![10, 4, pixels + 7, 2]),
            },
            "RLE run 1 starts at pixel 16391: expected a start below 16384",
        ),
        "overflow" => (
            Annotation {
                class: "cell".into(),
                shape: Shape::Rle(vec![pixels - 2, u64::MAX]),
            },
            "RLE run 0 (start 16382, length 18446744073709551615) ends past the image",
        ),
        "polygon" => (
            Annotation {
                class: "fibre".into(),
                shape: Shape::Polygon(vec![]),
            },
            "empty polygon with 0 vertices: expected at least 3",
        ),
        "class" => (
            Annotation {
                class: "tumour".into(),
                shape: Shape::Polygon(vec![[1.0, 1.0], [9.0, 1.0], [5.0, 8.0]]),
            },
            "unknown class \"tumour\": expected one of cell, fibre",
        ),
        _ => unreachable!(),
    };
    s.annotations.push(ann);
    (s, want)
}

fn check(policy: CleanupPolicy, kind: &str) {
    let dir = tempfile::tempdir().unwrap();
    let progress = dir.path().join("progress.json");
    let mut cfg = ServiceConfig::new(policy, generate::classes());
    cfg.epochs = 4;
    cfg.train_size = 32;
    cfg.serving_size = 32;
    cfg.progress_path = Some(progress.clone());
    let mut svc = TrainingService::new(cfg).unwrap();
    let mut samples: Vec<_> = (0..3).map(|i| generate::sample(3, i, 128)).collect();
    let r1 = svc.start(&samples).unwrap();
    let model1 = svc.latest_completed().unwrap().model.clone();
    let probe_image = generate::sample(3, 99, 128).image;
    let pred1 = svc.predict(&probe_image).unwrap().unwrap();

    let (bad, want) = bad_fourth(kind);
    samples.push(bad);
    let err = svc.start(&samples).unwrap_err();
    assert!(matches!(err, TrainError::Annotation(_)), "{err:?}");
    let msg = err.to_string();
    let annotation = samples[3].annotations.len() - 1;
    let prefix = format!("sample \"sample-3\" annotation {annotation}: ");
    assert!(msg.starts_with(&prefix), "{kind}: {msg}");
    assert!(msg.contains(want), "{kind}: {msg} lacks {want}");

    // Loud: the progress file says failed, with the message.
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&progress).unwrap()).unwrap();
    assert_eq!(p["status"], "failed");
    assert_eq!(p["message"].as_str(), Some(msg.as_str()));
    assert_eq!(svc.progress().status, Status::Failed);

    // Not spoiled: session 1's model and predictions are exactly what they were.
    let s1 = svc.latest_completed().unwrap();
    assert_eq!(s1.id, 1);
    assert_eq!(s1.report.as_ref(), Some(&r1));
    assert_eq!(s1.model, model1);
    assert_eq!(svc.predict(&probe_image).unwrap().unwrap(), pred1);

    // A malformed image is an error from predict, not a panic.
    let broken = seg_trainer::RgbImage {
        width: 4,
        height: 4,
        data: vec![0; 47],
    };
    let e = svc.predict(&broken).unwrap().unwrap_err().to_string();
    assert_eq!(
        e,
        "image data has 47 bytes: expected 48 (width * height * 3)"
    );

    // And the service still works: fix the sample, train again.
    samples[3] = generate::sample(3, 3, 128);
    let r3 = svc.start(&samples).unwrap();
    assert_eq!(r3.samples, 4);
    assert_eq!(svc.progress().status, Status::Completed);
}

#[test]
fn bad_fourth_sample_release() {
    for kind in ["odd", "start", "overflow", "polygon", "class"] {
        check(CleanupPolicy::Release, kind);
    }
}

#[test]
fn bad_fourth_sample_retain() {
    for kind in ["odd", "start", "overflow", "polygon", "class"] {
        check(CleanupPolicy::Retain, kind);
    }
}
