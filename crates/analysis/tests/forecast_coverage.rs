//! The forecast's interval covers the true crossing time (issue 23): linear leaks of 2, 8
//! and 32 KiB/iter under the detection example's noise model, AR(1) noise of marginal sd
//! 16 KiB to 1 MiB, with φ 0, 0.6 and 0.9; 500 points judged at 99 % confidence; limits
//! the trend reaches 2, 5 and 20 series lengths after its start. The truth is the first
//! value of the same process, continued, at or above the limit. Over the runs that give
//! a forecast, the 99 % interval must cover it in at least 98.5 % (the target is 99 %;
//! 98.5 % leaves room for the scatter of about a thousand runs).
//!
//! Not covered here, and known short: a leak of a few KiB/iter under an 8 MiB cache
//! fill, whose tail after the warm-up cut steepens the slope (forecasts come early).

use leakcheck_analysis::forecast::Crossing;
use leakcheck_analysis::sim::{KIB, SimSpec, forecast_run};

const SEEDS: u64 = 30;

#[test]
fn the_forecast_interval_covers_the_true_crossing_time() {
    let (mut runs, mut covered, mut forecasts) = (0u32, 0u32, 0u32);
    let mut misses = Vec::new();
    for (k, &rate) in [2.0, 8.0, 32.0].iter().enumerate() {
        for (j, &sd) in [16.0, 64.0, 256.0, 1024.0].iter().enumerate() {
            for phi in [0.0, 0.6, 0.9] {
                let spec = SimSpec {
                    leak_per_iter: rate * KIB,
                    noise_sd: sd * KIB,
                    phi,
                    ..SimSpec::acceptance()
                };
                for seed in 0..SEEDS {
                    let horizon = [2.0, 5.0, 20.0][(seed as usize + k + j) % 3];
                    runs += 1;
                    let Some((crossing, truth)) =
                        forecast_run(&spec, seed, horizon, 0.99).expect("analyses")
                    else {
                        continue;
                    };
                    forecasts += 1;
                    let ok = match crossing {
                        Crossing::In {
                            earliest, latest, ..
                        } => earliest <= truth.max(0.0) && truth <= latest,
                        Crossing::Reached => truth <= 0.0,
                    };
                    covered += ok as u32;
                    if !ok {
                        misses.push(format!(
                            "{rate} KiB/iter, sd {sd} KiB, phi {phi}, horizon {horizon}: {crossing:?} vs {truth}"
                        ));
                    }
                }
            }
        }
    }
    let coverage = covered as f64 / forecasts as f64;
    eprintln!(
        "{covered} of {forecasts} forecasts cover the crossing ({runs} runs); misses:\n{}",
        misses.join("\n")
    );
    assert!(
        forecasts as f64 >= 0.6 * runs as f64,
        "only {forecasts} of {runs} runs forecast"
    );
    assert!(coverage >= 0.985, "coverage {coverage:.4}");
}
