//! `Probe` end to end: a child process (this test binary, re-run in a child role)
//! writes to a pipe named by LEAKCHECK_FD; the parent decodes what arrives.

use leakcheck_probe::wire::{Decoder, Measured, Message, SessionEvent};
use leakcheck_probe::{Probe, alloc};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const ROLE: &str = "LEAKCHECK_PROBE_TEST_ROLE";
const MARKS: u64 = 5;

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just created and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Re-run this test binary as `role`, with `write_fd` inherited as LEAKCHECK_FD.
fn spawn_child(role: &str, write_fd: &OwnedFd) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env(ROLE, role);
    spawn_with_fd(cmd, write_fd)
}

/// Spawn `cmd` with `write_fd` inherited and named in LEAKCHECK_FD.
fn spawn_with_fd(mut cmd: Command, write_fd: &OwnedFd) -> std::process::Child {
    let fd = write_fd.as_raw_fd();
    cmd.env(leakcheck_probe::FD_ENV, fd.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe fcntl between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Let exactly this fd survive exec (it was created close-on-exec).
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().unwrap()
}

fn check_success(out: &Output) {
    assert!(
        out.status.success(),
        "child failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The child side of both tests; a no-op when run as a plain test.
#[test]
fn child_role() {
    match std::env::var(ROLE).as_deref() {
        Ok("writer") => writer(),
        Ok("epipe") => epipe(),
        _ => {}
    }
}

fn writer() {
    let probe = Probe::from_env();
    assert!(probe.is_active());
    probe.session_start(1, "first session");
    let mut kept: Vec<Vec<u8>> = Vec::new();
    for i in 0..MARKS {
        kept.push(vec![7u8; 1 << 20]); // a 1 MiB "leak" per iteration
        probe.mark(i);
    }
    std::hint::black_box(&kept);
    probe.session_end(1, "first session");
    probe.note("a note with \"quotes\", a newline\nand ünïcødé");
    probe.note(&"y".repeat(1 << 20)); // clipped to fit the wire limit
    // Shared by threads: marks from workers interleave as whole lines.
    let probe = std::sync::Arc::new(probe);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let p = probe.clone();
            s.spawn(move || {
                for i in 0..25 {
                    p.mark(1000 + t * 100 + i);
                }
            });
        }
    });
    probe.end();
}

fn epipe() {
    // The read end is closed before we start: the runner "went away".
    let probe = Probe::from_env();
    let t = std::time::Instant::now();
    for i in 0..10_000 {
        probe.mark(i);
        probe.note("still here");
    }
    assert!(!probe.is_active(), "a write error makes the probe inert");
    println!("survived 10000 marks after EPIPE in {:?}", t.elapsed());
}

#[test]
fn marks_sessions_notes_and_end_arrive_through_a_pipe() {
    let (read, write) = pipe();
    let child = spawn_child("writer", &write);
    drop(write); // so EOF arrives when the child exits
    let mut bytes = Vec::new();
    File::from(read).read_to_end(&mut bytes).unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    check_success(&out);

    let mut d = Decoder::new();
    let mut msgs = Vec::new();
    d.feed(&bytes, &mut msgs);
    d.finish(&mut msgs);
    let s = d.stats();
    assert_eq!(
        (
            s.malformed,
            s.oversized,
            s.invalid_utf8,
            s.unknown_types,
            s.truncated
        ),
        (0, 0, 0, 0, 0),
        "{s:?}"
    );
    assert_eq!(s.decoded as usize, msgs.len());

    assert_eq!(
        msgs[0],
        Message::Hello {
            version: 1,
            pid,
            allocator: "jemalloc".into()
        }
    );
    assert!(
        matches!(msgs[1], Message::Session { event: SessionEvent::Start, id: 1, ref label, .. } if label == "first session")
    );
    let marks: Vec<_> = msgs[2..2 + MARKS as usize]
        .iter()
        .map(|m| match m {
            Message::Mark {
                iteration,
                t_ns,
                measured:
                    Measured {
                        rss_bytes: Some(rss),
                        alloc: Some(a),
                        ..
                    },
            } => (*iteration, *t_ns, *rss, a.allocated),
            other => panic!("expected a mark with stats, got {other:?}"),
        })
        .collect();
    for (i, w) in marks.windows(2).enumerate() {
        assert_eq!(w[0].0, i as u64);
        assert!(w[1].1 > w[0].1, "t_ns increases");
        // Each iteration keeps 1 MiB more: allocated must rise by about that.
        let grew = w[1].3 as i64 - w[0].3 as i64;
        assert!(
            ((1 << 20) - 65536..=(1 << 20) + 65536).contains(&grew),
            "grew {grew}"
        );
    }
    println!("marks (iteration, t_ns, rss, allocated): {marks:?}");
    let rest = &msgs[2 + MARKS as usize..];
    assert!(matches!(
        rest[0],
        Message::Session {
            event: SessionEvent::End,
            id: 1,
            ..
        }
    ));
    assert!(
        matches!(&rest[1], Message::Note { text, .. } if text == "a note with \"quotes\", a newline\nand ünïcødé")
    );
    match &rest[2] {
        Message::Note { text, .. } => {
            assert!(text.starts_with("yyyy") && text.len() < 64 * 1024 && text.ends_with('…'))
        }
        other => panic!("expected the clipped note, got {other:?}"),
    }
    let mut threaded: Vec<u64> = rest[3..rest.len() - 1]
        .iter()
        .map(|m| match m {
            Message::Mark { iteration, .. } => *iteration,
            other => panic!("expected a threaded mark, got {other:?}"),
        })
        .collect();
    threaded.sort_unstable();
    let want: Vec<u64> = (0..4u64)
        .flat_map(|t| (0..25).map(move |i| 1000 + t * 100 + i))
        .collect();
    assert_eq!(threaded, want);
    assert!(matches!(rest.last(), Some(Message::End { .. })));
}

