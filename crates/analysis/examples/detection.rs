//! The detection target: power and false-alarm rates of the slope gate on simulated
//! series (linear leak + AR(1) noise + cache fill + allocator sawtooth), judged as the
//! gate judges the loader: sequential looks between 500 and 2000 iterations
//! (`iterations = { min = 500, max = 2000 }`), budget 1 KiB/iter, 99 % confidence spent
//! across the looks.
//!
//! Then the churn family ([`leakcheck_analysis::sim_churn`]): sawtooth, square bursts,
//! GC-like, respawned workers and a pinned cap, with and without a leak of 2 MiB/s under
//! them, judged by time (per-second series, sequential looks between a quarter of the run
//! and its end) against 1 MiB/s.
//!
//! `cargo run --release -p leakcheck-analysis --example detection [seeds] [churn_seeds]`
//! (default 200 seeds per cell, 20 per churn cell). Its output is quoted in the crate
//! README; the `summary:` line and the last line, `churn:`, are what the acceptance
//! criteria are stated in.

use std::sync::atomic::{AtomicUsize, Ordering};

use leakcheck_analysis::sim::{CacheFill, KIB, MIB, Sawtooth, SimSpec, gate_run, gate_run_timed};
use leakcheck_analysis::sim_churn::{ChurnShape, ChurnSpec, DECIDE_SCATTER, MIN_PERIODS};
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
    let churn_seeds: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    churn(churn_seeds);
    let watch_seeds: u64 = std::env::args()
        .nth(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    watch(watch_seeds);
}

/// `n` points of a leak of `rate` KiB per point under AR(1) noise of `sd` KiB, with the
/// acceptance setting's cache fill (8 MiB, 99 % full at point 100) and allocator sawtooth
/// (512 KiB every 50 points) when asked.
fn mixed(n: usize, rate: f64, sd: f64, fill: bool, sawtooth: bool) -> SimSpec {
    SimSpec {
        n,
        leak_per_iter: rate * KIB,
        noise_sd: sd * KIB,
        fill: fill.then_some(CacheFill {
            bytes: 8.0 * MIB,
            end_fraction: 100.0 / n as f64,
        }),
        sawtooth: sawtooth.then_some(Sawtooth {
            amplitude: 512.0 * KIB,
            period: 50,
        }),
        ..SimSpec::acceptance()
    }
}

/// A watch without an end, judged at every look of an open-ended plan: seconds of data.
const WATCH_SECONDS: usize = 4 * 3600;
/// The watch's default minimum before a pass (`DEFAULT_MIN_WATCH`).
const WATCH_MIN_S: f64 = 60.0;

