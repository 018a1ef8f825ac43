//! A real process tree: a parent that starts 2 children, each of the three holding
//! 32 MiB of touched memory. The processes are this test binary re-run in a role
//! (a Rust process is ~3 MiB before its 32 MiB, so "parent alone < 48 MiB" has room;
//! a Python parent sits at ~46 MiB, too close to the line to be a fair test).

use leakcheck_probe::process::{ProcessMemory, ProcessTree};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};

const MIB: u64 = 1 << 20;

const ROLE: &str = "LEAKCHECK_TREE_TEST_ROLE";

/// Re-run this test binary in `role` (see [`child_role`]).
fn spawn_role(role: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("re-run the test binary")
}

/// Read lines until one contains `word`; return what follows it. libtest prints its
/// own lines (and "test child_role ... " before ours on the same line).
fn wait_for(out: &mut impl BufRead, word: &str) -> String {
    loop {
        let mut s = String::new();
        let n = out.read_line(&mut s).expect("read from a role process");
        assert!(n > 0, "the process exited before saying {word:?}");
        if let Some(at) = s.find(word) {
            return s[at + word.len()..].trim().to_owned();
        }
    }
}

/// 32 MiB with every page written (so it is resident, not just reserved).
fn touched_32_mib() -> Vec<u8> {
    std::hint::black_box(vec![1u8; 32 << 20])
}

/// The parent and child processes of the test; a no-op when run as a plain test.
/// Output goes through libtest's captured stdout only with --nocapture, which
/// [`spawn_role`] passes.
#[test]
fn child_role() {
    let stdin = std::io::stdin();
    let mut line = String::new();
    match std::env::var(ROLE).as_deref() {
        Ok("child") => {
            let block = touched_32_mib();
            println!("ready");
            // Hold the memory until the parent closes our stdin.
            std::io::Read::read_to_end(&mut stdin.lock(), &mut Vec::new()).unwrap();
            drop(block);
        }
        Ok("parent") => {
            let block = touched_32_mib();
            let mut kids: Vec<Child> = (0..2).map(|_| spawn_role("child")).collect();
            // Keep the readers open: a child's libtest still prints after "ready".
            let mut outs: Vec<_> = kids
                .iter_mut()
                .map(|k| BufReader::new(k.stdout.take().unwrap()))
                .collect();
            for out in &mut outs {
                wait_for(out, "ready");
            }
            let pids: Vec<String> = kids.iter().map(|k| k.id().to_string()).collect();
            println!("pids {}", pids.join(" "));
            stdin.read_line(&mut line).unwrap(); // the test says: let the children go
            for k in &mut kids {
                drop(k.stdin.take());
            }
            for (k, mut out) in kids.iter_mut().zip(outs) {
                std::io::Read::read_to_end(&mut out, &mut Vec::new()).unwrap();
                assert!(k.wait().unwrap().success(), "a child failed");
            }
            println!("reaped");
            stdin.read_line(&mut line).unwrap(); // the test says: exit
            drop(block);
        }
        _ => {}
    }
}

struct Parent {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Parent {
    fn line(&mut self, word: &str) -> String {
        wait_for(&mut self.out, word)
    }

    fn tell(&mut self) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tree_of_three_processes_is_summed_and_children_leave_cleanly() {
    let mut child = spawn_role("parent");
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut parent = Parent { child, out };
    let kids: Vec<u32> = parent
        .line("pids")
        .split_whitespace()
        .map(|p| p.parse().expect("child pid"))
        .collect();
    assert_eq!(kids.len(), 2, "the parent reports its two children");
    let root = parent.child.id();

    let mut tree = ProcessTree::new(root);
    let s = tree.sample(true).expect("sample the tree");
    let root_rss = ProcessMemory::open(root).unwrap().rss_bytes().unwrap();
    println!(
        "tree pids {:?}: rss {:.1} MiB, pss {:.1} MiB, per process {:?} (MiB: {:?}); parent alone {:.1} MiB",
        s.pids,
        s.rss_bytes as f64 / MIB as f64,
        s.pss_bytes.unwrap() as f64 / MIB as f64,
        s.per_process,
        s.per_process
            .iter()
            .map(|&(_, b)| b / MIB)
            .collect::<Vec<_>>(),
        root_rss as f64 / MIB as f64
    );
    let mut pids = s.pids.clone();
    pids.sort_unstable();
    let mut want = vec![root, kids[0], kids[1]];
    want.sort_unstable();
    assert_eq!(pids, want);
    assert_eq!(s.pids[0], root, "the root comes first");
    assert!(s.rss_bytes >= 96 * MIB);
    assert!(root_rss < 48 * MIB);
    let pss = s.pss_bytes.unwrap();
    assert!(pss >= 96 * MIB && pss <= s.rss_bytes, "pss {pss}");
    assert_eq!(
        s.per_process.iter().map(|&(_, b)| b).sum::<u64>(),
        s.rss_bytes
    );

    // Let the children exit, sampling all the while: they vanish between listing and
    // reading at some point, which must never be an error.
    parent.tell();
    let mut samples = 0;
    loop {
        let s = tree
            .sample(samples % 2 == 0)
            .expect("children exiting is no error");
        samples += 1;
        if s.pids == [root] {
            break;
        }
        assert!(
            samples < 1_000_000,
            "children never left the tree: {:?}",
            s.pids
        );
    }
    parent.line("reaped");
    let s = tree
        .sample(false)
        .expect("sample after the children are gone");
    assert_eq!(s.pids, vec![root]);
    assert!(s.rss_bytes < 48 * MIB);
    println!(
        "children left after {samples} samples; tree now {:?}",
        s.per_process
    );

    // And when the root itself exits, that is reported as Gone.
    parent.tell();
    assert!(
        parent.child.wait().unwrap().success(),
        "the parent role failed"
    );
    match tree.sample(false) {
        Err(leakcheck_probe::SampleError::Gone { pid }) => assert_eq!(pid, root),
        other => panic!("expected Gone for the exited root, got {other:?}"),
    }
}
