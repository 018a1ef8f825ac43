//! Report writers: `summary.json`, `summary.md`, `memory.svg`/`memory.png`
//! per scenario; `junit.xml`, `summary.md` and `index.html` per gate run.
//!
//! It renders the view model of `leakcheck-summary` (re-exported here as [`model`] and
//! [`words`]), which `leakcheck-judge` fills from the analysis, so the report stays
//! independent of how the numbers were made. Each format is one module behind the
//! [`Export`] trait.

mod compare;
mod export;
mod html;
mod json;
mod junit;
mod manifest;
mod markdown;
mod openmetrics;
mod plot;
mod typeset;

use std::path::{Path, PathBuf};

pub use compare::{CompareJson, CompareMarkdown, compare_lines, compare_markdown};
pub use export::Export;
pub use html::{IndexHtml, index_html};
pub use json::SummaryJson;
pub use junit::{JunitXml, junit_xml};
pub use leakcheck_summary::files::{Destination, destination, tmp_path, write_atomically};
pub use leakcheck_summary::model::*;
pub use leakcheck_summary::{model, words};
pub use manifest::{GateManifest, MANIFEST_FILE, ManifestError, Partition};
pub use markdown::{GateMarkdown, ScenarioMarkdown, gate_markdown, scenario_markdown};
pub use openmetrics::{OpenMetrics, openmetrics};
pub use plot::{
    ComparePng, CompareSvg, MAX_PANELS, PlotPng, PlotSvg, image_size, render_png, render_svg,
};

/// Everything that can go wrong writing or reading reports; each variant
/// names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a leakcheck summary: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "{} has schema_version {found}, expected {expected} (re-run the scenario to regenerate it)",
        path.display()
    )]
    Schema {
        path: PathBuf,
        found: String,
        expected: u32,
    },
    #[error("cannot render {what}: {message}")]
    Render { what: String, message: String },
}

/// Per-scenario files, in the order they are written.
pub const SCENARIO_FILES: [&str; 4] = ["summary.json", "summary.md", "memory.svg", "memory.png"];

/// Writes `summary.json`, `summary.md`, `memory.svg` and `memory.png` into
/// `dir` (created if missing). Returns the paths written.
pub fn write_scenario(dir: &Path, report: &ScenarioReport) -> Result<Vec<PathBuf>, ReportError> {
    export::write_all(
        dir,
        &[&SummaryJson, &ScenarioMarkdown, &PlotSvg, &PlotPng],
        report,
    )
}

/// Writes `junit.xml`, `summary.md` and `index.html` into the reports
/// `root`, and appends the same markdown to `step_summary` when given (the
/// CLI passes `$GITHUB_STEP_SUMMARY`). Safe to call again after every
/// scenario so the gate files are current while a gate runs.
pub fn write_gate(
    root: &Path,
    entries: &[GateEntry],
    step_summary: Option<&Path>,
) -> Result<Vec<PathBuf>, ReportError> {
    // Opened first so a bad step-summary path fails before any writing.
    let mut summary_file = step_summary
        .map(|p| export::open_append(p).map(|f| (f, p)))
        .transpose()?;
    let mut written = export::write_all(root, &[&JunitXml, &GateMarkdown, &IndexHtml], entries)?;
    if let Some((file, path)) = summary_file.as_mut() {
        export::append(file, path, &gate_markdown(entries))?;
        written.push(path.to_path_buf());
    }
    Ok(written)
}

/// Writes the OpenMetrics text of `entries` to `path` (through `PATH.tmp`, renamed when
/// complete, so a textfile collector never reads half a file).
pub fn write_openmetrics(path: &Path, entries: &[GateEntry]) -> Result<(), ReportError> {
    write_atomically(path, &OpenMetrics.render(entries)?).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `compare.json`, `compare.md`, `compare.svg` and `compare.png` into `dir`.
pub fn write_compare(dir: &Path, report: &CompareReport) -> Result<Vec<PathBuf>, ReportError> {
    export::write_all(
        dir,
        &[&CompareJson, &CompareMarkdown, &CompareSvg, &ComparePng],
        report,
    )
}

/// Reads a `summary.json` back, checking its schema version (the reader of the schema
/// [`write_scenario`] writes; its round trip is tested).
pub fn read_summary(path: &Path) -> Result<ScenarioReport, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    json::parse(&text, path)
}
