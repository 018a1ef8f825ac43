//! The two threads beside the merging one: the wire reader (decodes `LEAKCHECK_FD`) and
//! the outside sampler. The sampler reads the program's RSS every `rss_interval` (5 ms: a
//! kept-open `statm`, ~1.25 µs), walks the process tree every `rss_interval` × its process
//! count (a walk reads each process, so its cost per second stays that of one process;
//! a lone program is walked every tick), PSS at most every `pss_interval`, GPU every
//! `gpu_interval`. Both send [`Input`] to the merging thread.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use leakcheck_probe::monotonic_ns;
use leakcheck_probe::wire::{DecodeStats, Decoder, Message, Stats};
use leakcheck_records::{GpuRecord, PROCS_INTERVAL_S, ProcessRecord, ProcsRecord, TreeRecord};
use rustix::event::{PollFd, PollFlags, Timespec};

use crate::spec::RunSpec;

/// How often the merging thread wakes up without input: bounds the latency of exit
/// detection, of deadlines and of flushing.
pub(crate) const TICK: Duration = Duration::from_millis(25);

/// Seconds between two `CLOCK_MONOTONIC` readings, negative when `t_ns` is earlier.
pub(crate) fn since(t_ns: u64, origin_ns: u64) -> f64 {
    (t_ns as i128 - origin_ns as i128) as f64 / 1e9
}

/// How long the wire reader waits for input before checking whether to stop.
const READ_POLL: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 100_000_000,
};

/// Input of the merging thread.
pub(crate) enum Input {
    Wire(Message),
    WireDone(DecodeStats),
    Tree(TreeRecord),
    Procs(ProcsRecord),
    Process(ProcessRecord),
    Gpu(GpuRecord),
    GpuStatus(String),
    Warning(String),
}

/// Starts the wire reader: it decodes until EOF, or until `stop` is set while no input
/// comes (a pipe held open by an escaped process must not keep the run alive).
pub(crate) fn spawn_reader(
    read_end: OwnedFd,
    tx: Sender<Input>,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("leakcheck-wire".to_owned())
        .spawn(move || read_wire(File::from(read_end), &tx, &stop))
}

fn read_wire(mut file: File, tx: &Sender<Input>, stop: &AtomicBool) {
    let mut decoder = Decoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut messages = Vec::new();
    loop {
        let ready = {
            let mut fds = [PollFd::new(&file, PollFlags::IN)];
            rustix::event::poll(&mut fds, Some(&READ_POLL))
        };
        match ready {
            Ok(0) if stop.load(Ordering::Relaxed) => break,
            Ok(0) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            _ => {}
        }
        match io::Read::read(&mut file, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => decoder.feed(&buf[..n], &mut messages),
        }
        for m in messages.drain(..) {
            let _ = tx.send(Input::Wire(m));
        }
    }
    decoder.finish(&mut messages);
    for m in messages.drain(..) {
        let _ = tx.send(Input::Wire(m));
    }
    let _ = tx.send(Input::WireDone(decoder.stats().clone()));
}

/// What the outside sampler samples, and how often.
struct OutsideSampler {
    /// Where the tree walk starts: the program, or the supervisor above it (then left
    /// out of the sums).
    tree_root: u32,
    /// The program, whose RSS is `rss`.
    pid: u32,
    spawn_ns: u64,
    rss_interval: Duration,
    gpu_interval: Duration,
    with_pss: bool,
    pss_interval: Duration,
}

/// What the merging thread can ask of the outside sampler.
pub(crate) enum SamplerCommand {
    /// A checkpoint arrived: sample the tree [`BURST_SAMPLES`] times, [`BURST_SPACING`]
    /// apart, while the program holds still.
    Burst,
}

/// A program with no child is walked this often for new children; between walks its own
/// RSS is its tree's (a walk lists its tasks' children: a dozen syscalls, against one
/// `pread` of its kept-open `statm`).
const LONE_WALK_INTERVAL: Duration = Duration::from_millis(25);

/// How often the registered memory sources are read (each reads a procfs or cgroup
/// file or two: tens of µs, so not at the RSS rate); checkpoint bursts read them too.
const SOURCE_INTERVAL: Duration = Duration::from_millis(100);

/// The registered memory sources opened for one program.
struct Sources {
    open: Vec<Box<dyn leakcheck_probe::Sampler>>,
    readings: Vec<leakcheck_probe::Reading>,
}

impl Sources {
    fn open(pid: u32) -> Sources {
        Sources {
            open: leakcheck_probe::sources::open_all(pid).0,
            readings: Vec::new(),
        }
    }

