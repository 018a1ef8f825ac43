//! Write a dataset: `cargo run --release -p volume-loader --example generate -- DIR [EDGE] [SEED]`.

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: generate DIR [EDGE] [SEED]");
        std::process::exit(2);
    };
    let edge = args.next().map_or(Ok(256), |s| s.parse::<usize>());
    let seed = args.next().map_or(Ok(0), |s| s.parse::<u64>());
    let (Ok(edge), Ok(seed)) = (edge, seed) else {
        eprintln!("EDGE and SEED must be non-negative integers");
        std::process::exit(2);
    };
    let config = volume_loader::GenerateConfig {
        shape: [edge; 3],
        seed,
        ..Default::default()
    };
    let started = Instant::now();
    match volume_loader::generate(std::path::Path::new(&dir), &config) {
        Ok(info) => println!("{info:?} in {:.2} s", started.elapsed().as_secs_f64()),
        Err(err) => {
            eprintln!("generate: error: {err}");
            std::process::exit(1);
        }
    }
}
