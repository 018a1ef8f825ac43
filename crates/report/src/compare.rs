//! `compare.json` and `compare.md`: two runs, metric by metric (the overlay plot is
//! [`crate::plot`]'s `CompareSvg`/`ComparePng`).

use std::fmt::Write as _;

use crate::model::{CompareReport, QuantityDiff};
use crate::{Export, ReportError, words};

/// `compare.json`: the comparison as data (the runs' own series are in their folders).
#[derive(Debug, Clone, Copy)]
pub struct CompareJson;

impl Export<CompareReport> for CompareJson {
    fn file_name(&self) -> &'static str {
        "compare.json"
    }
    fn render(&self, input: &CompareReport) -> Result<Vec<u8>, ReportError> {
        let mut out = serde_json::to_vec_pretty(input).map_err(|e| ReportError::Render {
            what: "compare.json".into(),
            message: e.to_string(),
        })?;
        out.push(b'\n');
        Ok(out)
    }
}

/// `compare.md`.
#[derive(Debug, Clone, Copy)]
pub struct CompareMarkdown;

impl Export<CompareReport> for CompareMarkdown {
    fn file_name(&self) -> &'static str {
        "compare.md"
    }
    fn render(&self, input: &CompareReport) -> Result<Vec<u8>, ReportError> {
        Ok(compare_markdown(input).into_bytes())
    }
}

/// The comparison as markdown: verdict, the two runs, one table row per quantity.
pub fn compare_markdown(c: &CompareReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Compare: {}\n", c.verdict.word());
    let _ = writeln!(s, "**{}**\n", escape(&c.headline));
    for (label, run) in [("A (reference)", &c.a), ("B", &c.b)] {
        let _ = writeln!(
            s,
            "- {label}: `{}` — {}, {}{}",
            run.path,
            escape(&run.label()),
            run.verdict.word(),
            run.iterations
                .map(|n| format!(", {n} iterations"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        s,
        "\nDifferences are B − A with {}% intervals (MOVER, each run's interval widened ×2 for what varies between runs); tolerance {}.\n",
        leakcheck_vocab::fmt::percent(c.confidence),
        c.tolerance
    );
    let _ = writeln!(
        s,
        "| metric | quantity | A | B | B − A | interval | verdict |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---|---|");
    for q in c.metrics.iter().flat_map(|m| &m.quantities) {
        row(&mut s, q);
    }
    if !c.notes.is_empty() {
        let _ = writeln!(s, "\nNotes:\n");
        for n in &c.notes {
            let _ = writeln!(s, "- {}", escape(n));
        }
    }
    let _ = writeln!(s, "\n![overlay](compare.svg)");
    s
}

fn row(s: &mut String, q: &QuantityDiff) {
    use leakcheck_vocab::fmt;
    let v = |v: f64| fmt::budget_value(v, q.quantity, q.unit, q.x_unit);
    let interval = if q.difference.has_bounds() {
        format!("{} … {}", v(q.difference.lo), v(q.difference.hi))
    } else {
        "—".to_string()
    };
    let _ = writeln!(
        s,
        "| {} | {} | {} | {} | {} | {} | {} |",
        q.metric,
        q.quantity.as_str(),
        v(q.a.estimate),
        v(q.b.estimate),
        v(q.difference.estimate),
        interval,
        q.change.map_or("shown, not judged", |c| c.word())
    );
}

fn escape(text: &str) -> String {
    text.replace('<', "&lt;").replace('>', "&gt;")
}

/// The comparison's one-line verdict per judged quantity, for terminals.
pub fn compare_lines(c: &CompareReport) -> Vec<String> {
    c.metrics
        .iter()
        .flat_map(|m| &m.quantities)
        .filter(|q| q.change.is_some())
        .map(|q| words::diff_line(q, "A"))
        .collect()
}
