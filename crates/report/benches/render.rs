//! Rendering cost of the memory plot: SVG and PNG of a 500-point,
//! two-metric report (the size of a loader-loop run).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

#[path = "../tests/common/mod.rs"]
mod common;

fn render(c: &mut Criterion) {
    let report = common::leaky_report(500);
    c.bench_function("svg_500_points_2_metrics", |b| {
        b.iter(|| leakcheck_report::render_svg(black_box(&report)).unwrap())
    });
    c.bench_function("png_500_points_2_metrics", |b| {
        b.iter(|| leakcheck_report::render_png(black_box(&report)).unwrap())
    });
    c.bench_function("summary_md_json", |b| {
        b.iter(|| {
            (
                leakcheck_report::scenario_markdown(black_box(&report)),
                serde_json::to_vec_pretty(black_box(&report)).unwrap(),
            )
        })
    });
}

criterion_group!(benches, render);
criterion_main!(benches);