    /// Every source's readings into `stats`, by metric name; a source that fails this
    /// time (the program is exiting) adds nothing.
    fn read_into(&mut self, stats: &mut Stats) {
        for source in &mut self.open {
            self.readings.clear();
            if source.sample(&mut self.readings).is_ok() {
                for r in &self.readings {
                    stats.insert(r.metric.clone().into_owned(), r.bytes as f64);
                }
            }
        }
    }
}

/// How often the sampler hands its samples over (the merging thread's tick).
const SEND_INTERVAL: Duration = TICK;

/// Tree samples taken at a checkpoint.
const BURST_SAMPLES: u32 = 5;
const BURST_SPACING: Duration = Duration::from_millis(8);

/// Starts the outside sampler; dropping the returned sender stops it.
pub(crate) fn spawn_sampler(
    spec: &RunSpec,
    tree_root: u32,
    pid: u32,
    spawn_ns: u64,
    tx: Sender<Input>,
) -> io::Result<(Sender<SamplerCommand>, JoinHandle<()>)> {
    let (stop_tx, stop_rx) = mpsc::channel::<SamplerCommand>();
    let sampler = OutsideSampler {
        tree_root,
        pid,
        spawn_ns,
        rss_interval: spec.rss_interval,
        gpu_interval: spec.gpu_interval,
        with_pss: spec.with_pss,
        pss_interval: spec.pss_interval,
    };
    let handle = thread::Builder::new()
        .name("leakcheck-sampler".to_owned())
        .spawn(move || sampler.run(&tx, &stop_rx))?;
    Ok((stop_tx, handle))
}

