//! `junit.xml`: one testsuite `leakcheck`; per scenario one `run` testcase
//! (an `error` when the run did not complete, a `failure` when the memory
//! ceiling killed it) and one testcase per budget check (a `failure` with
//! the human line when it failed, `skipped` with the line when undecided,
//! since JUnit has no "not yet known" state).
//!
//! Test-case names are stable from run to run (`rss.tree slope <= 64 KiB/iter`), so CI
//! history tools see one test, not a new one per estimate; the measured line goes in
//! each case's `<system-out>`.

use std::fmt::Write as _;

use crate::model::{GateEntry, Outcome};
use leakcheck_vocab::fmt;

use crate::{Export, ReportError};

/// Escapes text for XML content and attribute values; characters XML 1.0
/// forbids even escaped become U+FFFD.
pub(crate) fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

enum CaseResult {
    Pass,
    Failure { kind: &'static str, message: String },
    Error { message: String },
    Skipped { message: String },
}

struct Case {
    class: String,
    name: String,
    time: f64,
    result: CaseResult,
    /// What was measured, for `<system-out>`.
    out: Option<String>,
}

fn cases(entries: &[GateEntry]) -> Vec<Case> {
    let mut out = Vec::new();
    for e in entries {
        let r = &e.report;
        let class = match &r.variant {
            Some(v) => format!("leakcheck.{}.{v}", r.scenario),
            None => format!("leakcheck.{}", r.scenario),
        };
        let status = r.status.describe();
        let result = if r.status.is_complete() {
            CaseResult::Pass
        } else if r.status.ceiling_crossed() {
            CaseResult::Failure {
                kind: "ceiling",
                message: status,
            }
        } else {
            CaseResult::Error { message: status }
        };
        out.push(Case {
            class: class.clone(),
            name: "run".to_string(),
            time: if r.duration_s.is_finite() {
                r.duration_s
            } else {
                0.0
            },
            result,
            out: Some(status_line(r)),
        });
        for m in &r.metrics {
            for b in &m.budgets {
                let result = match b.outcome {
                    Outcome::Pass => CaseResult::Pass,
                    Outcome::Fail => CaseResult::Failure {
                        kind: "budget",
                        message: b.line.clone(),
                    },
                    Outcome::Undecided => CaseResult::Skipped {
                        message: format!("undecided: {}", b.line),
                    },
                };
                out.push(Case {
                    class: class.clone(),
                    name: format!("{} {} <= {}", m.name, b.kind.as_str(), b.limit_text),
                    time: 0.0,
                    result,
                    out: Some(format!(
                        "estimate {}: {}",
                        fmt::budget_value(b.estimate, b.kind, m.unit, r.x_unit),
                        b.line
                    )),
                });
            }
        }
        for d in &r.ratchet {
            let result = match d.change {
                Some(leakcheck_vocab::Change::Worse) => CaseResult::Failure {
                    kind: "baseline",
                    message: d.line.clone(),
                },
                Some(leakcheck_vocab::Change::Undecided) => CaseResult::Skipped {
                    message: format!("undecided: {}", d.line),
                },
                _ => CaseResult::Pass,
            };
            out.push(Case {
                class: class.clone(),
                name: format!(
                    "{} {} vs baseline (tolerance {})",
                    d.metric,
                    d.quantity.as_str(),
                    d.tolerance_text
                ),
                time: 0.0,
                result,
                out: Some(d.line.clone()),
            });
        }
    }
    out
}

/// The gate's `junit.xml`.
pub fn junit_xml(entries: &[GateEntry]) -> String {
    let cases = cases(entries);
    let failures = cases
        .iter()
        .filter(|c| matches!(c.result, CaseResult::Failure { .. }))
        .count();
    let errors = cases
        .iter()
        .filter(|c| matches!(c.result, CaseResult::Error { .. }))
        .count();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.result, CaseResult::Skipped { .. }))
        .count();
    let time: f64 = cases.iter().map(|c| c.time).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let counts = format!(
        "tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{time:.3}\"",
        cases.len()
    );
    let _ = writeln!(out, "<testsuites name=\"leakcheck\" {counts}>");
    let _ = writeln!(out, "  <testsuite name=\"leakcheck\" {counts}>");
    for c in &cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            xml(&c.class),
            xml(&c.name),
            c.time
        );
        let result = match &c.result {
            CaseResult::Pass => None,
            CaseResult::Failure { kind, message } => {
                let m = xml(message);
                Some(format!(
                    "<failure type=\"{kind}\" message=\"{m}\">{m}</failure>"
                ))
            }
            CaseResult::Error { message } => {
                let m = xml(message);
                Some(format!(
                    "<error type=\"incomplete\" message=\"{m}\">{m}</error>"
                ))
            }
            CaseResult::Skipped { message } => {
                Some(format!("<skipped message=\"{}\"/>", xml(message)))
            }
        };
        let system_out = c
            .out
            .as_ref()
            .map(|text| format!("<system-out>{}</system-out>", xml(text)));
        if result.is_none() && system_out.is_none() {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        for element in result.iter().chain(&system_out) {
            let _ = writeln!(out, "      {element}");
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// `junit.xml`.
#[derive(Debug, Clone, Copy)]
pub struct JunitXml;

impl Export<[GateEntry]> for JunitXml {
    fn file_name(&self) -> &'static str {
        "junit.xml"
    }
    fn render(&self, input: &[GateEntry]) -> Result<Vec<u8>, ReportError> {
        Ok(junit_xml(input).into_bytes())
    }
}

/// The `run` case's output: how the run ended, how long it took.
fn status_line(r: &crate::model::ScenarioReport) -> String {
    format!("{} in {}", r.status.describe(), fmt::seconds(r.duration_s))
}
