use leakcheck_analysis::sim::MIB;
use leakcheck_analysis::sim_churn::{ChurnShape, ChurnSpec};
use leakcheck_analysis::*;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a[1] == "iter" {
        return sim_iter(a[2].parse().unwrap());
    }
    if a[1] == "file" {
        return from_file(&a[2], a.get(3).map_or(0.99, |c| c.parse().unwrap()));
    }
    let shape = match a[1].as_str() {
        "sawtooth" => ChurnShape::Sawtooth,
        "bursts" => ChurnShape::Bursts,
        "gc" => ChurnShape::GcLike,
        "workers" => ChurnShape::Workers,
        _ => ChurnShape::PinnedCap,
    };
    let leak: f64 = a[2].parse().unwrap();
    let period_s: f64 = a[3].parse().unwrap();
    let periods: usize = a[4].parse().unwrap();
    let amp: f64 = a[5].parse().unwrap();
    let rate: f64 = a[6].parse().unwrap();
    let seed: u64 = a[7].parse().unwrap();
    let spec = ChurnSpec {
        shape,
        period_s,
        periods,
        amplitude: amp * MIB,
        leak_per_s: leak * MIB,
        rate_hz: rate,
        workers: a.get(8).map_or(0, |w| w.parse().unwrap()),
        ..ChurnSpec::example()
    };
    let run = spec.run(seed);
    acf_dump(&run.x, &run.y);
    println!("person: {:?}", run.envelopes());
    println!("cycles {:?}", run.cycles);
    let budget = Budget::parse("b", BudgetKind::Slope, "1 MiB/s").unwrap();
    let t = spec.duration_s();
    let plan = LookPlan {
        unit: XUnit::Second,
        min: t / 2.0,
        max: t,
        confidence: 0.99,
    };
    for look in plan.looks() {
        let n = run.x.partition_point(|&v| v <= look.length);
        let s = Series::new(run.x[..n].to_vec(), run.y[..n].to_vec()).unwrap();
        let o = AnalysisOptions {
            confidence: look.confidence,
            x_unit: XUnit::Second,
            ..Default::default()
        };
        let an = analyze_metric("m", &s, &[], std::slice::from_ref(&budget), &o).unwrap();
        let v = &an.verdicts[0];
        println!(
            "look {:.2}s n={n} conf={:.5} cut={} shape={} fall={:.2}MiB growth={:.2}MiB outcome={:?} {:?} est={:.3} lo={:.3} hi={:.3} env={:?}",
            look.length,
            look.confidence,
            an.warmup.index,
            an.shape,
            an.fall / MIB,
            an.growth / MIB,
            v.outcome,
            v.reason,
            v.estimate / MIB,
            v.lo / MIB,
            v.hi / MIB,
            v.envelope
        );
        if let Some(c) = &an.churn {
            if std::env::var_os("PTS").is_some() {
                println!(
                    "   upper x={:.3?} y={:.3?}",
                    c.upper.x,
                    c.upper.y.iter().map(|v| v / MIB).collect::<Vec<_>>()
                );
                println!(
                    "   lower x={:.3?} y={:.3?} step={:.3?}",
                    c.lower.x,
                    c.lower.y.iter().map(|v| v / MIB).collect::<Vec<_>>(),
                    c.lower.step.iter().map(|v| v / MIB).collect::<Vec<_>>()
                );
            }
            println!(
                "   churn P={:.3} acf={:.2} w={} lower {:.3} [{:.3},{:.3}] s={:.3} upper {:.3} [{:.3},{:.3}] s={:.3} mean {:.3} [{:.3},{:.3}]",
                c.period,
                c.acf,
                c.windows,
                c.lower.slope / MIB,
                c.lower.lo / MIB,
                c.lower.hi / MIB,
                c.lower.scatter / MIB,
                c.upper.slope / MIB,
                c.upper.lo / MIB,
                c.upper.hi / MIB,
                c.upper.scatter / MIB,
                c.mean.slope / MIB,
                c.mean.lo / MIB,
                c.mean.hi / MIB
            );
        }
    }
    let g = sim::gate_run_timed(&run.x, &run.y, &plan, &budget).unwrap();
    println!("gate: {:?}", g);
}
#[allow(dead_code)]
fn acf_dump(x: &[f64], y: &[f64]) {
    println!(
        "period: {:?} falls: {:?}",
        leakcheck_analysis::churn::detect_period(x, y),
        leakcheck_analysis::churn::cycles_by_falls(x, y).map(|f| (f.period, f.irregular))
    );
}
#[allow(dead_code)]
fn from_file(path: &str, conf: f64) {
    let text = std::fs::read_to_string(path).unwrap();
    let (x, y): (Vec<f64>, Vec<f64>) = text
        .lines()
        .map(|l| {
            let mut it = l.split_whitespace();
            (
                it.next().unwrap().parse::<f64>().unwrap(),
                it.next().unwrap().parse::<f64>().unwrap(),
            )
        })
        .unzip();
    let budget = Budget::parse("b", BudgetKind::Slope, "1 MiB/s").unwrap();
    let s = Series::new(x.clone(), y.clone()).unwrap();
    let o = AnalysisOptions {
        confidence: conf,
        x_unit: XUnit::Second,
        ..Default::default()
    };
    let an = analyze_metric("m", &s, &[], std::slice::from_ref(&budget), &o).unwrap();
    println!(
        "cycles: {:?}",
        leakcheck_analysis::churn::cycles(&x[an.warmup.index..], &y[an.warmup.index..]).map(|c| (
            c.period,
            c.acf,
            c.bounds.len(),
            c.irregular
        ))
    );
    println!(
        "period_acf: {:?} falls: {:?}",
        leakcheck_analysis::churn::detect_period(&x, &y),
        leakcheck_analysis::churn::cycles_by_falls(&x, &y).map(|f| (
            f.period,
            f.bounds.len(),
            f.irregular
        ))
    );
    println!(
        "cut={} shape={} fall={:.2} verdict={:?}",
        an.warmup.index,
        an.shape,
        an.fall / MIB,
        an.verdicts[0]
    );
    if let Some(c) = &an.churn {
        println!(
            "lower x={:.3?}\n y={:.2?}\n step={:.3?} s={:.3} samp={:.3} [{:.3} {:.3} {:.3}]",
            c.lower.x,
            c.lower.y.iter().map(|v| v / MIB).collect::<Vec<_>>(),
            c.lower.step.iter().map(|v| v / MIB).collect::<Vec<_>>(),
            c.lower.scatter / MIB,
            c.lower.sampling / MIB,
            c.lower.lo_sampled / MIB,
            c.lower.lo / MIB,
            c.lower.hi / MIB
        );
        println!(
            "upper y={:.2?} s={:.3} [{:.3} {:.3}]",
            c.upper.y.iter().map(|v| v / MIB).collect::<Vec<_>>(),
            c.upper.scatter / MIB,
            c.upper.lo / MIB,
            c.upper.hi / MIB
        );
    }
}
#[allow(dead_code)]
fn sim_iter(seed: u64) {
    use leakcheck_analysis::sim::{CacheFill, KIB, Sawtooth, SimSpec};
    let spec = SimSpec {
        n: 2000,
        leak_per_iter: 0.9 * KIB,
        noise_sd: 64.0 * KIB,
        fill: Some(CacheFill {
            bytes: 8.0 * MIB,
            end_fraction: 100.0 / 2000.0,
        }),
        sawtooth: Some(Sawtooth {
            amplitude: 512.0 * KIB,
            period: 50,
        }),
        ..SimSpec::acceptance()
    };
    let y = spec.values(seed);
    let budget = Budget::parse("b", BudgetKind::Slope, "1 KiB/iter").unwrap();
    let plan = LookPlan {
        unit: XUnit::Iteration,
        min: 500.0,
        max: 2000.0,
        confidence: 0.99,
    };
    for look in plan.looks() {
        let n = look.length as usize;
        let s = Series::from_y(y[..n].to_vec()).unwrap();
        let o = AnalysisOptions {
            confidence: look.confidence,
            ..Default::default()
        };
        let an = analyze_metric("m", &s, &[], std::slice::from_ref(&budget), &o).unwrap();
        let v = &an.verdicts[0];
        println!(
            "look {n} conf={:.5} cut={} shape={} steady={:?} {:?} est={:.3} lo={:.3} hi={:.3} churn={:?}",
            look.confidence,
            an.warmup.index,
            an.shape,
            an.steadiness(),
            v.outcome,
            v.estimate / KIB,
            v.lo / KIB,
            v.hi / KIB,
            an.churn.as_ref().map(|c| (
                c.period,
                c.windows,
                c.lower.scatter / KIB,
                c.lower.sampling / KIB,
                c.lower.lo / KIB,
                c.lower.lo_sampled / KIB
            ))
        );
    }
    println!("{:?}", sim::gate_run(&y, &plan, &budget).unwrap());
}
