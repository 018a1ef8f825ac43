//! The process exit codes of `leakcheck`, named once: the CLI maps every verdict and
//! error to one of these (its `ExitStatus`), and the tests import them instead of
//! writing numbers (as cargo-nextest's `NextestExitCode` does).

/// Every budget passed and the run completed (also a run with no budget at all).
pub const PASS: i32 = 0;
/// A memory budget failed, or the memory ceiling was crossed.
pub const BUDGET_FAILED: i32 = 1;
/// Bad arguments, a bad config file, a program that cannot be started, an output folder
/// that cannot be written, an input file that is not what it should be.
pub const USAGE: i32 = 2;
/// The scenario did not complete: crash, signal, non-zero exit, timeout, hang.
pub const INCOMPLETE: i32 = 3;
/// The data could not decide a budget either way.
pub const UNDECIDED: i32 = 4;
/// The scenario's `build` command (e.g. `cargo build`) failed: nothing was run.
pub const BUILD_FAILED: i32 = 5;
/// leakcheck's own machinery failed (a pipe, a thread it could not create): not the
/// user's input and not the program's doing.
pub const INTERNAL_IO: i32 = 6;
