//! The v1 wire format: JSON Lines on the fd named by `LEAKCHECK_FD`.
//!
//! One object per line, at most [`MAX_LINE_BYTES`] a line, tagged by `"type"`.
//! Unknown fields are ignored; unknown types, malformed, oversized and non-UTF-8
//! lines are counted by the [`Decoder`] and never fatal.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// Version written in `hello` and understood by this decoder.
pub const WIRE_VERSION: u32 = 1;
/// Longest line the decoder accepts (64 KiB); longer lines are skipped and counted.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// jemalloc statistics of the writing process, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocStats {
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
    pub mapped: u64,
    pub metadata: u64,
    /// Address space jemalloc keeps for reuse: read for completeness, never a leak signal.
    #[serde(default)]
    pub retained: u64,
}

/// Named in-process numbers beyond `rss_bytes` and `alloc` (the Python client's
/// `py.blocks`, `py.gc.gen0`, `torch.cuda.allocated`, …; [`crate::metrics`] says what
/// each known name means and its unit). Optional on `mark` and `checkpoint`: writers
/// without it omit it, and readers from before it ignore it.
pub type Stats = BTreeMap<String, f64>;

/// Reads a `stats` object keeping only its numbers: a writer's one bad value (`null`, a
/// string, an object) costs that value, not the whole mark.
pub fn finite_stats<'de, D: Deserializer<'de>>(d: D) -> Result<Stats, D::Error> {
    let raw: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, v)| Some((name, v.as_f64().filter(|x| x.is_finite())?)))
        .collect())
}

/// What a program measured of itself at a mark or a checkpoint: its RSS, its allocator's
/// statistics and named numbers. One type for the wire's `mark` and `checkpoint` and for
/// the records the runner makes of them; each field is optional on the wire.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// The program's RSS, as it read it (`rss` in `samples.jsonl` files of before
    /// 2026-12-07, still read).
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "rss")]
    pub rss_bytes: Option<u64>,
    /// jemalloc statistics (absent for writers without jemalloc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alloc: Option<AllocStats>,
    /// Named in-process numbers (`py.blocks`, `torch.cuda.allocated`, …), as sent.
    #[serde(
        default,
        skip_serializing_if = "Stats::is_empty",
        deserialize_with = "finite_stats"
    )]
    pub stats: Stats,
}

/// Whether a `session` message opens or closes a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEvent {
    Start,
    End,
}

/// One line of the wire format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// First line: who is talking.
    Hello {
        version: u32,
        pid: u32,
        /// `jemalloc`, `system`, `dhat`, `python`, …
        allocator: String,
    },
    /// End of one iteration, with in-process stats taken at that moment.
    Mark {
        iteration: u64,
        /// [`crate::monotonic_ns`] when the mark was taken.
        t_ns: u64,
        #[serde(flatten)]
        measured: Measured,
    },
    /// A session boundary (training sessions, epochs, phases).
    Session {
        event: SessionEvent,
        id: u64,
        label: String,
        t_ns: u64,
    },
    /// Free text shown in the report.
    Note { text: String, t_ns: u64 },
    /// A quiescent point (after releasing a session's state): the level retained memory
    /// is measured at. A writer sends a few readings of one checkpoint, a few ms apart;
    /// the runner samples the process tree meanwhile. Readers of version 1 before it
    /// existed skip it as an unknown type.
    Checkpoint {
        id: u64,
        label: String,
        t_ns: u64,
        #[serde(flatten)]
        measured: Measured,
    },
    /// Where memory grew between two marks, measured by the writer (the Python client's
    /// tracemalloc snapshots on an attribution pass). Each message covers the run from
    /// its first snapshot to now; the last one sent is the one that counts.
    Attribution {
        /// How the sites were measured (`tracemalloc`).
        method: String,
        /// The iterations of the marks the two snapshots were taken at.
        from_iteration: u64,
        to_iteration: u64,
        /// Marks written between the two snapshots: the divisor of `bytes`.
        marks: u64,
        t_ns: u64,
        #[serde(default)]
        sites: Vec<WireSite>,
    },
    /// The workload finished normally.
    End { t_ns: u64 },
}

/// One allocation site of an [`Message::Attribution`]: what it gained between the two
/// snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireSite {
    /// `path:line` of the frame in the program's own code.
    pub location: String,
    /// The function (or `<module>`) around that line.
    #[serde(default)]
    pub function: String,
    /// Bytes the site gained (negative: released).
    pub bytes: i64,
    #[serde(default)]
    pub blocks: i64,
    /// `path:line in function`, innermost first.
    #[serde(default)]
    pub stack: Vec<String>,
}

