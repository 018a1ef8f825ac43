//! Training really learns: on generated samples the epoch loss falls and the
//! validation dice clears a stated threshold.

use seg_trainer::{CleanupPolicy, ServiceConfig, TrainingService, generate};

/// Mean foreground hard dice required on the validation split after `EPOCHS` epochs.
const DICE_THRESHOLD: f64 = 0.90;
const EPOCHS: usize = 15;

#[test]
fn loss_falls_and_validation_dice_clears_threshold() {
    // 10 samples -> 8 train / 2 validation, 256 px images trained at 96 px.
    let samples: Vec<_> = (0..10).map(|i| generate::sample(11, i, 256)).collect();
    let mut cfg = ServiceConfig::new(CleanupPolicy::Release, generate::classes());
    cfg.epochs = EPOCHS;
    cfg.serving_size = 64;
    cfg.seed = 11;
    let mut svc = TrainingService::new(cfg).unwrap();
    let r = svc.start(&samples).unwrap();
    println!("epoch losses {:?}", r.epoch_losses);
    println!("val dice {:?} per class {:?}", r.val_dice, r.per_class_dice);
    assert_eq!((r.train_samples, r.val_samples), (8, 2));
    assert_eq!(r.steps, (8 * EPOCHS) as u64);
    let first = r.epoch_losses[0];
    let last = *r.epoch_losses.last().unwrap();
    assert!(
        last < 0.5 * first,
        "loss {first} -> {last}: expected it to at least halve"
    );
    // The last three epochs are all below the first: not one lucky epoch.
    assert!(
        r.epoch_losses[EPOCHS - 3..]
            .iter()
            .all(|&l| l < 0.5 * first)
    );
    let dice = r.val_dice.expect("validation samples exist");
    assert!(
        dice >= DICE_THRESHOLD,
        "val dice {dice:.3} below {DICE_THRESHOLD}"
    );
    // Both classes are segmented, not just one.
    for (c, d) in r.per_class_dice.iter().enumerate() {
        assert!(d.is_some_and(|d| d >= 0.6), "class {c} dice {d:?}");
    }
    // An untrained model with the same architecture does much worse on the same split.
    let mut cfg0 = svc.config().clone();
    cfg0.epochs = 1;
    cfg0.learning_rate = 0.0;
    let r0 = TrainingService::new(cfg0).unwrap().start(&samples).unwrap();
    println!("untrained val dice {:?}", r0.val_dice);
    assert!(r0.val_dice.unwrap_or(0.0) < dice - 0.2);
}
