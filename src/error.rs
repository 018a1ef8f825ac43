//! The CLI's one error type and the documented exit codes. The libraries return typed
//! errors and verdicts; the one table from them to exit codes is here
//! ([`CliError::exit_status`], [`ExitStatus::of_verdict`]).

use leakcheck_report::Overall;
use leakcheck_vocab::exit_code;

/// Process exit codes, as documented in `leakcheck --help` and the README; the numbers
/// are [`leakcheck_vocab::exit_code`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ExitStatus {
    Pass = exit_code::PASS,
    /// A memory budget failed, or the memory ceiling was crossed.
    BudgetFailed = exit_code::BUDGET_FAILED,
    /// Bad arguments or a bad config file.
    Usage = exit_code::USAGE,
    /// The scenario did not complete: crash, signal, non-zero exit, timeout, hang.
    Incomplete = exit_code::INCOMPLETE,
    /// The data could not decide a budget either way.
    Undecided = exit_code::UNDECIDED,
    /// The scenario's build command failed.
    BuildFailed = exit_code::BUILD_FAILED,
    /// leakcheck's own machinery failed (a pipe, a thread).
    InternalIo = exit_code::INTERNAL_IO,
}

impl ExitStatus {
    /// Severity order used when several scenarios or checks are combined: a proven leak
    /// outranks an incomplete run (the data already shows it), which outranks undecided;
    /// a gate that could not judge a scenario at all (it did not build, leakcheck itself
    /// failed, the input is wrong) outranks every verdict.
    fn severity(self) -> u8 {
        match self {
            ExitStatus::Pass => 0,
            ExitStatus::Undecided => 1,
            ExitStatus::Incomplete => 2,
            ExitStatus::BudgetFailed => 3,
            ExitStatus::BuildFailed => 4,
            ExitStatus::InternalIo => 5,
            ExitStatus::Usage => 6,
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

    /// The exit code of a judged run; a budget that cannot apply to its series at all is
    /// a usage error whatever the data said.
    pub fn of_verdict(verdict: Overall, misconfigured: bool) -> ExitStatus {
        let status = match verdict {
            // Nothing was judged: the report is the product (documented as exit code 0).
            Overall::Pass | Overall::NoBudgets => ExitStatus::Pass,
            Overall::Fail => ExitStatus::BudgetFailed,
            Overall::Incomplete => ExitStatus::Incomplete,
            Overall::Undecided => ExitStatus::Undecided,
        };
        if misconfigured {
            status.worst(ExitStatus::Usage)
        } else {
            status
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] leakcheck_settings::ConfigError),
    #[error(transparent)]
    Run(#[from] leakcheck_runner::RunError),
    #[error(transparent)]
    Records(#[from] leakcheck_records::RecordsError),
    #[error(transparent)]
    Judging(#[from] leakcheck_judge::JudgingError),
    #[error(transparent)]
    Report(#[from] leakcheck_report::ReportError),
    #[error(transparent)]
    Baseline(#[from] leakcheck_judge::BaselineError),
    #[error(transparent)]
    Manifest(#[from] leakcheck_report::ManifestError),
    #[error(transparent)]
    Find(#[from] leakcheck_runner::find::FindError),
    #[error("{0}")]
    Usage(String),
    #[error("cannot write `{}`: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl CliError {
    /// The one table from library errors to exit codes.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            // What the user gave is wrong, or cannot be used here: the command, a setting,
            // a file, an output folder that cannot be written. Each is found before the
            // program starts (or, for `report`, before anything is judged).
            CliError::Run(leakcheck_runner::RunError::Build { .. }) => ExitStatus::BuildFailed,
            CliError::Run(leakcheck_runner::RunError::Internal { .. }) => ExitStatus::InternalIo,
            CliError::Find(leakcheck_runner::find::FindError::Proc(_)) => ExitStatus::InternalIo,
            CliError::Config(_)
            | CliError::Usage(_)
            | CliError::Run(_)
            | CliError::Find(_)
            | CliError::Records(_)
            | CliError::Judging(_)
            | CliError::Io { .. }
            | CliError::Report(_)
            | CliError::Baseline(_)
            | CliError::Manifest(_) => ExitStatus::Usage,
        }
    }
}