/// Append `msg` as one JSON line, including the trailing `'\n'`.
///
/// The caller keeps the buffer across calls so a mark allocates nothing once warm.
pub fn encode(msg: &Message, buf: &mut Vec<u8>) {
    let start = buf.len();
    // Serialising these types cannot fail (no maps, no non-string keys, no custom
    // serialisers); if it ever did, dropping the line beats corrupting the stream.
    if serde_json::to_writer(&mut *buf, msg).is_err() {
        buf.truncate(start);
        return;
    }
    buf.push(b'\n');
}

/// What the [`Decoder`] saw, so the runner can report a noisy or broken writer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodeStats {
    /// Non-empty lines seen, whatever became of them (a truncated last line included).
    pub lines: u64,
    /// Lines that became a [`Message`].
    pub decoded: u64,
    /// Lines that are not JSON, or JSON that does not fit the message it names.
    pub malformed: u64,
    /// Lines longer than the decoder's limit (skipped without buffering them).
    pub oversized: u64,
    /// Lines that are not UTF-8.
    pub invalid_utf8: u64,
    /// Well-formed objects whose `type` this version does not know.
    pub unknown_types: u64,
    /// A last line without its newline that did not decode (the writer died mid-line).
    pub truncated: u64,
    /// The distinct unknown type names (at most [`MAX_UNKNOWN_NAMES`] kept).
    pub unknown_type_names: Vec<String>,
    /// The first problems with their line numbers and reasons, at most
    /// [`MAX_PROBLEMS_PER_KIND`] of each kind (`line 2: mark: missing field "iteration"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// Cap on remembered unknown type names: a garbage stream must not grow memory.
pub const MAX_UNKNOWN_NAMES: usize = 32;

/// Cap on the problems named per kind (malformed, oversized, not UTF-8, truncated).
pub const MAX_PROBLEMS_PER_KIND: u64 = 3;

/// Incremental decoder of the wire format: feed it any chunking of the byte stream.
///
/// Memory is bounded by the line limit: an oversized line is counted and skipped
/// up to its newline without being buffered.
#[derive(Debug)]
pub struct Decoder {
    max_line: usize,
    pending: Vec<u8>,
    /// Inside an oversized line: drop bytes until the next newline.
    skipping: bool,
    /// Lines started so far, blank ones included: the number of the current line.
    line_no: u64,
    stats: DecodeStats,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with the v1 limit of [`MAX_LINE_BYTES`] a line.
    pub fn new() -> Self {
        Self::with_max_line(MAX_LINE_BYTES)
    }

    /// A decoder that skips lines longer than `max` bytes (newline excluded).
    pub fn with_max_line(max: usize) -> Self {
        Self {
            max_line: max,
            pending: Vec::new(),
            skipping: false,
            line_no: 0,
            stats: DecodeStats::default(),
        }
    }

