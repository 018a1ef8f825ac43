//! `summary.md`: per scenario, and per gate run (also what goes into
//! `$GITHUB_STEP_SUMMARY`). GitHub-flavoured markdown; all user text is
//! escaped so a name cannot break a table or inject HTML.

use std::fmt::Write as _;

use crate::model::{
    Attribution, BudgetKind, GateEntry, MetricReport, Outcome, Overall, ScenarioReport,
};
use crate::words;
use leakcheck_vocab::fmt;

use crate::{Export, ReportError};

/// Escapes text for a markdown paragraph or table cell.
pub(crate) fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn verdict_mark(v: Overall) -> &'static str {
    match v {
        Overall::Pass => "✅",
        Overall::Fail => "❌",
        Overall::Undecided => "❔",
        Overall::Incomplete => "⛔",
        Overall::NoBudgets => "📄",
    }
}

fn outcome_mark(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "✅ pass",
        Outcome::Fail => "❌ fail",
        Outcome::Undecided => "❔ undecided",
    }
}

/// `loader-loop (leaky)`.
pub(crate) fn display_name(r: &ScenarioReport) -> String {
    match &r.variant {
        Some(v) => format!("{} ({v})", r.scenario),
        None => r.scenario.clone(),
    }
}

fn confidence_label(m: &MetricReport) -> String {
    match &m.fit {
        Some(f) if f.confidence.is_finite() => format!("{}% CI", fmt::percent(f.confidence)),
        _ => "CI".to_string(),
    }
}

/// The metric × budget table: every metric's slope with its interval (budgeted or
/// not, so a metric failing a peak or retained budget still shows how it grows),
/// then one row per budget check.
fn budget_table(out: &mut String, r: &ScenarioReport) {
    out.push_str("| metric | shape | check | estimate | interval | budget | outcome |\n");
    out.push_str("|---|---|---|---:|---|---:|---|\n");
    for m in &r.metrics {
        let name = md(&m.name);
        let shape = md(&m.shape);
        if !m.budgets.iter().any(|b| b.kind == BudgetKind::Slope) {
            let (est, ci) = match &m.fit {
                Some(f) => (
                    fmt::rate(f.slope, m.unit, r.x_unit),
                    format!(
                        "{}: {} … {}",
                        confidence_label(m),
                        fmt::rate(f.slope_lo, m.unit, r.x_unit),
                        fmt::rate(f.slope_hi, m.unit, r.x_unit)
                    ),
                ),
                None => ("—".to_string(), "—".to_string()),
            };
            let _ = writeln!(
                out,
                "| {name} | {shape} | slope | {est} | {ci} | — | no budget |"
            );
        }
        if let Some(p) = &m.retained_per_session {
            let v = |x| fmt::value(x, m.unit);
            let _ = writeln!(
                out,
                "| {name} | {shape} | retained per session | {} | {}% CI: {} … {} ({} checkpoints) | — | no budget |",
                v(p.slope),
                fmt::percent(p.confidence),
                v(p.lo),
                v(p.hi),
                p.checkpoints
            );
        }
        for b in &m.budgets {
            let v = |x| fmt::budget_value(x, b.kind, m.unit, r.x_unit);
            // Peaks and retained levels are point values: no interval to show.
            let interval = if b.lo < b.hi {
                format!("{}: {} … {}", confidence_label(m), v(b.lo), v(b.hi))
            } else {
                "— (point value)".to_string()
            };
            let _ = writeln!(
                out,
                "| {name} | {shape} | {} | {} | {interval} | {} | {} |",
                b.kind.as_str(),
                v(b.estimate),
                md(&b.limit_text),
                outcome_mark(b.outcome)
            );
        }
    }
}

