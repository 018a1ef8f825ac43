//! leakcheck-records: what one run leaves behind, shared by the runner (which writes it
//! live) and the judge (which reads it live and offline), so neither depends on the other.
//!
//! * [`timeline`]: the record types of `samples.jsonl` (format documented there), the
//!   merged [`Timeline`] and the series of each metric.
//! * [`samples`]: reading a recorded run back ([`read_run`]).
//! * `cut`: the run as a look of a sequential plan sees it, and the levels at its
//!   checkpoints (methods of [`Timeline`]).

mod cut;
pub mod samples;
pub mod timeline;

pub use leakcheck_probe::metrics;
pub use leakcheck_probe::wire::{DecodeStats, SessionEvent};
pub use leakcheck_vocab::{RunEnding, Termination};
pub use samples::{RecordedRun, RecordsError, read_run, read_run_from};
pub use timeline::{
    ALL_METRICS, AttributionRecord, CHECKPOINT_WINDOW_S, CheckpointRecord, ExitRecord, GpuRecord,
    HelloRecord, MarkRecord, PROCS_INTERVAL_S, ProcessRecord, ProcsRecord, Record, RunHeader,
    SAMPLES_FILE, SAMPLES_FORMAT, SessionRecord, Timeline, TreeRecord, known_metrics, unit_of,
};