    /// Decode every complete line in `bytes`, appending messages to `out`;
    /// a partial last line is kept for the next call.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<Message>) {
        while !bytes.is_empty() {
            let (segment, complete) = match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => (&bytes[..i], true),
                None => (bytes, false),
            };
            bytes = if complete {
                &bytes[segment.len() + 1..]
            } else {
                &[]
            };
            if !self.skipping {
                if self.pending.len() + segment.len() > self.max_line {
                    self.skipping = true;
                    self.pending.clear();
                    self.stats.oversized += 1;
                    let (n, max) = (self.line_no + 1, self.max_line);
                    self.note(
                        self.stats.oversized,
                        format!("line {n}: longer than {max} bytes"),
                    );
                } else if complete && self.pending.is_empty() {
                    // Fast path: the whole line is in this chunk, no copy.
                    self.decode_line(segment, out);
                    continue;
                } else {
                    self.pending.extend_from_slice(segment);
                }
            }
            if complete {
                if self.skipping {
                    self.skipping = false;
                    self.line_no += 1;
                    self.stats.lines += 1;
                } else {
                    let line = std::mem::take(&mut self.pending);
                    self.decode_line(&line, out);
                    self.pending = line;
                    self.pending.clear();
                }
            }
        }
    }

    /// End of stream: a last line without its newline is decoded if it is a
    /// complete message, else counted as truncated.
    pub fn finish(&mut self, out: &mut Vec<Message>) {
        if self.skipping {
            // Already counted as oversized; it is also the truncated last line.
            self.skipping = false;
            self.stats.lines += 1;
            self.stats.truncated += 1;
            return;
        }
        if self.pending.iter().all(u8::is_ascii_whitespace) {
            self.pending.clear();
            return;
        }
        let line = std::mem::take(&mut self.pending);
        self.stats.lines += 1;
        self.line_no += 1;
        match std::str::from_utf8(&line)
            .ok()
            .and_then(|s| parse_message(s).ok())
        {
            Some(msg) => {
                self.stats.decoded += 1;
                out.push(msg);
            }
            None => {
                self.stats.truncated += 1;
                let n = self.line_no;
                self.note(
                    self.stats.truncated,
                    format!("line {n}: the stream ended in the middle of it"),
                );
            }
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    fn decode_line(&mut self, line: &[u8], out: &mut Vec<Message>) {
        self.line_no += 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return; // blank lines are separators, not data
        }
        self.stats.lines += 1;
        let Ok(text) = std::str::from_utf8(line) else {
            self.stats.invalid_utf8 += 1;
            let n = self.line_no;
            self.note(self.stats.invalid_utf8, format!("line {n}: not UTF-8"));
            return;
        };
        match parse_message(text) {
            Ok(msg) => {
                self.stats.decoded += 1;
                out.push(msg);
            }
            Err(e) => self.classify_failure(text, &e),
        }
    }

    /// Keep `problem` when it is among the first of its kind (`count` is that kind's
    /// counter, already incremented).
    fn note(&mut self, count: u64, problem: String) {
        if count <= MAX_PROBLEMS_PER_KIND {
            self.stats.problems.push(problem);
        }
    }

    /// A line that did not decode: an unknown `type` (a newer writer) or garbage.
    fn classify_failure(&mut self, text: &str, error: &serde_json::Error) {
        let value: Option<serde_json::Value> = serde_json::from_str(text).ok();
        let tag = value
            .as_ref()
            .and_then(|v| v.get("type"))
            .and_then(|t| t.as_str());
        let Some(name) = tag.filter(|t| !KNOWN_TYPES.contains(t)) else {
            self.stats.malformed += 1;
            // serde's message without its "at line 1 column N" (each wire line is one line).
            let reason = error.to_string();
            let reason = reason.split(" at line ").next().unwrap_or(&reason);
            let what = match (tag, &value) {
                (Some(kind), _) => format!("{kind}: {reason}"),
                (None, Some(_)) => format!("no \"type\" naming a message ({reason})"),
                (None, None) => format!("not JSON ({reason})"),
            };
            let n = self.line_no;
            self.note(self.stats.malformed, format!("line {n}: {what}"));
            return;
        };
        self.stats.unknown_types += 1;
        let names = &mut self.stats.unknown_type_names;
        if names.len() < MAX_UNKNOWN_NAMES && !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
            // Once per name: a newer writer should be visible, not drown the log.
            let shown: String = name.chars().take(64).collect();
            eprintln!(
                "leakcheck: ignoring unknown wire message type {shown:?} (this decoder knows v{WIRE_VERSION})"
            );
        }
    }
}

/// One line as a message. Python's `json.dumps` writes a diverged number as a bare `NaN`,
/// `Infinity` or `-Infinity`, which JSON does not have: such a line is read again with
/// those tokens as `null`, so a value that is not a number costs that value (an optional
/// field or a stat left out), not the mark.
fn parse_message(text: &str) -> Result<Message, serde_json::Error> {
    serde_json::from_str(text).or_else(|error| match non_finite_as_null(text) {
        Some(fixed) => serde_json::from_str(&fixed).map_err(|_| error),
        None => Err(error),
    })
}

/// `text` with every bare `NaN`, `Infinity` and `-Infinity` outside strings replaced by
/// `null`; `None` when there is none.
fn non_finite_as_null(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped, mut replaced) = (false, false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if let Some(token) = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t))
        {
            out.push_str("null");
            rest = &rest[token.len()..];
            replaced = true;
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    replaced.then_some(out)
}

/// The `type` tags of v1, to tell an unknown type from a known one with bad fields.
const KNOWN_TYPES: [&str; 7] = [
    "hello",
    "mark",
    "session",
    "note",
    "checkpoint",
    "attribution",
    "end",
];