/// One scenario's section; `level` is the heading level of its title and
/// `link_dir` prefixes links to its files (None: same directory).
fn scenario_section(out: &mut String, r: &ScenarioReport, level: usize, link_dir: Option<&str>) {
    let h = "#".repeat(level);
    let _ = writeln!(
        out,
        "{h} {} {} · {}\n",
        verdict_mark(r.verdict),
        r.verdict.word(),
        md(&display_name(r))
    );
    let _ = writeln!(out, "**{}**\n", md(&r.headline));
    let mut facts = vec![format!("run: {}", md(&r.status.describe()))];
    if let Some(n) = r.iterations {
        facts.push(format!("{n} iterations"));
    }
    facts.push(fmt::seconds(r.duration_s));
    if let Some(look) = &r.decided_at {
        facts.push(format!("judged {}", md(&words::look_fact(look))));
    }
    if let (Some(c), Some(p)) = (r.ceiling_bytes, r.peak_bytes) {
        facts.push(format!("ceiling {}, peak {}", fmt::bytes(c), fmt::bytes(p)));
    } else if let Some(c) = r.ceiling_bytes {
        facts.push(format!("ceiling {}", fmt::bytes(c)));
    }
    let _ = writeln!(out, "{}\n", facts.join(" · "));
    if !r.command.is_empty() {
        let argv: Vec<String> = r.command.iter().map(|a| md(a)).collect();
        let _ = writeln!(out, "command: {}\n", argv.join(" "));
    }

    if r.metrics.is_empty() {
        out.push_str("No metrics were recorded.\n\n");
    } else {
        budget_table(out, r);
        out.push('\n');
    }

    let why: Vec<String> = r
        .metrics
        .iter()
        .flat_map(|m| m.budgets.iter().map(move |b| (m, b)))
        .filter(|(_, b)| b.outcome != Outcome::Pass)
        .map(|(m, b)| {
            format!(
                "- {} {}: {}",
                outcome_mark(b.outcome),
                md(&m.name),
                md(&b.line)
            )
        })
        .collect();
    if !why.is_empty() {
        out.push_str(&why.join("\n"));
        out.push_str("\n\n");
    }
    let forecasts: Vec<String> = r
        .metrics
        .iter()
        .filter_map(|m| {
            let f = m.forecast.as_ref()?;
            Some(format!(
                "- ⏳ {}: {}",
                md(&m.name),
                md(&words::forecast_line(f, r.x_unit))
            ))
        })
        .collect();
    if !forecasts.is_empty() {
        out.push_str(&forecasts.join("\n"));
        out.push_str("\n\n");
    }
    if r.processes.len() >= 2 {
        let _ = writeln!(out, "Processes, fastest growing first:\n");
        for role in &r.processes {
            let _ = writeln!(out, "- {}", md(&words::process_line(role)));
        }
        out.push('\n');
    }
    if !r.ratchet.is_empty() {
        let _ = writeln!(out, "Against the baseline:\n");
        for d in &r.ratchet {
            let mark = match d.change {
                Some(leakcheck_vocab::Change::Worse) => "❌",
                Some(leakcheck_vocab::Change::Better) => "⬇️",
                Some(leakcheck_vocab::Change::Undecided) => "❔",
                _ => "✅",
            };
            let _ = writeln!(out, "- {mark} {}", md(&d.line));
        }
        out.push('\n');
    }
    if let Some(a) = &r.attribution {
        attribution_table(out, a, &h);
    }
    for (title, items) in [("Notes", &r.notes), ("Decode warnings", &r.decode_warnings)] {
        if !items.is_empty() {
            let _ = writeln!(out, "{title}:\n");
            for n in items {
                let _ = writeln!(out, "- {}", md(n));
            }
            out.push('\n');
        }
    }
    let prefix = link_dir.map_or(String::new(), |d| format!("{}/", url_path(d)));
    let _ = writeln!(
        out,
        "Files: [plot (PNG)]({prefix}memory.png) · [plot (SVG)]({prefix}memory.svg) · \
         [summary.json]({prefix}summary.json) · [samples]({prefix}{})\n",
        url_path(&r.samples_file)
    );
}