/// Watches of four hours (one sample a second, AR(1) noise, with and without an
/// allocator's sawtooth and a start-up cache fill), without a leak and with one of twice
/// the budget, judged look by look on an open-ended plan against 1 KiB/s until a look
/// settles them or the data ends: how often one fails.
fn watch(seeds: u64) {
    let budget =
        Budget::parse("watch.slope", BudgetKind::Slope, "1 KiB/s").expect("a valid literal budget");
    let plan = LookPlan::open_ended(XUnit::Second, WATCH_MIN_S, 0.99);
    let looks = (1..)
        .take_while(|&k| {
            plan.interim_look(k)
                .is_some_and(|l| l.length < WATCH_SECONDS as f64)
        })
        .count();
    println!(
        "\nwatch: open-ended looks (look k spends alpha/(k(k+1))), {looks} looks in {} h of 1 Hz \
         data, budget 1 KiB/s, {seeds} seeds per cell; fail% / pass% / undecided%",
        WATCH_SECONDS / 3600
    );
    // Noise alone, then an allocator's sawtooth, then a start-up cache fill (99 % full
    // at 100 s) as a watch started with its job sees; and the same with a leak of twice
    // the budget, which a watch must fail.
    let (mut worst, mut power) = (0.0f64, 100.0f64);
    for leak in [0.0, 2.0] {
        for (name, saw, fill) in [
            ("", false, false),
            (" + sawtooth", true, false),
            (" + sawtooth + start-up fill", true, true),
        ] {
            for sd in NOISES {
                let spec = mixed(WATCH_SECONDS, leak, sd, fill, saw);
                let x: Vec<f64> = (0..WATCH_SECONDS).map(|i| i as f64).collect();
                let (mut cell, mut length) = (Cell::default(), 0.0);
                for seed in 0..seeds {
                    let y = spec.values(seed);
                    let run = gate_run_timed(&x, &y, &plan, &budget).expect("analyses");
                    length += run.length_s / seeds as f64;
                    match run.outcome {
                        Outcome::Fail => cell.fail += 1,
                        Outcome::Pass => cell.pass += 1,
                        Outcome::Undecided => cell.undecided += 1,
                    }
                }
                match leak > 0.0 {
                    false => worst = worst.max(cell.pc(cell.fail)),
                    true => power = power.min(cell.pc(cell.fail)),
                }
                println!(
                    "  leak {leak} KiB/s, {:>4} KiB sd{name}: {:5.1} / {:5.1} / {:5.1} · decided after {:.0} s",
                    sd,
                    cell.pc(cell.fail),
                    cell.pc(cell.pass),
                    cell.pc(cell.undecided),
                    length
                );
            }
        }
    }
    println!(
        "watch: zero-leak false-fail rate at most {worst:.1}%, power at 2x the budget at least {power:.1}%, over {looks} looks"
    );
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
    // 99 % full at iteration 100, as in the 500-iteration setting.
    let spec = mixed(MAX, rate, sd, mix, mix);
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

// The churn family: periodic memory of many shapes, periods and sampling rates, judged by
// time.

const CHURN_PERIODS_S: [f64; 5] = [0.05, 0.12, 0.33, 1.0, 3.0];
/// Periods per run: the run lasts this many periods.
const CHURN_RUN_PERIODS: [usize; 4] = [4, 8, 20, 60];
/// Amplitude, as a multiple of the leak per period (2 MiB/s × period), or for the
/// zero-leak runs of the budget per period (1 MiB/s × period).
const CHURN_AMPLITUDES: [f64; 3] = [1.0, 10.0, 100.0];
/// The runner's outside rate (`rss_interval = "5ms"`): a single process's RSS (and its
/// tree's, which is that process) at 200 Hz. A process tree is walked every
/// `rss_interval` × its process count, so respawned workers are sampled at 100 Hz (a
/// parent and one worker) or 50 Hz (a parent and three) while they live, and at 200 Hz
/// while only the parent does. Each shape's variants: worker processes per epoch.
fn churn_workers(shape: ChurnShape) -> &'static [u32] {
    match shape {
        ChurnShape::Workers => &[1, 3],
        _ => &[0],
    }
}
const CHURN_RATE_HZ: f64 = 200.0;
/// The variants, for the per-variant lines.
const CHURN_WORKERS: [u32; 3] = [0, 1, 3];
/// Leak under the churn, MiB/s: none, and 2× the budget.
const CHURN_LEAKS: [f64; 2] = [0.0, 2.0];
const CHURN_BUDGET: f64 = MIB;
const CHURN_NOISE_SD: f64 = 64.0 * KIB;

/// One churn cell: its spec and counts over the seeds.
#[derive(Clone, Copy)]
struct ChurnCell {
    spec: ChurnSpec,
    fail: u32,
    pass: u32,
    undecided: u32,
    /// Seeds whose sampled envelopes a person decides by
    /// ([`leakcheck_analysis::sim_churn::Envelopes::person_decides`]).
    decides: u32,
    /// Outcomes over those seeds alone: fail, pass, undecided.
    decided_by_eye: [u32; 3],
    /// Sum over the seeds of the periods judged by the look that decided.
    periods_judged: f64,
}

impl ChurnCell {
    fn seeds(&self) -> u32 {
        self.fail + self.pass + self.undecided
    }

    /// A person decides the cell: a majority of its seeds.
    fn decidable(&self) -> bool {
        2 * self.decides > self.seeds()
    }

    fn leaky(&self) -> bool {
        self.spec.leak_per_s > 0.0
    }
}

/// Counts pooled over cells.
#[derive(Default, Clone, Copy)]
struct Pool {
    cells: u32,
    fail: u32,
    pass: u32,
    undecided: u32,
    periods_judged: f64,
}

impl Pool {
    fn add(&mut self, c: &ChurnCell) {
        self.cells += 1;
        self.fail += c.fail;
        self.pass += c.pass;
        self.undecided += c.undecided;
        self.periods_judged += c.periods_judged;
    }

    fn text(&self) -> String {
        let n = (self.fail + self.pass + self.undecided).max(1) as f64;
        if self.cells == 0 {
            return "–".to_string();
        }
        format!(
            "{:.0} / {:.0} / {:.0} · {:.1} ({})",
            100.0 * self.fail as f64 / n,
            100.0 * self.pass as f64 / n,
            100.0 * self.undecided as f64 / n,
            self.periods_judged / n,
            self.cells
        )
    }
}

