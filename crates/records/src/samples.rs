//! Reading `samples.jsonl` back (`leakcheck report`): the format is documented in
//! [`crate::timeline`].

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

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

/// The longest line read back: far above any record leakcheck writes (a mark is ~300
/// bytes, a wire line at most 64 KiB), so a file without newlines (`/dev/zero`) cannot
/// take unbounded memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// How many skipped lines are named with their reasons.
const NAMED_SKIPS: usize = 5;

/// Rebuild a whole recorded run, line by line. Lines that cannot be used (a run cut short
/// ends in half a line; a newer leakcheck may add record types; a line may not be UTF-8
/// or may exceed [`MAX_LINE_BYTES`]) are skipped, counted and named with their reasons in
/// the timeline's warnings; a file whose first line is not a `run` header is an error.
pub fn read_run(path: &Path) -> Result<RecordedRun, RecordsError> {
    let file = fs::File::open(path).map_err(|source| RecordsError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_run_from(BufReader::new(file), path)
}

/// [`read_run`] from any reader; `path` names it in errors and warnings.
pub fn read_run_from(reader: impl BufRead, path: &Path) -> Result<RecordedRun, RecordsError> {
    let io_error = |source| RecordsError::Io {
        path: path.to_owned(),
        source,
    };
    let not_samples = |reason: String| RecordsError::NotSamples {
        path: path.to_owned(),
        reason,
    };
    let mut lines = BoundedLines::new(reader);
    let header = loop {
        match lines.next_line().map_err(io_error)? {
            None => return Err(not_samples("the file is empty".to_owned())),
            Some((_, Line::Text(t))) if t.trim().is_empty() => continue,
            Some((_, Line::Text(first))) => match serde_json::from_str::<Record>(&first) {
                Ok(Record::Run(h)) => break h,
                _ => {
                    let shown: String = first.chars().take(80).collect();
                    return Err(not_samples(format!(
                        "expected a {{\"type\":\"run\",…}} header on line 1, found {shown:?}"
                    )));
                }
            },
            Some((_, bad)) => {
                return Err(not_samples(format!(
                    "expected a {{\"type\":\"run\",…}} header on line 1, found {}",
                    bad.problem()
                )));
            }
        }
    };
    if header.format > SAMPLES_FORMAT {
        return Err(not_samples(format!(
            "record format {} is newer than this leakcheck understands ({SAMPLES_FORMAT})",
            header.format
        )));
    }
    let mut timeline = Timeline::default();
    let mut exit = None;
    let mut skipped: Vec<(usize, String)> = Vec::new();
    let mut skipped_count = 0;
    while let Some((number, line)) = lines.next_line().map_err(io_error)? {
        let problem = match line {
            Line::Text(t) if t.trim().is_empty() => continue,
            Line::Text(t) => match serde_json::from_str::<Record>(&t) {
                Ok(Record::Exit(e)) => {
                    exit = Some(e);
                    continue;
                }
                Ok(record) => {
                    timeline.apply(&record);
                    continue;
                }
                Err(e) => format!("not a record ({e})"),
            },
            bad => bad.problem(),
        };
        skipped_count += 1;
        if skipped.len() < NAMED_SKIPS {
            skipped.push((number, problem));
        }
    }
    if let Some(e) = &exit {
        timeline.decode = e.decode.clone();
    }
    if skipped_count > 0 {
        let shown: Vec<String> = skipped
            .iter()
            .map(|(n, why)| format!("line {n}: {why}"))
            .collect();
        let more = skipped_count - skipped.len();
        let more = if more > 0 {
            format!("; {more} more")
        } else {
            String::new()
        };
        timeline.warnings.push(format!(
            "{}: skipped {skipped_count} unreadable line(s) ({}{more})",
            path.display(),
            shown.join("; ")
        ));
    }
    Ok(RecordedRun {
        header,
        timeline,
        exit,
    })
}

/// One line of a samples file as read.
enum Line {
    Text(String),
    NotUtf8,
    TooLong(usize),
}

impl Line {
    fn problem(&self) -> String {
        match self {
            Line::Text(_) => "a line".to_owned(),
            Line::NotUtf8 => "a line that is not UTF-8".to_owned(),
            Line::TooLong(n) => format!(
                "a line of more than {n} bytes (longer than any record; is this a samples file?)"
            ),
        }
    }
}

/// Newline-separated lines, each at most [`MAX_LINE_BYTES`]; the rest of a longer line
/// is read and dropped without being kept.
struct BoundedLines<R> {
    reader: R,
    number: usize,
    buf: Vec<u8>,
}

impl<R: BufRead> BoundedLines<R> {
    fn new(reader: R) -> Self {
        Self {
            reader,
            number: 0,
            buf: Vec::new(),
        }
    }

    /// The next line with its 1-based number, `None` at the end of the file.
    fn next_line(&mut self) -> std::io::Result<Option<(usize, Line)>> {
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break;
            }
            any = true;
            let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if !too_long {
                if self.buf.len() + take > MAX_LINE_BYTES {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(&chunk[..take]);
                }
            }
            self.reader.consume(take + usize::from(done));
            if done {
                break;
            }
            if too_long && self.number == 0 {
                // A first line this long is no header: stop reading now.
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.number += 1;
        let line = if too_long {
            Line::TooLong(MAX_LINE_BYTES)
        } else {
            match String::from_utf8(std::mem::take(&mut self.buf)) {
                Ok(text) => Line::Text(text),
                Err(_) => Line::NotUtf8,
            }
        };
        Ok(Some((self.number, line)))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn lines(bytes: &[u8]) -> Vec<String> {
        let mut reader = BoundedLines::new(Cursor::new(bytes.to_vec()));
        let mut out = Vec::new();
        while let Some((n, line)) = reader.next_line().unwrap() {
            out.push(match line {
                Line::Text(t) => format!("{n}:{t}"),
                other => format!("{n}:<{}>", other.problem()),
            });
        }
        out
    }

    #[test]
    fn lines_are_split_numbered_and_bounded() {
        assert_eq!(lines(b"a\nb\n\nc"), ["1:a", "2:b", "3:", "4:c"]);
        assert_eq!(
            lines(b"ok\n\xff\xfe\nok"),
            ["1:ok", "2:<a line that is not UTF-8>", "3:ok"]
        );
        let mut long = vec![b'x'; MAX_LINE_BYTES + 10];
        long.extend_from_slice(b"\nnext\n");
        let mut file = b"first\n".to_vec();
        file.extend_from_slice(&long);
        let got = lines(&file);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[1].starts_with("2:<a line of more than"), "{}", got[1]);
        assert_eq!(got[2], "3:next");
    }
}
