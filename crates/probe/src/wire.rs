//! The v1 wire format: JSON Lines on the fd named by `LEAKCHECK_FD`.
//!
//! One object per line, at most [`MAX_LINE_BYTES`] a line, tagged by `"type"`.
//! Unknown fields are ignored; unknown types, malformed, oversized and non-UTF-8
//! lines are counted by the [`Decoder`] and never fatal.
//!
//! (CONTRACT — signatures fixed, bodies being filled in by the probe work.)

use serde::{Deserialize, Serialize};

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
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rss_bytes: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alloc: Option<AllocStats>,
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
    /// The workload finished normally.
    End { t_ns: u64 },
}

// To be provided by the probe work:
//   pub fn encode(msg: &Message, buf: &mut Vec<u8>)            // one line incl. '\n'
//   pub struct Decoder; Decoder::new() / with_max_line(usize)
//   Decoder::feed(&mut self, bytes: &[u8], out: &mut Vec<Message>)
//   Decoder::finish(&mut self, out: &mut Vec<Message>)          // a truncated last line is counted
//   Decoder::stats(&self) -> &DecodeStats
//   #[derive(Serialize)] pub struct DecodeStats { lines, decoded, malformed, oversized,
//       invalid_utf8, unknown_types, truncated: u64, unknown_type_names: Vec<String> }
