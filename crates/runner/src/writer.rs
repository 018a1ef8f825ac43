//! Streaming records to `samples.jsonl` as they arrive.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use leakcheck_records::Record;

/// Appends records as JSON lines; remembers the first error instead of failing the run.
pub(crate) struct RecordWriter {
    out: BufWriter<File>,
    path: PathBuf,
    line: Vec<u8>,
    pub(crate) error: Option<io::Error>,
}

impl RecordWriter {
    pub(crate) fn new(out: BufWriter<File>, path: PathBuf) -> Self {
        Self {
            out,
            path,
            line: Vec::with_capacity(512),
            error: None,
        }
    }

    pub(crate) fn write(&mut self, record: &Record) {
        if self.error.is_some() {
            return;
        }
        self.line.clear();
        if serde_json::to_writer(&mut self.line, record).is_err() {
            return; // cannot happen for these types; a lost line beats a lost run
        }
        self.line.push(b'\n');
        if let Err(e) = self.out.write_all(&self.line) {
            self.error = Some(e);
        }
    }

    pub(crate) fn flush(&mut self) {
        if self.error.is_none()
            && let Err(e) = self.out.flush()
        {
            self.error = Some(e);
        }
    }
}

impl std::fmt::Debug for RecordWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter")
            .field("path", &self.path)
            .finish()
    }
}
