//! `summary.json`: the view model itself, pretty-printed, schema-versioned.

use std::path::Path;

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
        let mut out = serde_json::to_vec_pretty(input).map_err(|e| ReportError::Render {
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
