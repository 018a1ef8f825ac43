//! `leakcheck`: the command-line front end. It parses arguments, calls the libraries
//! (`leakcheck-runner` to run, `leakcheck-judge` to judge, `leakcheck-report` to write),
//! prints, and maps the result to an exit code: nothing else.

mod cli;
mod commands;
mod error;
mod output;
mod progress;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::output::tell;

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
            tell!("error: {err}");
            err.exit_status()
        }
    };
    std::process::exit(status as i32);
}
