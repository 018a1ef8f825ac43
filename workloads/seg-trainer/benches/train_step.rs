//! One training step (forward, focal + dice loss, backward, Adam) at the default 96 x 96
//! training resolution and the default model, batch size 1.

use criterion::{Criterion, criterion_group, criterion_main};
use seg_trainer::dataset::DecodedSample;
use seg_trainer::generate;
use seg_trainer::nn::{Adam, BufferPool, Grads, LossConfig, Model, ModelConfig, focal_dice};

fn train_step(c: &mut Criterion) {
    let classes = generate::classes();
    let size = 96;
    let d = DecodedSample::decode(&generate::sample(1, 0, 512), &classes, size).unwrap();
    let cfg = ModelConfig {
        classes: classes.channels(),
        ..ModelConfig::default()
    };
    let mut model = Model::new(cfg, 1);
    let mut adam = Adam::new(&model, 0.01);
    let mut grads = Grads::zeros_like(&model);
    let mut pool = BufferPool::new();
    let loss = LossConfig::default();
    let n = cfg.classes;
    c.bench_function("train_step_96px_batch1", |b| {
        b.iter(|| {
            grads.fill_zero();
            let tape = model.forward(&d.input, size, size, &mut pool);
            let mut probs = pool.take(n, size * size);
            let mut dlogits = pool.take(n, size * size);
            let l = focal_dice(&tape.logits(), &d.target, &loss, &mut probs, &mut dlogits);
            model.backward(&tape, dlogits, &mut grads, &mut pool);
            tape.release(&mut pool);
            pool.give(probs);
            adam.step(&mut model, &grads, 1.0);
            l.total
        })
    });
}

criterion_group!(benches, train_step);
criterion_main!(benches);
