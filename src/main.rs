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
    // `leakcheck __supervise -- PROGRAM ARGS…`: the process the runner puts between itself
    // and the program (see `leakcheck_runner::supervise`); not a user command.
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if args.get(1).map(String::as_str) == Some(leakcheck_runner::SUPERVISE_ARG) {
        let argv = match args.get(2).map(String::as_str) {
            Some("--") => &args[3..],
            _ => &args[2..],
        };
        end_as(leakcheck_runner::supervise(argv));
    }
    let cli = Cli::parse();
    let mut judged = Vec::new();
    let result = commands::Outputs::check(cli.command.outputs()).and_then(|outputs| {
        let status = match cli.command {
            Command::Run(args) => commands::run::execute(*args, &mut judged),
            Command::Watch(args) => commands::watch::execute(*args, &mut judged),
            Command::Gate(args) => commands::gate::execute(args, &mut judged),
            Command::Report(args) => commands::report::execute(args, &mut judged),
            Command::List(args) => commands::list::execute(args),
            Command::Compare(args) => commands::compare::execute(args),
            Command::Merge(args) => commands::merge::execute(args, &mut judged),
        }?;
        outputs.write(&judged);
        Ok(status)
    });
    let status = match result {
        Ok(status) => status,
        Err(err) => {
            tell!("error: {err}");
            err.exit_status()
        }
    };
    std::process::exit(status as i32);
}

/// End this process as the supervised program ended: its exit code, or death by its
/// signal (without a core dump of our own).
fn end_as(mirror: leakcheck_runner::Mirror) -> ! {
    match mirror {
        leakcheck_runner::Mirror::Exit(code) => std::process::exit(code),
        leakcheck_runner::Mirror::Signal(signal) => {
            let _ = rustix::process::set_dumpable_behavior(
                rustix::process::DumpableBehavior::NotDumpable,
            );
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            std::process::exit(128 + signal)
        }
    }
}