fn churn(seeds: u64) {
    let mut specs = Vec::new();
    for shape in ChurnShape::ALL {
        for leak in CHURN_LEAKS {
            // The amplitude's unit: the leak per period, or the budget's without a leak.
            let per_s = if leak > 0.0 { leak * MIB } else { CHURN_BUDGET };
            for period_s in CHURN_PERIODS_S {
                for periods in CHURN_RUN_PERIODS {
                    for k in CHURN_AMPLITUDES {
                        for &workers in churn_workers(shape) {
                            specs.push(ChurnSpec {
                                shape,
                                period_s,
                                periods,
                                amplitude: k * per_s * period_s,
                                leak_per_s: leak * MIB,
                                rate_hz: CHURN_RATE_HZ,
                                workers,
                                noise_sd: CHURN_NOISE_SD,
                                base: 256.0 * MIB,
                            });
                        }
                    }
                }
            }
        }
    }
    println!(
        "\nChurn family: judged by time (per-second series), budget 1 MiB/s, looks between a quarter \
         of the run and its end (Pocock-type alpha spending), 99% confidence, {seeds} seeds per cell; \
         {} cells: 5 shapes × leak 0 or 2 MiB/s × period {CHURN_PERIODS_S:?} s × {CHURN_RUN_PERIODS:?} \
         periods per run × amplitude {CHURN_AMPLITUDES:?} × the leak per period (zero leak: × the budget \
         per period) × sampled at the runner's rates (200 Hz; respawned workers, 1 or 3 beside the parent, at 100 or 50 Hz while they live) from a random phase; white noise sd 64 KiB, \
         whole 4 KiB pages, live heap 256 MiB.\n\
         A cell is decidable (a person decides it) when in most of its seeds at least {MIN_PERIODS} whole \
         periods hold samples, and the minima and the maxima of the samples in each period scatter around \
         their own least-squares lines by a residual sd under {DECIDE_SCATTER} × budget × duration; the \
         churn line's pass, power and undecided rates are over those seeds of the decidable cells, its \
         false-fail rate over every seed of every cell.\n\
         Cells: fail% / pass% / undecided% · mean periods judged (cells)\n",
        specs.len(),
    );
    let cells = churn_cells(&specs, seeds);
    // Every cell on stderr, for a look at where the rates come from.
    if std::env::var_os("CHURN_CELLS").is_some() {
        for c in &cells {
            let s = c.spec;
            eprintln!(
                "{} leak={} period={} periods={} amplitude={:.1}MiB workers={} fail={} pass={} undecided={} decides={} eye_fail={} eye_pass={} eye_undecided={} periods_judged={:.1}",
                s.shape.name().replace(' ', "_"),
                s.leak_per_s / MIB,
                s.period_s,
                s.periods,
                s.amplitude / MIB,
                s.workers,
                c.fail,
                c.pass,
                c.undecided,
                c.decides,
                c.decided_by_eye[0],
                c.decided_by_eye[1],
                c.decided_by_eye[2],
                c.periods_judged / c.seeds().max(1) as f64
            );
        }
    }

    let row_label = |shape: ChurnShape, leak: f64| format!("| {} | {leak} |", shape.name());
    let rows = || {
        ChurnShape::ALL
            .iter()
            .flat_map(|&s| CHURN_LEAKS.iter().map(move |&l| (s, l)))
    };
    let of = |shape: ChurnShape, leak: f64| {
        cells
            .iter()
            .filter(move |c| c.spec.shape == shape && c.spec.leak_per_s == leak * MIB)
    };

    println!("Per shape\n");
    println!("| shape | leak (MiB/s) | all cells | decidable cells | other cells |");
    println!("|---|---|---|---|---|");
    for (shape, leak) in rows() {
        let (mut all, mut yes, mut no) = (Pool::default(), Pool::default(), Pool::default());
        for c in of(shape, leak) {
            all.add(c);
            if c.decidable() { yes.add(c) } else { no.add(c) }
        }
        println!(
            "{} {} | {} | {} |",
            row_label(shape, leak),
            all.text(),
            yes.text(),
            no.text()
        );
    }

    println!("\nPer shape and period (all cells)\n");
    print!("| shape | leak (MiB/s) |");
    CHURN_PERIODS_S.iter().for_each(|p| print!(" {p} s |"));
    println!("\n|---|---|{}", "---|".repeat(CHURN_PERIODS_S.len()));
    for (shape, leak) in rows() {
        print!("{}", row_label(shape, leak));
        for &p in &CHURN_PERIODS_S {
            let mut pool = Pool::default();
            of(shape, leak)
                .filter(|c| c.spec.period_s == p)
                .for_each(|c| pool.add(c));
            print!(" {} |", pool.text());
        }
        println!();
    }

    println!("\nPer shape and periods per run (all cells)\n");
    print!("| shape | leak (MiB/s) |");
    CHURN_RUN_PERIODS
        .iter()
        .for_each(|n| print!(" {n} periods |"));
    println!("\n|---|---|{}", "---|".repeat(CHURN_RUN_PERIODS.len()));
    for (shape, leak) in rows() {
        print!("{}", row_label(shape, leak));
        for &n in &CHURN_RUN_PERIODS {
            let mut pool = Pool::default();
            of(shape, leak)
                .filter(|c| c.spec.periods == n)
                .for_each(|c| pool.add(c));
            print!(" {} |", pool.text());
        }
        println!();
    }

    let (mut zero, mut leaky) = (Pool::default(), Pool::default());
    for c in cells.iter().filter(|c| c.decidable()) {
        if c.leaky() { leaky.add(c) } else { zero.add(c) }
    }
    println!(
        "\npooled over the decidable cells (fail% / pass% / undecided% · mean periods judged (cells)): \
         zero leak {}, leak 2x {}",
        zero.text(),
        leaky.text()
    );
    for workers in CHURN_WORKERS {
        let at: Vec<ChurnCell> = cells
            .iter()
            .copied()
            .filter(|c| c.spec.workers == workers)
            .collect();
        let what = match workers {
            0 => "one process".to_string(),
            k => format!("a parent and {k} worker{}", if k > 1 { "s" } else { "" }),
        };
        println!("{what}: {}", churn_figures(&at));
    }
    println!("churn: {}", churn_figures(&cells));
}