#[test]
fn a_vanished_reader_makes_the_probe_inert_with_one_message() {
    let (read, write) = pipe();
    drop(read);
    let child = spawn_child("epipe", &write);
    drop(write);
    let out = child.wait_with_output().unwrap();
    check_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let reports = stderr
        .matches("leakcheck-probe: writing to LEAKCHECK_FD")
        .count();
    assert_eq!(reports, 1, "exactly one report on stderr:\n{stderr}");
    assert!(stderr.contains("Broken pipe"), "{stderr}");
    println!(
        "{}",
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.contains("survived"))
            .unwrap_or("")
    );
}

#[test]
fn without_leakcheck_fd_the_probe_is_inert() {
    // The parent test process has no LEAKCHECK_FD (nextest/cargo do not set it).
    if std::env::var_os(leakcheck_probe::FD_ENV).is_some() {
        return;
    }
    let probe = Probe::from_env();
    assert!(!probe.is_active());
    probe.mark(1);
    probe.end();
    assert_eq!(probe.last_mark_stats(), None);
    assert!(alloc::stats().is_ok());
}

/// The Python writer in the README really speaks the format (and its clock is ours).
#[test]
fn the_readme_python_writer_decodes() {
    let readme = include_str!("../README.md");
    let start = readme
        .find("```python\n")
        .expect("a python block in the README")
        + 10;
    let script = &readme[start..start + readme[start..].find("```").unwrap()];
    let (read, write) = pipe();
    let before = leakcheck_probe::monotonic_ns();
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script]);
    let child = spawn_with_fd(cmd, &write);
    drop(write);
    let mut bytes = Vec::new();
    File::from(read).read_to_end(&mut bytes).unwrap();
    let pid = child.id();
    check_success(&child.wait_with_output().unwrap());
    let after = leakcheck_probe::monotonic_ns();

    let mut d = Decoder::new();
    let mut msgs = Vec::new();
    d.feed(&bytes, &mut msgs);
    d.finish(&mut msgs);
    // hello, 100 marks, 4 checkpoints of 5 readings, end.
    assert_eq!(d.stats().decoded, 122, "{:?}", d.stats());
    assert_eq!(
        msgs[0],
        Message::Hello {
            version: 1,
            pid,
            allocator: "python".into()
        }
    );
    let (checkpoints, marks): (Vec<&Message>, Vec<&Message>) = msgs[1..121]
        .iter()
        .partition(|m| matches!(m, Message::Checkpoint { .. }));
    assert_eq!(checkpoints.len(), 20);
    assert!(checkpoints.iter().all(|c| matches!(
        c,
        Message::Checkpoint {
            id: 0..=3,
            measured: Measured {
                rss_bytes: Some(_),
                ..
            },
            ..
        }
    )));
    for (i, m) in marks.into_iter().enumerate() {
        match m {
            Message::Mark {
                iteration,
                t_ns,
                measured:
                    Measured {
                        rss_bytes: Some(rss),
                        alloc: None,
                        ..
                    },
            } => {
                assert_eq!(*iteration, i as u64);
                assert!(before < *t_ns && *t_ns < after, "same monotonic clock");
                assert!(*rss > 1 << 20);
            }
            other => panic!("expected a mark, got {other:?}"),
        }
    }
    assert!(matches!(msgs[121], Message::End { .. }));
}

/// The bug (Python client and this probe alike): a program closes `LEAKCHECK_FD` and puts
/// its own file on that number; the probe then wrote its lines into the program's file.
/// It now checks the pipe's identity before each write and goes quiet.
#[test]
fn regression_the_probe_never_writes_into_a_file_put_on_its_fd() {
    let (read_end, write_end) = pipe();
    let raw = write_end.as_raw_fd();
    let probe = Probe::from_env_value(&raw.to_string());
    assert!(probe.is_active());
    probe.mark(0);
    let path = std::env::temp_dir().join(format!("leakcheck-probe-fd-{}", std::process::id()));
    let users = File::create(&path).unwrap();
    // SAFETY: both fds are open; dup2 closes the pipe's write end and puts the file there.
    assert!(unsafe { libc::dup2(users.as_raw_fd(), raw) } >= 0);
    for i in 1..10 {
        probe.mark(i);
    }
    assert!(!probe.is_active());
    drop(write_end); // closes the file's duplicate on `raw`
    drop(users);
    let written = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(written.is_empty(), "{}", String::from_utf8_lossy(&written));
    let mut got = Vec::new();
    File::from(read_end).read_to_end(&mut got).unwrap();
    let mut decoder = Decoder::new();
    let mut messages = Vec::new();
    decoder.feed(&got, &mut messages);
    let marks = messages
        .iter()
        .filter(|m| matches!(m, Message::Mark { .. }))
        .count();
    assert_eq!(marks, 1, "only the mark before the fd was replaced");
}

/// `LEAKCHECK_FD` naming a regular file (an fd number the program uses for its own file)
/// gives an inert probe.
#[test]
fn a_leakcheck_fd_that_is_not_a_pipe_gives_an_inert_probe() {
    let file = File::open("/proc/self/statm").unwrap();
    assert!(!Probe::from_env_value(&file.as_raw_fd().to_string()).is_active());
    assert!(!Probe::from_env_value("2147483648").is_active());
    assert!(!Probe::from_env_value("-3").is_active());
}
