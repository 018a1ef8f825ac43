//! `summary.json`: the view model itself, pretty-printed, schema-versioned.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

use crate::model::{SCHEMA_VERSION, ScenarioReport};
use crate::{Export, ReportError};

/// `summary.json`.
#[derive(Debug, Clone, Copy)]
pub struct SummaryJson;

impl Export<ScenarioReport> for SummaryJson {
    fn file_name(&self) -> &'static str {
        "summary.json"
    }
    fn render(&self, input: &ScenarioReport) -> Result<Vec<u8>, ReportError> {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, SummaryFormatter::new());
        input.serialize(&mut ser).map_err(|e| ReportError::Render {
            what: "summary.json".into(),
            message: e.to_string(),
        })?;
        out.push(b'\n');
        Ok(out)
    }
}

/// Parses a summary, checking the schema version before the fields so an
/// old or future file gets a version error rather than a field error.
pub(crate) fn parse(text: &str, path: &Path) -> Result<ScenarioReport, ReportError> {
    let parse_err = |source| ReportError::Parse {
        path: path.to_path_buf(),
        source,
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(parse_err)?;
    let version = value.get("schema_version");
    if version.and_then(|v| v.as_u64()) != Some(u64::from(SCHEMA_VERSION)) {
        return Err(ReportError::Schema {
            path: path.to_path_buf(),
            found: version.map_or_else(|| "(missing)".to_string(), |v| v.to_string()),
            expected: SCHEMA_VERSION,
        });
    }
    serde_json::from_value(value).map_err(parse_err)
}

#[derive(Clone, Copy, PartialEq)]
enum Container {
    Pretty,
    Inline,
}

/// Pretty-printing, except that containers nested in an array are written
/// on one line: each `[x, y]` point takes one line instead of four.
struct SummaryFormatter {
    pretty: PrettyFormatter<'static>,
    /// Open containers and whether each is an array (vs an object).
    stack: Vec<(Container, bool)>,
}

impl SummaryFormatter {
    fn new() -> Self {
        Self {
            pretty: PrettyFormatter::new(),
            stack: Vec::new(),
        }
    }

    /// The mode a container opened now gets: arrays directly inside an
    /// array (points) and everything inside those are inline.
    fn child_mode(&self, is_array: bool) -> Container {
        match self.stack.last() {
            Some((Container::Inline, _)) => Container::Inline,
            Some((Container::Pretty, true)) if is_array => Container::Inline,
            _ => Container::Pretty,
        }
    }

    fn inline(&self) -> bool {
        matches!(self.stack.last(), Some((Container::Inline, _)))
    }
}

impl Formatter for SummaryFormatter {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        let mode = self.child_mode(true);
        self.stack.push((mode, true));
        match mode {
            Container::Inline => w.write_all(b"["),
            Container::Pretty => self.pretty.begin_array(w),
        }
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        match self.stack.pop() {
            Some((Container::Inline, _)) => w.write_all(b"]"),
            _ => self.pretty.end_array(w),
        }
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if self.inline() {
            if first { Ok(()) } else { w.write_all(b", ") }
        } else {
            self.pretty.begin_array_value(w, first)
        }
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.inline() {
            Ok(())
        } else {
            self.pretty.end_array_value(w)
        }
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        let mode = self.child_mode(false);
        self.stack.push((mode, false));
        match mode {
            Container::Inline => w.write_all(b"{"),
            Container::Pretty => self.pretty.begin_object(w),
        }
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        match self.stack.pop() {
            Some((Container::Inline, _)) => w.write_all(b"}"),
            _ => self.pretty.end_object(w),
        }
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if self.inline() {
            if first { Ok(()) } else { w.write_all(b", ") }
        } else {
            self.pretty.begin_object_key(w, first)
        }
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.inline() {
            w.write_all(b": ")
        } else {
            self.pretty.begin_object_value(w)
        }
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.inline() {
            Ok(())
        } else {
            self.pretty.end_object_value(w)
        }
    }
}
