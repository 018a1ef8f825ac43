//! Terminal output that never panics: `println!` panics when stdout is a closed pipe
//! (`leakcheck list | head -1`) or a full disk (`> /dev/full`), which would turn a verdict
//! into exit code 101. Here a write error drops the line; the run, its files and its exit
//! code go on.

use std::fmt;
use std::io::{self, Write};

/// One line on stdout; dropped when stdout cannot take it.
pub fn out_line(args: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    let _ = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
}

/// One line on stderr; dropped when stderr cannot take it.
pub fn err_line(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// `println!` that never panics.
macro_rules! say {
    ($($arg:tt)*) => { $crate::output::out_line(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics.
macro_rules! tell {
    ($($arg:tt)*) => { $crate::output::err_line(format_args!($($arg)*)) };
}

pub(crate) use {say, tell};
