//! `leakcheck`: the command-line front end (clap, exit codes, terminal output).

use clap::Parser;

/// Memory-profiling and leak-regression gate for training workloads.
#[derive(Debug, Parser)]
#[command(name = "leakcheck", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
