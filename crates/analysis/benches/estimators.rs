//! All estimators on one metric (`analyze_metric`: warm-up, OLS+HAC on every
//! point, Theil–Sen + Mann–Kendall + Hamed–Rao on at most 1024 bins, shape,
//! verdicts) at 500, 12 000 (20 Hz × 10 min) and 100 000 points, plus the
//! exact O(n²) Theil–Sen at 1024 points (the binning ceiling).
//!
//! `cargo bench -p leakcheck-analysis -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use leakcheck_analysis::sim::{CacheFill, KIB, MIB, Sawtooth, SimSpec};
use leakcheck_analysis::{AnalysisOptions, Budget, BudgetKind, analyze_metric, ols_hac, theil_sen};

fn spec(n: usize) -> SimSpec {
    SimSpec {
        n,
        leak_per_iter: 2.0 * KIB,
        fill: Some(CacheFill {
            bytes: 8.0 * MIB,
            end_fraction: 0.2,
        }),
        sawtooth: Some(Sawtooth {
            amplitude: 512.0 * KIB,
            period: 50,
        }),
        ..SimSpec::acceptance()
    }
}

fn bench(c: &mut Criterion) {
    let budgets = [
        Budget::parse("b.slope", BudgetKind::Slope, "1 KiB/iter").unwrap(),
        Budget::parse("b.growth", BudgetKind::Growth, "64 MiB").unwrap(),
        Budget::parse("b.peak", BudgetKind::Peak, "4 GiB").unwrap(),
    ];
    let opts = AnalysisOptions::default();
    let mut g = c.benchmark_group("analyze_metric");
    for n in [500usize, 12_000, 100_000] {
        let s = spec(n).series(1).unwrap();
        g.bench_with_input(BenchmarkId::from_parameter(n), &s, |b, s| {
            b.iter(|| analyze_metric("m", black_box(s), &[], &budgets, &opts).unwrap())
        });
    }
    g.finish();
    let s = spec(1024).series(2).unwrap();
    c.bench_function("theil_sen_exact/1024", |b| {
        b.iter(|| theil_sen(black_box(s.x()), black_box(s.y()), 0.99))
    });
    let s = spec(100_000).series(3).unwrap();
    c.bench_function("ols_hac/100000", |b| {
        b.iter(|| ols_hac(black_box(s.x()), black_box(s.y()), 0.99, None))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