impl OutsideSampler {
    fn run(self, tx: &Sender<Input>, commands: &Receiver<SamplerCommand>) {
        let mut tree = leakcheck_probe::process::ProcessTree::new(self.tree_root);
        if self.tree_root != self.pid {
            tree = tree.exclude_root();
        }
        // NVML is loaded after the first tree sample: its init can take a while on a
        // machine with a driver, and the start of the run matters most.
        let mut gpu: Option<crate::gpu::Gpu> = None;
        let mut warned = false;
        let mut pids: Vec<u32> = vec![self.pid];
        // The program's own statm, kept open: read between walks of a larger tree.
        let mut own = match leakcheck_probe::process::ProcessMemory::open(self.pid) {
            Ok(own) => own,
            Err(e) => {
                let _ = tx.send(Input::Warning(format!(
                    "cannot sample the RSS of pid {}: {e}",
                    self.pid
                )));
                return;
            }
        };
        // The registered memory sources (`leakcheck_probe::sources`); one that cannot be
        // read here (no cgroup filesystem) is left out.
        let mut sources = Sources::open(self.pid);
        let now = Instant::now();
        let (mut next_rss, mut next_gpu, mut next_pss, mut next_walk) = (now, now, now, now);
        let mut next_sources = now;
        // Each process's RSS about once a second, and who each process is when first seen.
        let (mut next_procs, mut known) = (now, std::collections::HashSet::new());
        let mut burst_left = 0;
        // PSS as asked, until it cannot be read.
        let mut with_pss = self.with_pss;
        let mut batch: Vec<TreeRecord> = Vec::new();
        let mut next_send = now;
        loop {
            let now = Instant::now();
            if now >= next_rss {
                // A checkpoint's burst reads PSS too: the level retained memory is measured at.
                let pss = with_pss && (now >= next_pss || burst_left > 0);
                if pss {
                    next_pss = now + self.pss_interval;
                }
                // The tree is walked every interval × its process count (a walk reads every
                // process); between walks of a tree of several, the program's own RSS alone.
                let walk = burst_left > 0 || pss || now >= next_walk;
                let sample = if walk {
                    let sampled = match tree.sample(pss) {
                        // Another user's process: PSS cannot be read, RSS still can.
                        Err(leakcheck_probe::SampleError::Io(e))
                            if pss && e.kind() == io::ErrorKind::PermissionDenied =>
                        {
                            with_pss = false;
                            let _ = tx.send(Input::Warning(format!(
                                "PSS is off: {e} (smaps_rollup of another user's process needs the same user, or CAP_SYS_PTRACE); RSS goes on"
                            )));
                            tree.sample(false)
                        }
                        other => other,
                    };
                    sampled.map(|s| {
                        // Which process grows only means something for a tree of
                        // several: a lone program's own line is its `rss`.
                        if now >= next_procs && s.per_process.len() >= 2 {
                            next_procs = now + Duration::from_secs_f64(PROCS_INTERVAL_S);
                            self.send_procs(tx, &s.per_process, &mut known);
                        }
                        let root = s
                            .per_process
                            .iter()
                            .find(|&&(p, _)| p == self.pid)
                            .map_or(0, |&(_, rss)| rss);
                        pids.clone_from(&s.pids);
                        let walk_every = match s.pids.len() {
                            0 | 1 => self.rss_interval.max(LONE_WALK_INTERVAL),
                            n => self.rss_interval * n as u32,
                        };
                        next_walk = now + walk_every;
                        TreeRecord {
                            t_s: since(monotonic_ns(), self.spawn_ns),
                            rss: root,
                            rss_tree: Some(s.rss_bytes),
                            pss_tree: s.pss_bytes,
                            pids: s.pids.len() as u32,
                            stats: Stats::new(),
                        }
                    })
                } else {
                    own.rss_bytes().map(|rss| TreeRecord {
                        t_s: since(monotonic_ns(), self.spawn_ns),
                        rss,
                        // A program alone at the last walk is its own tree.
                        rss_tree: (pids == [self.pid]).then_some(rss),
                        pss_tree: None,
                        pids: pids.len() as u32,
                        stats: Stats::new(),
                    })
                };
                match sample {
                    // No resident page at all: the program is exiting (a zombie's statm).
                    Ok(record) if record.rss == 0 => {}
                    Ok(mut record) => {
                        if burst_left > 0 || now >= next_sources {
                            next_sources = now + SOURCE_INTERVAL;
                            sources.read_into(&mut record.stats);
                        }
                        batch.push(record);
                    }
                    // The root exited; the merging thread is about to notice.
                    Err(leakcheck_probe::SampleError::Gone { .. }) => {}
                    Err(e) if !warned => {
                        warned = true;
                        let _ = tx.send(Input::Warning(format!(
                            "sampling the process tree of pid {} failed: {e}",
                            self.pid
                        )));
                    }
                    Err(_) => {}
                }
                if burst_left > 0 {
                    burst_left -= 1;
                    next_rss = now + BURST_SPACING;
                } else {
                    // Keep the cadence; after a stall, skip the missed ticks.
                    next_rss += self.rss_interval;
                    if next_rss < now {
                        next_rss = now + self.rss_interval;
                    }
                }
            }
            if now >= next_send {
                send_batch(tx, &mut batch);
                next_send = now + SEND_INTERVAL;
            }
            let gpu = gpu.get_or_insert_with(|| {
                let gpu = crate::gpu::Gpu::open();
                let _ = tx.send(Input::GpuStatus(gpu.status()));
                gpu
            });
            if gpu.available() && now >= next_gpu {
                let (process, device) = gpu.sample(&pids);
                let t_s = since(monotonic_ns(), self.spawn_ns);
                let _ = tx.send(Input::Gpu(GpuRecord {
                    t_s,
                    process,
                    device,
                }));
                next_gpu = now + self.gpu_interval;
            }
            let wake = if gpu.available() {
                next_rss.min(next_gpu)
            } else {
                next_rss
            };
            match commands.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(SamplerCommand::Burst) => {
                    burst_left = BURST_SAMPLES;
                    next_rss = Instant::now();
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        send_batch(tx, &mut batch);
    }
}

impl OutsideSampler {
    /// Each process's RSS at this walk, after a record of each process not seen before
    /// (its command line, read once: it is the process's name in the report).
    fn send_procs(
        &self,
        tx: &Sender<Input>,
        per_process: &[(u32, u64)],
        known: &mut std::collections::HashSet<u32>,
    ) {
        let t_s = since(monotonic_ns(), self.spawn_ns);
        // Only new pids are read (a pid reused within the run keeps its first name).
        for &(pid, _) in per_process {
            if known.contains(&pid) {
                continue;
            }
            let Some(info) = leakcheck_probe::process::process_info(pid) else {
                continue;
            };
            known.insert(pid);
            let _ = tx.send(Input::Process(ProcessRecord {
                t_s,
                pid,
                ppid: info.ppid,
                command: info.command,
            }));
        }
        let _ = tx.send(Input::Procs(ProcsRecord {
            t_s,
            rss: per_process.to_vec(),
        }));
    }
}

/// Hands the samples taken since the last batch to the merging thread: one wake-up of it
/// per batch rather than one per sample.
fn send_batch(tx: &Sender<Input>, batch: &mut Vec<TreeRecord>) {
    for record in batch.drain(..) {
        let _ = tx.send(Input::Tree(record));
    }
}
