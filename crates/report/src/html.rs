//! `index.html`: one self-contained page (inline CSS, no scripts) linking
//! every scenario's files and showing its SVG plot inline. All text is
//! escaped; links are percent-encoded relative paths.

use std::fmt::Write as _;

use crate::junit::xml as esc;
use crate::markdown::{display_name, url_path, verdict_counts};
use crate::model::{GateEntry, Outcome};
use crate::words;
use leakcheck_vocab::fmt;

use crate::{Export, ReportError};

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1320px;padding:0 1rem;color:#212121}\
h1{font-size:1.5rem}\
.card{border:1px solid #ddd;border-radius:8px;padding:1rem 1.25rem;margin:1.25rem 0}\
.card h2{margin:0 0 .4rem;font-size:1.2rem}\
.badge{display:inline-block;color:#fff;border-radius:4px;padding:.1rem .5rem;font-size:.85rem;font-weight:600;margin-right:.5rem;vertical-align:middle}\
.status{color:#616161;margin:.25rem 0}\
.links a{margin-right:1rem}\
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}\
td,th{border:1px solid #e0e0e0;padding:.25rem .6rem;text-align:left}\
.fail{color:#c62828;font-weight:600}.pass{color:#2e7d32}.undecided{color:#b26a00}\
img{max-width:100%;border:1px solid #eee;margin-top:.5rem}";

fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// The gate's `index.html`.
pub fn index_html(entries: &[GateEntry]) -> String {
    let mut out = String::new();
    let counts = esc(&verdict_counts(entries));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>leakcheck: {counts}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>leakcheck gate: {counts}</h1>\n"
    );
    if !entries.is_empty() {
        out.push_str(
            "<table>\n<tr><th>scenario</th><th>verdict</th><th>run</th><th>headline</th></tr>\n",
        );
        for (i, e) in entries.iter().enumerate() {
            let r = &e.report;
            let _ = writeln!(
                out,
                "<tr><td><a href=\"#s{i}\">{}</a></td><td><span class=\"badge\" style=\"background:{}\">{}</span></td><td>{}</td><td>{}</td></tr>",
                esc(&display_name(r)),
                hex(r.verdict.rgb()),
                r.verdict.word(),
                esc(&r.status.describe()),
                esc(&r.headline)
            );
        }
        out.push_str("</table>\n");
    }
    for (i, e) in entries.iter().enumerate() {
        let r = &e.report;
        let dir = esc(&url_path(&e.rel_dir));
        let _ = write!(
            out,
            "<section class=\"card\" id=\"s{i}\">\n<h2><span class=\"badge\" style=\"background:{}\">{}</span>{}</h2>\n\
             <p>{}</p>\n<p class=\"status\">{}",
            hex(r.verdict.rgb()),
            r.verdict.word(),
            esc(&display_name(r)),
            esc(&r.headline),
            esc(&r.status.describe()),
        );
        if let Some(n) = r.iterations {
            let _ = write!(out, " · {n} iterations");
        }
        let _ = writeln!(out, " · {}</p>", esc(&fmt::seconds(r.duration_s)));
        let budgets: Vec<_> = r
            .metrics
            .iter()
            .flat_map(|m| m.budgets.iter().map(move |b| (m, b)))
            .collect();
        if !budgets.is_empty() {
            out.push_str("<table>\n<tr><th>metric</th><th>check</th><th>estimate</th><th>interval</th><th>budget</th><th>outcome</th></tr>\n");
            for (m, b) in budgets {
                let v = |x| esc(&fmt::budget_value(x, b.kind, m.unit, r.x_unit));
                let class = match b.outcome {
                    Outcome::Pass => "pass",
                    Outcome::Fail => "fail",
                    Outcome::Undecided => "undecided",
                };
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} … {}</td><td>{}</td><td class=\"{class}\" title=\"{}\">{}</td></tr>",
                    esc(&m.name),
                    b.kind.as_str(),
                    v(b.estimate),
                    v(b.lo),
                    v(b.hi),
                    esc(&b.limit_text),
                    esc(&b.line),
                    b.outcome.word()
                );
            }
            out.push_str("</table>\n");
        }
        if let Some(a) = &r.attribution {
            attribution_table(&mut out, a);
        }
        let samples = esc(&url_path(&r.samples_file));
        let _ = writeln!(
            out,
            "<p class=\"links\"><a href=\"{dir}/memory.svg\">memory.svg</a><a href=\"{dir}/memory.png\">memory.png</a>\
             <a href=\"{dir}/summary.md\">summary.md</a><a href=\"{dir}/summary.json\">summary.json</a>\
             <a href=\"{dir}/{samples}\">{}</a></p>\n\
             <img src=\"{dir}/memory.svg\" alt=\"memory plot of {}\" />\n</section>",
            esc(&r.samples_file),
            esc(&display_name(r)),
        );
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// "Where it grows": the top sites, each with its stack on hover.
fn attribution_table(out: &mut String, a: &crate::model::Attribution) {
    out.push_str("<h3>Where it grows</h3>\n");
    if !a.sites.is_empty() {
        out.push_str("<table>\n<tr><th>#</th><th>site</th><th>function</th><th>growth</th><th>share</th></tr>\n");
        for (i, s) in a
            .sites
            .iter()
            .take(words::ATTRIBUTION_SITES_SHOWN)
            .enumerate()
        {
            let share = words::share(s.share);
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td title=\"{}\"><code>{}</code></td><td>{}</td><td>{}</td><td>{share}</td></tr>",
                i + 1,
                esc(&s.stack.join("\n")),
                esc(&s.location),
                esc(&s.function),
                esc(&words::per_unit(s.bytes_per_iter, &a.per)),
            );
        }
        out.push_str("</table>\n");
    }
    let _ = writeln!(out, "<p>{}</p>", esc(&words::attribution_sum(a)));
}

/// `index.html`.
#[derive(Debug, Clone, Copy)]
pub struct IndexHtml;

impl Export<[GateEntry]> for IndexHtml {
    fn file_name(&self) -> &'static str {
        "index.html"
    }
    fn render(&self, input: &[GateEntry]) -> Result<Vec<u8>, ReportError> {
        Ok(index_html(input).into_bytes())
    }
}
