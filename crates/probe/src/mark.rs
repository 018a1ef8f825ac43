//! The in-process mark API: how a Rust workload tells the runner where it is.
//!
//! ```no_run
//! let probe = leakcheck_probe::Probe::from_env(); // a no-op unless LEAKCHECK_FD is set
//! probe.session_start(1, "train 3 samples");
//! for i in 0..100 {
//!     // ... one iteration ...
//!     probe.mark(i);
//! }
//! probe.session_end(1, "train 3 samples");
//! probe.end();
//! ```
//!
//! Writing never kills or slows the workload: the first write error (EPIPE when the
//! runner went away) is reported once on stderr and the probe goes inert.

use crate::process::ProcessMemory;
use crate::wire::{self, AllocStats, MAX_LINE_BYTES, Message, SessionEvent, WIRE_VERSION};
use crate::{alloc, monotonic_ns};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

/// Environment variable naming the fd the runner reads the wire format from.
pub const FD_ENV: &str = "LEAKCHECK_FD";

/// Readings sent per [`Probe::checkpoint`].
pub const CHECKPOINT_READINGS: usize = 5;

/// Time between two readings of one checkpoint.
pub const CHECKPOINT_SPACING: std::time::Duration = std::time::Duration::from_millis(10);

/// The in-process stats a mark carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MarkStats {
    pub rss_bytes: Option<u64>,
    pub alloc: Option<AllocStats>,
}

impl From<MarkStats> for wire::Measured {
    fn from(s: MarkStats) -> Self {
        wire::Measured {
            rss_bytes: s.rss_bytes,
            alloc: s.alloc,
            stats: wire::Stats::new(),
        }
    }
}

impl MarkStats {
    /// Read RSS (through `rss`, when given) and jemalloc stats now.
    fn read(rss: Option<&mut ProcessMemory>) -> Self {
        Self {
            rss_bytes: rss.and_then(|p| p.rss_bytes().ok()),
            alloc: alloc::stats().ok(),
        }
    }
}

/// Writes marks, sessions and notes to the runner. `Send + Sync`: share it
/// (e.g. in an `Arc`) with worker threads; writes are serialised by a mutex.
#[derive(Debug)]
pub struct Probe {
    inner: Option<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    fd: RawFd,
    /// Set when the probe owns the fd (tests, benches); `from_env` borrows it for
    /// the life of the process.
    _owned: Option<OwnedFd>,
    /// The pipe's `(device, inode)` when the fd came from `LEAKCHECK_FD`: checked before
    /// every write (an `fstat`, well under a microsecond).
    pipe: Option<(u64, u64)>,
    buf: Vec<u8>,
    rss: Option<ProcessMemory>,
    last: MarkStats,
    /// After the first write error nothing is written (and nothing is measured).
    dead: bool,
}

impl Probe {
    /// The probe the runner asked for: writes to the fd in `LEAKCHECK_FD`, or is an
    /// inert no-op when the variable is unset. A bad value is reported on stderr
    /// (naming the value and what was expected) and also gives an inert probe.
    pub fn from_env() -> Probe {
        match std::env::var(FD_ENV) {
            Ok(value) => Probe::from_env_value(&value),
            Err(_) => Probe::inert(),
        }
    }

    /// What [`Probe::from_env`] makes of the variable's value: a probe on that fd when it
    /// is an open pipe (the runner always passes one), else an inert probe after one
    /// stderr line naming the value. The pipe's identity is kept: a program that closes
    /// the fd and puts its own file on that number never gets a line of ours.
    pub fn from_env_value(value: &str) -> Probe {
        let fd = match value.trim().parse::<RawFd>() {
            Ok(fd) if fd >= 0 => fd,
            _ => {
                eprintln!(
                    "leakcheck-probe: {FD_ENV}={value:?} is not a file descriptor number (expected a non-negative integer); marks are disabled"
                );
                return Probe::inert();
            }
        };
        let pipe = match identity(fd) {
            Ok((mode, dev, ino)) if mode & libc::S_IFMT == libc::S_IFIFO => (dev, ino),
            Ok(_) => {
                eprintln!(
                    "leakcheck-probe: {FD_ENV}={fd} is not a pipe (expected the runner's pipe); marks are disabled"
                );
                return Probe::inert();
            }
            Err(e) => {
                eprintln!(
                    "leakcheck-probe: {FD_ENV}={fd} is not an open file descriptor ({e}); marks are disabled"
                );
                return Probe::inert();
            }
        };
        // Close-on-exec: worker processes this program spawns must not hold the
        // runner's pipe open (the runner would never see EOF when we exit). Not a
        // standard stream (LEAKCHECK_FD=1): that one is the program's own.
        if fd > 2 {
            // SAFETY: fcntl on an open fd only queries and sets its flags.
            unsafe {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags >= 0 {
                    libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
                }
            }
        }
        Probe::active(fd, None, Some(pipe))
    }

    /// A probe writing to `fd`, which it owns and closes on drop (tests, benches,
    /// programs that set the pipe up themselves).
    pub fn from_fd(fd: OwnedFd) -> Probe {
        let raw = fd.as_raw_fd();
        Probe::active(raw, Some(fd), None)
    }

    /// A probe that does nothing.
    pub fn inert() -> Probe {
        Probe { inner: None }
    }

