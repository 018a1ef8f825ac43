//! The CLI's one error type and the documented exit codes.

use std::path::PathBuf;

/// Process exit codes, as documented in `leakcheck --help` and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    Pass = 0,
    /// A memory budget failed, or the memory ceiling was crossed.
    BudgetFailed = 1,
    /// Bad arguments or a bad config file.
    Usage = 2,
    /// The scenario did not complete: crash, signal, non-zero exit, timeout, hang.
    Incomplete = 3,
    /// The data could not decide a budget either way.
    Undecided = 4,
}

impl ExitStatus {
    /// Severity order used when several scenarios or checks are combined: a proven leak
    /// outranks an incomplete run (the data already shows it), which outranks undecided.
    pub fn severity(self) -> u8 {
        match self {
            ExitStatus::Pass => 0,
            ExitStatus::Undecided => 1,
            ExitStatus::Incomplete => 2,
            ExitStatus::BudgetFailed => 3,
            ExitStatus::Usage => 4,
        }
    }

    /// The more severe of two statuses.
    pub fn worst(self, other: ExitStatus) -> ExitStatus {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] leakcheck_runner::ConfigError),
    #[error(transparent)]
    Run(#[from] leakcheck_runner::RunError),
    #[error(transparent)]
    Report(#[from] leakcheck_report::ReportError),
    #[error("{0}")]
    Usage(String),
    #[error("cannot write `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl CliError {
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            CliError::Config(_) | CliError::Usage(_) => ExitStatus::Usage,
            CliError::Run(e) if e.exit_code() == 2 => ExitStatus::Usage,
            CliError::Run(_) | CliError::Report(_) | CliError::Io { .. } => ExitStatus::Incomplete,
        }
    }
}