/// The churn line's figures: over the decidable cells, each over its seeds a person
/// decides by eye, the worst zero-leak pass rate, the worst 2× fail rate and the worst
/// undecided rate; the worst zero-leak fail rate over every cell and every seed; how many
/// cells are decidable, and the pooled undecided rate of the others.
fn churn_figures(cells: &[ChurnCell]) -> String {
    let pc = |k: u32, c: &ChurnCell| 100.0 * k as f64 / c.seeds().max(1) as f64;
    // Over a decidable cell's seeds that a person decides by eye.
    let by_eye =
        |k: usize, c: &ChurnCell| 100.0 * c.decided_by_eye[k] as f64 / c.decides.max(1) as f64;
    let decidable = || cells.iter().filter(|c| c.decidable());
    let worst = |it: &mut dyn Iterator<Item = f64>, lowest: bool| {
        it.reduce(if lowest { f64::min } else { f64::max })
            .map_or("n/a".to_string(), |v| format!("{v:.1}%"))
    };
    let zero_pass = worst(
        &mut decidable().filter(|c| !c.leaky()).map(|c| by_eye(1, c)),
        true,
    );
    let false_fail = worst(
        &mut cells.iter().filter(|c| !c.leaky()).map(|c| pc(c.fail, c)),
        false,
    );
    let power = worst(
        &mut decidable().filter(|c| c.leaky()).map(|c| by_eye(0, c)),
        true,
    );
    let undecided = worst(&mut decidable().map(|c| by_eye(2, c)), false);
    let mut others = Pool::default();
    cells
        .iter()
        .filter(|c| !c.decidable())
        .for_each(|c| others.add(c));
    let others_undecided = 100.0 * others.undecided as f64
        / (others.fail + others.pass + others.undecided).max(1) as f64;
    format!(
        "zero_leak_pass={zero_pass} false_fail_max={false_fail} power_2x={power} undecided_max={undecided} \
         cells={}/{} others_undecided={others_undecided:.1}%",
        decidable().count(),
        cells.len()
    )
}

/// Every cell, judged on as many threads as the machine has (cells are independent; the
/// results do not depend on the threads).
fn churn_cells(specs: &[ChurnSpec], seeds: u64) -> Vec<ChurnCell> {
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out: Vec<(usize, ChurnCell)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(spec) = specs.get(i) else { break done };
                        done.push((i, churn_cell(*spec, seeds)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a churn thread panicked"))
            .collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, c)| c).collect()
}

fn churn_cell(spec: ChurnSpec, seeds: u64) -> ChurnCell {
    let budget = Budget::parse("detection.churn.slope", BudgetKind::Slope, "1 MiB/s")
        .expect("a valid literal budget");
    let duration = spec.duration_s();
    let plan = LookPlan {
        unit: XUnit::Second,
        min: duration / 2.0,
        max: duration,
        confidence: 0.99,
    };
    let mut cell = ChurnCell {
        spec,
        fail: 0,
        pass: 0,
        undecided: 0,
        decides: 0,
        decided_by_eye: [0; 3],
        periods_judged: 0.0,
    };
    for seed in 0..seeds {
        let run = spec.run(seed);
        let judged =
            gate_run_timed(&run.x, &run.y, &plan, &budget).expect("a simulated series analyses");
        match judged.outcome {
            Outcome::Fail => cell.fail += 1,
            Outcome::Pass => cell.pass += 1,
            Outcome::Undecided => cell.undecided += 1,
        }
        cell.periods_judged += judged.length_s / spec.period_s;
        let decides = run
            .envelopes()
            .is_some_and(|e| e.person_decides(CHURN_BUDGET, duration));
        cell.decides += decides as u32;
        if decides {
            cell.decided_by_eye[match judged.outcome {
                Outcome::Fail => 0,
                Outcome::Pass => 1,
                Outcome::Undecided => 2,
            }] += 1;
        }
    }
    cell
}