/// "Where it grows": the top sites of an attribution pass and what they add up to.
fn attribution_table(out: &mut String, a: &Attribution, h: &str) {
    let _ = writeln!(out, "{h}# Where it grows\n");
    if !a.sites.is_empty() {
        let per = words::per_suffix(&a.per);
        let _ = writeln!(
            out,
            "| # | site | function | bytes/{per} | share |\n|---:|---|---|---:|---:|"
        );
        for (i, s) in a
            .sites
            .iter()
            .take(words::ATTRIBUTION_SITES_SHOWN)
            .enumerate()
        {
            let share = words::share(s.share);
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} | {share} |",
                i + 1,
                md(&s.location),
                md(&s.function),
                words::per_unit(s.bytes_per_iter, &a.per),
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{}\n", md(&words::attribution_sum(a)));
}

/// Percent-encodes a relative path for a link, keeping `/`.
pub(crate) fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// The per-scenario `summary.md`.
pub fn scenario_markdown(r: &ScenarioReport) -> String {
    let mut out = String::new();
    scenario_section(&mut out, r, 1, None);
    out.push_str("![memory over time](memory.png)\n");
    out
}

/// Counts of each verdict, e.g. `2 passed, 1 failed`.
pub(crate) fn verdict_counts(entries: &[GateEntry]) -> String {
    let count = |v| entries.iter().filter(|e| e.report.verdict == v).count();
    let parts: Vec<String> = [
        (Overall::Fail, "failed"),
        (Overall::Incomplete, "did not complete"),
        (Overall::Undecided, "undecided"),
        (Overall::Pass, "passed"),
        (Overall::NoBudgets, "report only (no budgets)"),
    ]
    .into_iter()
    .filter(|(v, _)| count(*v) > 0)
    .map(|(v, word)| format!("{} {word}", count(v)))
    .collect();
    if parts.is_empty() {
        "no scenarios".to_string()
    } else {
        parts.join(", ")
    }
}

/// The gate's `summary.md` (and `$GITHUB_STEP_SUMMARY` text).
pub fn gate_markdown(entries: &[GateEntry]) -> String {
    let mut out = format!("# leakcheck gate: {}\n\n", verdict_counts(entries));
    if !entries.is_empty() {
        out.push_str("| scenario | verdict | run | headline |\n|---|---|---|---|\n");
        for e in entries {
            let r = &e.report;
            let _ = writeln!(
                out,
                "| [{}]({}/summary.md) | {} {} | {} | {} |",
                md(&display_name(r)),
                url_path(&e.rel_dir),
                verdict_mark(r.verdict),
                r.verdict.word(),
                md(&r.status.describe()),
                md(&r.headline)
            );
        }
        out.push('\n');
    }
    let grows: Vec<String> = entries
        .iter()
        .filter(|e| e.report.verdict == Overall::Fail)
        .filter_map(|e| {
            let a = e.report.attribution.as_ref()?;
            let top = words::top_site(a).unwrap_or_else(|| words::attribution_sum(a));
            Some(format!("- {}: {}", md(&display_name(&e.report)), md(&top)))
        })
        .collect();
    if !grows.is_empty() {
        let _ = writeln!(
            out,
            "Where the failing scenarios grow:\n\n{}\n",
            grows.join("\n")
        );
    }
    for e in entries {
        scenario_section(&mut out, &e.report, 2, Some(&e.rel_dir));
    }
    out
}

/// Per-scenario `summary.md`.
#[derive(Debug, Clone, Copy)]
pub struct ScenarioMarkdown;

impl Export<ScenarioReport> for ScenarioMarkdown {
    fn file_name(&self) -> &'static str {
        "summary.md"
    }
    fn render(&self, input: &ScenarioReport) -> Result<Vec<u8>, ReportError> {
        Ok(scenario_markdown(input).into_bytes())
    }
}

/// The gate's `summary.md`.
#[derive(Debug, Clone, Copy)]
pub struct GateMarkdown;

impl Export<[GateEntry]> for GateMarkdown {
    fn file_name(&self) -> &'static str {
        "summary.md"
    }
    fn render(&self, input: &[GateEntry]) -> Result<Vec<u8>, ReportError> {
        Ok(gate_markdown(input).into_bytes())
    }
}
