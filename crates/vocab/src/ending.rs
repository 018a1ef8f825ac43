//! How a run ended: [`Termination`] is what the runner observed (recorded in the `exit`
//! line of `samples.jsonl`); [`RunEnding`] adds what the judge knows besides (the last
//! iteration, the program's last words) and is what reports show. Each ending has one
//! wording, [`RunEnding::describe`], used by the runner's messages and every report.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::fmt;

/// How the child's run ended, as the runner saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Termination {
    /// The child exited by itself.
    Exited { code: i32 },
    /// A signal the runner did not send ended the child.
    Signaled { signal: i32 },
    /// Stopped on the overall timeout.
    TimedOut {
        #[serde(rename = "after_s", with = "secs")]
        after: Duration,
    },
    /// Stopped because no mark came within the no-progress timeout.
    Hung {
        #[serde(rename = "no_progress_for_s", with = "secs")]
        no_progress_for: Duration,
        last_iteration: Option<u64>,
    },
    /// Stopped because `rss.tree` went above the ceiling.
    CeilingExceeded { ceiling: u64, peak: u64 },
    /// Stopped because the user interrupted leakcheck (Ctrl-C, SIGTERM).
    Cancelled,
    /// Stopped by the early-stop check: the verdict was already certain.
    StoppedEarly { last_iteration: Option<u64> },
    /// Stopped at the maximum length the run was given (iterations or time), decided or
    /// not: a complete run.
    LengthReached { last_iteration: Option<u64> },
    /// The run never started (the program cannot be executed, the build failed, the
    /// output folder cannot be written); the message says why.
    NotStarted,
    /// A process leakcheck observed but did not start ended: how, only its own parent
    /// can know (its exit status is not leakcheck's to read).
    Ended,
}

impl Termination {
    /// The scenario ran to the end and exited with code 0.
    pub fn completed(&self) -> bool {
        matches!(self, Termination::Exited { code: 0 })
    }
}

/// A run's ending as reports show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEnding {
    /// `None` when the samples end without an exit record (leakcheck itself was stopped).
    pub termination: Option<Termination>,
    /// The last iteration the program marked, if it marks.
    #[serde(default)]
    pub last_iteration: Option<u64>,
    /// What explains the ending besides its kind: the program's last note when it exited
    /// non-zero, the reason of an early stop, why the run could not start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl RunEnding {
    /// True when the run produced a trustworthy series: it exited 0 or was stopped on
    /// purpose. Everything else is a run that did not complete.
    pub fn is_complete(&self) -> bool {
        matches!(
            self.termination,
            Some(
                Termination::Exited { code: 0 }
                    | Termination::StoppedEarly { .. }
                    | Termination::LengthReached { .. }
            )
        )
    }

    /// The runner killed the run at the memory ceiling.
    pub fn ceiling_crossed(&self) -> bool {
        matches!(self.termination, Some(Termination::CeilingExceeded { .. }))
    }

    /// One lowercase line: how the run ended and where.
    pub fn describe(&self) -> String {
        let at = match self.last_iteration {
            Some(i) => format!(" after iteration {i}"),
            None => " before the first iteration mark".to_string(),
        };
        // An ending leakcheck chose says where the iterations were, if the program marks
        // them; a program that does not was judged by time, and its marks are no news.
        let after = self
            .last_iteration
            .map(|i| format!(" after iteration {i}"))
            .unwrap_or_default();
        let with_message = |head: String| match self.message.as_deref() {
            Some(m) if !m.is_empty() => format!("{head}: {m}"),
            _ => head,
        };
        let crashed = match self.last_iteration {
            Some(i) => format!("crashed at iteration {i}"),
            None => "crashed before the first iteration mark".to_string(),
        };
        let Some(termination) = self.termination else {
            return format!(
                "the samples end without an exit record{at} (leakcheck was stopped before the run ended, or could not write the file)"
            );
        };
        match termination {
            Termination::Exited { code: 0 } => "completed (exit code 0)".to_string(),
            Termination::Exited { code } => with_message(format!("{crashed} (exit code {code})")),
            Termination::Signaled { signal } => {
                format!("{crashed} (signal {signal}): {}", signal_name(signal))
            }
            Termination::TimedOut { after } => {
                format!("timed out: killed after {}{at}", fmt::duration(after))
            }
            Termination::Hung {
                no_progress_for, ..
            } => format!(
                "hung: no progress for {}{at}",
                fmt::duration(no_progress_for)
            ),
            Termination::CeilingExceeded { ceiling, peak } => format!(
                "ceiling {} exceeded, peak {}: killed{at}",
                fmt::bytes(ceiling as f64),
                fmt::bytes(peak as f64)
            ),
            Termination::Cancelled => format!("interrupted by the user{after}"),
            Termination::StoppedEarly { .. } => with_message(format!("stopped early{after}")),
            Termination::LengthReached { .. } => {
                with_message(format!("stopped at its maximum length{after}"))
            }
            Termination::NotStarted => with_message("could not start".to_string()),
            Termination::Ended => {
                format!(
                    "ended{after} (observed, not started by leakcheck: its exit status is its parent's)"
                )
            }
        }
    }
}

/// `6` → `"SIGABRT"`.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => "unknown signal",
    }
}

/// Serde for a [`Duration`] as float seconds (`after_s = 2.5`).
pub mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ending(termination: Option<Termination>, last: Option<u64>) -> RunEnding {
        RunEnding {
            termination,
            last_iteration: last,
            message: None,
        }
    }

    #[test]
    fn each_ending_has_one_wording() {
        let t = |t| ending(Some(t), Some(41)).describe();
        assert_eq!(
            t(Termination::Exited { code: 0 }),
            "completed (exit code 0)"
        );
        assert_eq!(
            t(Termination::Signaled { signal: 6 }),
            "crashed at iteration 41 (signal 6): SIGABRT"
        );
        assert_eq!(
            t(Termination::TimedOut {
                after: Duration::from_secs(2)
            }),
            "timed out: killed after 2 s after iteration 41"
        );
        assert_eq!(
            t(Termination::Cancelled),
            "interrupted by the user after iteration 41"
        );
        assert_eq!(
            ending(Some(Termination::Exited { code: 3 }), None).describe(),
            "crashed before the first iteration mark (exit code 3)"
        );
        let early = RunEnding {
            message: Some("the leak is certain".into()),
            ..ending(
                Some(Termination::StoppedEarly {
                    last_iteration: Some(41),
                }),
                Some(41),
            )
        };
        assert_eq!(
            early.describe(),
            "stopped early after iteration 41: the leak is certain"
        );
        assert!(early.is_complete());
        assert!(!ending(None, Some(3)).is_complete());
    }

    #[test]
    fn terminations_keep_their_recorded_json() {
        let hung = Termination::Hung {
            no_progress_for: Duration::from_millis(2500),
            last_iteration: Some(41),
        };
        let line = serde_json::to_string(&hung).unwrap();
        assert_eq!(
            line,
            r#"{"kind":"hung","no_progress_for_s":2.5,"last_iteration":41}"#
        );
        assert_eq!(serde_json::from_str::<Termination>(&line).unwrap(), hung);
    }
}
