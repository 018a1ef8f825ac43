//! The detection target: power and false-alarm rates of the slope gate on simulated
//! series (linear leak + AR(1) noise + cache fill + allocator sawtooth), judged as the
//! gate judges the loader: sequential looks between 500 and 2000 iterations
//! (`iterations = { min = 500, max = 2000 }`), budget 1 KiB/iter, 99 % confidence spent
//! across the looks.
//!
//! `cargo run --release -p leakcheck-analysis --example detection [seeds]`
//! (default 200 seeds per cell). Its output is quoted in the crate README; the last line
//! is the summary the acceptance criteria are stated in.

use leakcheck_analysis::sim::{CacheFill, KIB, MIB, Sawtooth, SimSpec, gate_run};
use leakcheck_analysis::{Budget, BudgetKind, LookPlan, Outcome, Shape, XUnit};

const MIN: usize = 500;
const MAX: usize = 2000;
const RATES: [f64; 7] = [0.0, 0.5, 0.9, 1.1, 1.5, 2.0, 4.0];
const NOISES: [f64; 4] = [16.0, 64.0, 256.0, 1024.0];

/// One cell: counts over the seeds.
#[derive(Default, Clone, Copy)]
struct Cell {
    fail: u32,
    pass: u32,
    undecided: u32,
    leak: u32,
    length: u64,
}

impl Cell {
    fn pc(&self, k: u32) -> f64 {
        100.0 * k as f64 / (self.fail + self.pass + self.undecided).max(1) as f64
    }
}

fn main() {
    let seeds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    println!(
        "looks between {MIN} and {MAX} iterations (Pocock-type alpha spending), AR(1) phi = 0.6, \
         budget 1 KiB/iter, 99% confidence, {seeds} seeds per cell; \
         cells: fail% / pass% / undecided% (shape Leak%) · mean iterations\n"
    );
    println!(
        "Full mix: + cache fill 8 MiB (99% full at iteration 100) + sawtooth 512 KiB / 50 iter\n"
    );
    let mix = table(seeds, true);
    println!("\nAR(1) noise only (no fill, no sawtooth)\n");
    let plain = table(seeds, false);
    println!("\n{}", summary(&[mix, plain]));
}

/// The summary over the cells with noise sd ≤ 64 KiB of both tables.
fn summary(tables: &[Vec<Vec<Cell>>]) -> String {
    let (mut zero_pass, mut false_fail, mut power, mut undecided) =
        (100.0f64, 0.0f64, 100.0f64, 0.0f64);
    for t in tables {
        for (r, &rate) in RATES.iter().enumerate() {
            for (c, _) in NOISES.iter().enumerate().filter(|(_, sd)| **sd <= 64.0) {
                let cell = t[r][c];
                if rate == 0.0 {
                    zero_pass = zero_pass.min(cell.pc(cell.pass));
                }
                if rate <= 1.0 {
                    false_fail = false_fail.max(cell.pc(cell.fail));
                }
                if rate == 2.0 {
                    power = power.min(cell.pc(cell.fail));
                }
                if !(0.75..=1.5).contains(&rate) {
                    undecided = undecided.max(cell.pc(cell.undecided));
                }
            }
        }
    }
    format!(
        "summary: zero_leak_pass={zero_pass:.1}% false_fail_max={false_fail:.1}% power_2x={power:.1}% undecided_max={undecided:.1}%"
    )
}

fn table(seeds: u64, mix: bool) -> Vec<Vec<Cell>> {
    print!("| leak (KiB/iter) |");
    for s in NOISES {
        print!(" sd {s} KiB |");
    }
    println!();
    print!("|---|");
    for _ in NOISES {
        print!("---|");
    }
    println!();
    let mut rows = Vec::new();
    for rate in RATES {
        // The cells of a row in parallel: each seed is independent.
        let row: Vec<Cell> = std::thread::scope(|scope| {
            let handles: Vec<_> = NOISES
                .iter()
                .map(|&sd| scope.spawn(move || cell(seeds, mix, rate, sd)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a cell's thread panicked"))
                .collect()
        });
        print!("| {rate} |");
        for c in &row {
            print!(
                " {:.0} / {:.0} / {:.0} ({:.0}) · {:.0} |",
                c.pc(c.fail),
                c.pc(c.pass),
                c.pc(c.undecided),
                c.pc(c.leak),
                c.length as f64 / seeds as f64
            );
        }
        println!();
        rows.push(row);
    }
    rows
}

fn cell(seeds: u64, mix: bool, rate: f64, sd: f64) -> Cell {
    let spec = SimSpec {
        n: MAX,
        leak_per_iter: rate * KIB,
        noise_sd: sd * KIB,
        fill: mix.then_some(CacheFill {
            bytes: 8.0 * MIB,
            // 99 % full at iteration 100, as in the 500-iteration setting.
            end_fraction: 100.0 / MAX as f64,
        }),
        sawtooth: mix.then_some(Sawtooth {
            amplitude: 512.0 * KIB,
            period: 50,
        }),
        ..SimSpec::acceptance()
    };
    let budget = Budget::parse("detection.slope", BudgetKind::Slope, "1 KiB/iter")
        .expect("a valid literal budget");
    let plan = LookPlan {
        unit: XUnit::Iteration,
        min: MIN as f64,
        max: MAX as f64,
        confidence: 0.99,
    };
    let mut cell = Cell::default();
    for seed in 0..seeds {
        let run =
            gate_run(&spec.values(seed), &plan, &budget).expect("a simulated series analyses");
        match run.outcome {
            Outcome::Fail => cell.fail += 1,
            Outcome::Pass => cell.pass += 1,
            Outcome::Undecided => cell.undecided += 1,
        }
        cell.leak += (run.shape == Shape::Leak) as u32;
        cell.length += run.length as u64;
    }
    cell
}
