//! The detection target: power and false-alarm rates of the slope gate on
//! simulated series (linear leak + AR(1) noise + cache fill + allocator
//! sawtooth), 500 iterations, budget 1 KiB/iter, 99 % confidence.
//!
//! `cargo run --release -p leakcheck-analysis --example detection [seeds]`
//! (default 100 seeds per cell). Its output is quoted in the crate README.

use leakcheck_analysis::sim::{CacheFill, KIB, MIB, Sawtooth, SimSpec};
use leakcheck_analysis::{AnalysisOptions, Budget, BudgetKind, Outcome, Shape, analyze_metric};

fn main() {
    let seeds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    println!(
        "n = 500 iterations, AR(1) phi = 0.6, budget 1 KiB/iter, 99% confidence, \
         {seeds} seeds per cell; cells: fail% / pass% / undecided% (shape Leak%)\n"
    );
    println!("Full mix: + cache fill 8 MiB (99% full at 20%) + sawtooth 512 KiB / 50 iter\n");
    table(seeds, true);
    println!("\nAR(1) noise only (no fill, no sawtooth)\n");
    table(seeds, false);
}

fn table(seeds: u64, mix: bool) {
    let budget = Budget::parse("detection.slope", BudgetKind::Slope, "1 KiB/iter")
        .expect("a valid literal budget");
    let opts = AnalysisOptions::default();
    let rates = [0.0, 0.5, 0.9, 1.1, 1.5, 2.0, 4.0];
    let noises = [16.0, 64.0, 256.0, 1024.0];
    print!("| leak (KiB/iter) |");
    for s in noises {
        print!(" sd {s} KiB |");
    }
    println!();
    print!("|---|");
    for _ in noises {
        print!("---|");
    }
    println!();
    for rate in rates {
        print!("| {rate} |");
        for sd in noises {
            let spec = SimSpec {
                leak_per_iter: rate * KIB,
                noise_sd: sd * KIB,
                fill: mix.then_some(CacheFill {
                    bytes: 8.0 * MIB,
                    end_fraction: 0.2,
                }),
                sawtooth: mix.then_some(Sawtooth {
                    amplitude: 512.0 * KIB,
                    period: 50,
                }),
                ..SimSpec::acceptance()
            };
            let (mut fail, mut pass, mut und, mut leak) = (0, 0, 0, 0);
            for seed in 0..seeds {
                let series = spec.series(seed).expect("finite spec");
                let a = analyze_metric("sim", &series, &[], std::slice::from_ref(&budget), &opts)
                    .expect("500-point series analyses");
                match a.verdicts[0].outcome {
                    Outcome::Fail => fail += 1,
                    Outcome::Pass => pass += 1,
                    Outcome::Undecided => und += 1,
                }
                leak += (a.shape == Shape::Leak) as u32;
            }
            let pc = |k: u32| 100.0 * k as f64 / seeds as f64;
            print!(
                " {:.0} / {:.0} / {:.0} ({:.0}) |",
                pc(fail),
                pc(pass),
                pc(und),
                pc(leak)
            );
        }
        println!();
    }
}
