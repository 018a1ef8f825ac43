//! The run's results in the OpenMetrics text format, for those who watch memory beyond
//! one CI run (long soaks, training jobs across machines): a file node-exporter's textfile
//! collector can pick up, Prometheus names, `# EOF` at the end.
//!
//! Families (labels `scenario`, `variant`, and `metric` where one applies):
//! `leakcheck_verdict` and `leakcheck_budget_outcome` (statesets), `leakcheck_run_duration_seconds`,
//! `leakcheck_iterations`, `leakcheck_slope_bytes_per_iteration` (and `_per_second`, with
//! `_lower_`/`_upper_` bounds), `leakcheck_peak_bytes`, `leakcheck_last_value_bytes`,
//! `leakcheck_budget_limit` (label `unit`); count metrics (`py.blocks`) go in the
//! `_objects` twins of the byte families.

use std::fmt::Write as _;

use crate::model::{GateEntry, MetricReport, Outcome, Overall, ScenarioReport, ValueUnit, XUnit};

/// One gauge family being built: its samples, written after its `# TYPE` and `# HELP`.
struct Family {
    name: String,
    kind: &'static str,
    help: &'static str,
    samples: Vec<String>,
}

/// The families in the order they first appear, so each one's samples stay together.
#[derive(Default)]
struct Families(Vec<Family>);

impl Families {
    fn add(
        &mut self,
        name: &str,
        kind: &'static str,
        help: &'static str,
        labels: &str,
        value: f64,
    ) {
        if !value.is_finite() {
            return;
        }
        let sample = format!("{name}{{{labels}}} {}", number(value));
        match self.0.iter_mut().find(|f| f.name == name) {
            Some(f) => f.samples.push(sample),
            None => self.0.push(Family {
                name: name.to_owned(),
                kind,
                help,
                samples: vec![sample],
            }),
        }
    }

    fn render(self) -> String {
        let mut out = String::new();
        for f in self.0 {
            let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
            let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
            for s in f.samples {
                out.push_str(&s);
                out.push('\n');
            }
        }
        out.push_str("# EOF\n");
        out
    }
}

/// The OpenMetrics text of every scenario in `entries`.
pub fn openmetrics(entries: &[GateEntry]) -> String {
    let mut families = Families::default();
    for e in entries {
        scenario(&mut families, &e.report);
    }
    families.render()
}

fn scenario(f: &mut Families, r: &ScenarioReport) {
    let base = format!(
        "scenario=\"{}\",variant=\"{}\"",
        label(&r.scenario),
        label(r.variant.as_deref().unwrap_or(""))
    );
    for v in [
        Overall::Pass,
        Overall::Fail,
        Overall::Undecided,
        Overall::Incomplete,
        Overall::NoBudgets,
    ] {
        let state = format!("{base},leakcheck_verdict=\"{}\"", verdict_state(v));
        let on = if r.verdict == v { 1.0 } else { 0.0 };
        f.add(
            "leakcheck_verdict",
            "stateset",
            "The scenario's verdict.",
            &state,
            on,
        );
    }
    f.add(
        "leakcheck_run_duration_seconds",
        "gauge",
        "Wall time of the run.",
        &base,
        r.duration_s,
    );
    if let Some(n) = r.iterations {
        f.add(
            "leakcheck_iterations",
            "gauge",
            "Iterations the program marked.",
            &base,
            n as f64,
        );
    }
    for m in &r.metrics {
        metric(f, &base, r.x_unit, m);
    }
}

fn metric(f: &mut Families, base: &str, x_unit: XUnit, m: &MetricReport) {
    let labels = format!("{base},metric=\"{}\"", label(&m.name));
    let unit = match m.unit {
        ValueUnit::Bytes => "bytes",
        ValueUnit::Count => "objects",
    };
    let per = match x_unit {
        XUnit::Iteration => "iteration",
        XUnit::Second => "second",
    };
    if let Some(fit) = &m.fit {
        let help = "Growth after warm-up (Theil-Sen), with its confidence bounds.";
        f.add(
            &format!("leakcheck_slope_{unit}_per_{per}"),
            "gauge",
            help,
            &labels,
            fit.slope,
        );
        f.add(
            &format!("leakcheck_slope_lower_{unit}_per_{per}"),
            "gauge",
            help,
            &labels,
            fit.slope_lo,
        );
        f.add(
            &format!("leakcheck_slope_upper_{unit}_per_{per}"),
            "gauge",
            help,
            &labels,
            fit.slope_hi,
        );
    }
    f.add(
        &format!("leakcheck_peak_{unit}"),
        "gauge",
        "Highest value seen.",
        &labels,
        m.peak,
    );
    if let Some(&[_, last]) = m.points.last() {
        f.add(
            &format!("leakcheck_last_value_{unit}"),
            "gauge",
            "Last value seen.",
            &labels,
            last,
        );
    }
    for b in &m.budgets {
        let budget = format!("{labels},kind=\"{}\"", b.kind.as_str());
        for o in [Outcome::Pass, Outcome::Fail, Outcome::Undecided] {
            let state = format!("{budget},leakcheck_budget_outcome=\"{}\"", outcome_state(o));
            let on = if b.outcome == o { 1.0 } else { 0.0 };
            f.add(
                "leakcheck_budget_outcome",
                "stateset",
                "Each budget check's outcome.",
                &state,
                on,
            );
        }
        let limit_unit = match b.kind {
            crate::model::BudgetKind::Slope => format!("{unit}_per_{per}"),
            crate::model::BudgetKind::Growth
            | crate::model::BudgetKind::Peak
            | crate::model::BudgetKind::Retained => unit.to_owned(),
        };
        f.add(
            "leakcheck_budget_limit",
            "gauge",
            "Each budget's limit, in the unit its label names.",
            &format!("{budget},unit=\"{limit_unit}\""),
            b.limit,
        );
    }
}

fn verdict_state(v: Overall) -> &'static str {
    match v {
        Overall::Pass => "pass",
        Overall::Fail => "fail",
        Overall::Undecided => "undecided",
        Overall::Incomplete => "incomplete",
        Overall::NoBudgets => "no_budgets",
    }
}

fn outcome_state(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Fail => "fail",
        Outcome::Undecided => "undecided",
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value: integers without a fraction, others with Rust's shortest round trip.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// `openmetrics.txt`-style export of a gate's (or one run's) entries.
#[derive(Debug, Clone, Copy)]
pub struct OpenMetrics;

impl crate::Export<[GateEntry]> for OpenMetrics {
    fn file_name(&self) -> &'static str {
        "metrics.om.txt"
    }
    fn render(&self, input: &[GateEntry]) -> Result<Vec<u8>, crate::ReportError> {
        Ok(openmetrics(input).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_numbers_are_plain() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(1048576.0), "1048576");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(-3.0), "-3");
    }

    #[test]
    fn nothing_is_an_empty_exposition_with_its_end_marker() {
        assert_eq!(openmetrics(&[]), "# EOF\n");
    }
}