    fn active(fd: RawFd, owned: Option<OwnedFd>, pipe: Option<(u64, u64)>) -> Probe {
        let allocator = if alloc::stats().is_ok() {
            "jemalloc"
        } else {
            "system"
        };
        let probe = Probe {
            inner: Some(Mutex::new(Inner {
                fd,
                _owned: owned,
                pipe,
                buf: Vec::with_capacity(512),
                rss: ProcessMemory::current().ok(),
                last: MarkStats::default(),
                dead: false,
            })),
        };
        probe.send(|_| Message::Hello {
            version: WIRE_VERSION,
            pid: std::process::id(),
            allocator: allocator.to_owned(),
        });
        probe
    }

    /// Whether messages are written (false when inert, or after a write error).
    pub fn is_active(&self) -> bool {
        self.with_inner(|inner| !inner.dead).unwrap_or(false)
    }

    /// End of iteration `iteration`: in-process RSS and jemalloc stats, now.
    pub fn mark(&self, iteration: u64) {
        self.send(|inner| {
            let t_ns = monotonic_ns();
            inner.last = MarkStats::read(inner.rss.as_mut());
            Message::Mark {
                iteration,
                t_ns,
                measured: inner.last.into(),
            }
        });
    }

    /// A session (training run, epoch, phase) begins.
    pub fn session_start(&self, id: u64, label: &str) {
        self.session(SessionEvent::Start, id, label);
    }

    /// A session ends; the runner checks what it left behind.
    pub fn session_end(&self, id: u64, label: &str) {
        self.session(SessionEvent::End, id, label);
    }

    fn session(&self, event: SessionEvent, id: u64, label: &str) {
        self.send(|_| Message::Session {
            event,
            id,
            label: clip(label),
            t_ns: monotonic_ns(),
        });
    }

    /// A quiescent point, e.g. right after releasing a session's state: retained memory
    /// is measured here (checkpoint k minus checkpoint 1, with an interval). jemalloc's
    /// dirty pages are purged first, then [`CHECKPOINT_READINGS`] readings are sent
    /// [`CHECKPOINT_SPACING`] apart while the runner samples the process tree; the call
    /// returns after about 40 ms. Call it where nothing else allocates.
    pub fn checkpoint(&self, id: u64, label: &str) {
        if !self.is_active() {
            return;
        }
        let _ = alloc::purge();
        for reading in 0..CHECKPOINT_READINGS {
            if reading > 0 {
                std::thread::sleep(CHECKPOINT_SPACING);
            }
            self.send(|inner| {
                let stats = MarkStats::read(inner.rss.as_mut());
                Message::Checkpoint {
                    id,
                    label: clip(label),
                    t_ns: monotonic_ns(),
                    measured: stats.into(),
                }
            });
        }
    }

    /// Free text shown in the report (clipped so the line fits the wire limit).
    pub fn note(&self, text: &str) {
        self.send(|_| Message::Note {
            text: clip(text),
            t_ns: monotonic_ns(),
        });
    }

    /// The workload finished normally.
    pub fn end(&self) {
        self.send(|_| Message::End {
            t_ns: monotonic_ns(),
        });
    }

    /// The stats carried by the last mark (None when inert or before any mark).
    pub fn last_mark_stats(&self) -> Option<MarkStats> {
        self.with_inner(|inner| inner.last)
    }

    fn with_inner<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> Option<T> {
        let mutex = self.inner.as_ref()?;
        // A panic in another thread mid-write leaves nothing inconsistent here.
        let mut guard = mutex.lock().unwrap_or_else(|p| p.into_inner());
        Some(f(&mut guard))
    }

    fn send(&self, make: impl FnOnce(&mut Inner) -> Message) {
        self.with_inner(|inner| {
            if inner.dead {
                return;
            }
            if let Some(pipe) = inner.pipe
                && identity(inner.fd).map(|(_, dev, ino)| (dev, ino)).ok() != Some(pipe)
            {
                inner.dead = true;
                eprintln!(
                    "leakcheck-probe: {FD_ENV} {} no longer refers to leakcheck's pipe (closed or replaced); marks are no longer sent",
                    inner.fd
                );
                return;
            }
            let msg = make(inner);
            inner.buf.clear();
            wire::encode(&msg, &mut inner.buf);
            if let Err(e) = write_all(inner.fd, &inner.buf) {
                inner.dead = true;
                eprintln!(
                    "leakcheck-probe: writing to {FD_ENV} fd {} failed ({e}); the runner is gone, marks are disabled from here on",
                    inner.fd
                );
            }
        });
    }
}

/// Longest label/note text we send; JSON escaping can grow text up to 6x, so this
/// keeps any line under [`MAX_LINE_BYTES`].
const MAX_TEXT_BYTES: usize = MAX_LINE_BYTES / 6 - 64;

fn clip(text: &str) -> String {
    if text.len() <= MAX_TEXT_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// `(st_mode, st_dev, st_ino)` of an open fd.
fn identity(fd: RawFd) -> std::io::Result<(libc::mode_t, u64, u64)> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a whole `stat` into the buffer when it returns 0.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: initialised by the successful fstat above.
    let st = unsafe { st.assume_init() };
    Ok((st.st_mode, st.st_dev, st.st_ino))
}

/// write(2) until done: raw, so EPIPE is an error value (Rust binaries ignore SIGPIPE)
/// and no std buffering can delay a mark.
fn write_all(fd: RawFd, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid readable slice for its length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                "write returned 0",
            ));
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}
