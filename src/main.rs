//! `leakcheck`: the command-line front end. It owns clap, exit codes and terminal output;
//! the work itself lives in `leakcheck-runner`, `leakcheck-analysis` and `leakcheck-report`.

mod cli;
mod commands;
mod error;
mod evaluate;
mod progress;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => commands::run::execute(args),
        Command::Gate(args) => commands::gate::execute(args),
        Command::Report(args) => commands::report::execute(args),
        Command::List(args) => commands::list::execute(args),
    };
    let status = match result {
        Ok(status) => status,
        Err(err) => {
            eprintln!("error: {err}");
            err.exit_status()
        }
    };
    std::process::exit(status as i32);
}
