//! Reading `samples.jsonl` back (`leakcheck report`): the format is documented in
//! [`crate::timeline`].

use std::fs;
use std::path::Path;

use std::path::PathBuf;

use leakcheck_vocab::Termination;

use crate::timeline::{ExitRecord, Record, RunHeader, SAMPLES_FORMAT, Timeline};

/// Why a recorded run cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a leakcheck samples file: {reason}", path.display())]
    NotSamples { path: PathBuf, reason: String },
}

/// A run as recorded on disk.
#[derive(Debug, Clone)]
pub struct RecordedRun {
    pub header: RunHeader,
    pub timeline: Timeline,
    /// `None` when leakcheck itself died before the run ended (no `exit` line).
    pub exit: Option<ExitRecord>,
}

impl RecordedRun {
    /// How the run ended, when that was recorded.
    pub fn termination(&self) -> Option<Termination> {
        self.exit.as_ref().map(|e| e.termination)
    }
}

/// Rebuild a whole recorded run. Lines that do not parse (a run cut short ends in
/// half a line; a newer leakcheck may add record types) are skipped and listed in
/// the timeline's warnings; a file whose first line is not a `run` header is an error.
pub fn read_run(path: &Path) -> Result<RecordedRun, RecordsError> {
    let text = fs::read_to_string(path).map_err(|source| RecordsError::Io {
        path: path.to_owned(),
        source,
    })?;
    let not_samples = |reason: String| RecordsError::NotSamples {
        path: path.to_owned(),
        reason,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let header = match lines.next() {
        None => return Err(not_samples("the file is empty".to_owned())),
        Some((_, first)) => match serde_json::from_str::<Record>(first) {
            Ok(Record::Run(h)) => h,
            _ => {
                let shown: String = first.chars().take(80).collect();
                return Err(not_samples(format!(
                    "expected a {{\"type\":\"run\",…}} header on line 1, found {shown:?}"
                )));
            }
        },
    };
    if header.format > SAMPLES_FORMAT {
        return Err(not_samples(format!(
            "record format {} is newer than this leakcheck understands ({SAMPLES_FORMAT})",
            header.format
        )));
    }
    let mut timeline = Timeline::default();
    let mut exit = None;
    let mut skipped = Vec::new();
    for (index, line) in lines {
        match serde_json::from_str::<Record>(line) {
            Ok(Record::Exit(e)) => exit = Some(e),
            Ok(record) => timeline.apply(&record),
            Err(_) => skipped.push(index + 1),
        }
    }
    if let Some(e) = &exit {
        timeline.decode = e.decode.clone();
    }
    if !skipped.is_empty() {
        let shown: Vec<String> = skipped.iter().take(10).map(|n| n.to_string()).collect();
        timeline.warnings.push(format!(
            "{}: skipped {} unreadable line(s) (line {})",
            path.display(),
            skipped.len(),
            shown.join(", ")
        ));
    }
    Ok(RecordedRun {
        header,
        timeline,
        exit,
    })
}
