//! Regression tests for the bugs found under bad input, closed outputs and signals, each
//! named after the bug it pins, on the real binary and real processes.

mod util;

use leakcheck_vocab::exit_code;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::{
    leakcheck, leakcheck_command, leakcheck_into_dev_full, marker_script, read, records_of_type,
    repo_root, temp_config,
};

#[test]
fn unwritable_out_is_a_usage_error_before_the_child_starts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("afile"), "").unwrap();
    let started = dir.path().join("started");
    let started_arg = started.to_str().unwrap();
    for out in ["afile", "/proc/leakcheck-no-such", "/dev/null"] {
        let run = leakcheck(
            dir.path(),
            &["run", "--out", out, "--", "touch", started_arg],
        );
        run.assert_exit_code(exit_code::USAGE);
        run.assert_stderr_contains(out);
        assert!(
            !started.exists(),
            "the child ran although --out {out} is unusable"
        );
    }
    let samples = repo_root().join("tests/fixtures/crashed/samples.jsonl");
    leakcheck(
        dir.path(),
        &["report", samples.to_str().unwrap(), "--out", "afile"],
    )
    .assert_exit_code(exit_code::USAGE);
}

#[test]
fn unwritable_stdout_and_stderr_do_not_panic_and_keep_the_verdicts_exit_code() {
    let dir = temp_config("[scenarios.s]\ncommand = [\"true\"]\n");
    assert_eq!(
        leakcheck_into_dev_full(dir.path(), &["list"]),
        Some(exit_code::PASS)
    );
    let leak = leakcheck_into_dev_full(
        dir.path(),
        &[
            "run",
            "--budget",
            "rss.slope=8KiB/iter",
            "--",
            "python3",
            &marker_script(),
            "--iterations",
            "60",
            "--leak-bytes",
            "262144",
            "--sleep-ms",
            "2",
        ],
    );
    assert_eq!(
        leak,
        Some(exit_code::BUDGET_FAILED),
        "the FAIL verdict's exit code, not a panic's 101"
    );
    assert!(dir.path().join("reports/python3/summary.json").exists());
}

#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    let dir = temp_config(
        &(0..50)
            .map(|i| format!("[scenarios.s{i}]\ncommand = [\"true\"]\n"))
            .collect::<String>(),
    );
    // A pipe whose reader is already gone, as for `leakcheck list | head -1` once head
    // has its line: every write to it fails with EPIPE.
    let (reader, writer) = rustix::pipe::pipe().unwrap();
    drop(reader);
    let out = leakcheck_command(dir.path(), &["list"])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(exit_code::PASS), "{stderr}");
}

#[test]
fn gate_runs_every_scenario_after_an_unstartable_one_and_reports_it() {
    let dir = temp_config(
        "[scenarios.good]\ncommand = [\"python3\", \"-c\", \"import time; time.sleep(0.5)\"]\n[scenarios.good.budgets]\nrss = { peak = \"1 GiB\" }\n\
         [scenarios.missing]\ncommand = [\"./no-such-program\"]\n\
         [scenarios.segfaults]\ncommand = [\"python3\", \"-c\", \"import os, signal; os.kill(os.getpid(), signal.SIGSEGV)\"]\n",
    );
    let out = leakcheck(dir.path(), &["gate"]);
    out.assert_exit_code(exit_code::USAGE);
    let reports = dir.path().join("reports");
    assert!(
        reports.join("segfaults/summary.json").exists(),
        "the third scenario ran"
    );
    let junit = read(&reports.join("junit.xml"));
    assert!(junit.contains("tests=\"4\""), "{junit}");
    assert!(
        junit.contains("errors=\"2\""),
        "missing + segfault: {junit}"
    );
    assert!(junit.contains("could not start"), "{junit}");
    let summary = read(&reports.join("summary.md"));
    assert!(summary.contains("missing"), "{summary}");
    assert!(summary.contains("2 did not complete"), "{summary}");
}

#[test]
fn a_non_utf8_line_in_samples_is_skipped_with_its_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = repo_root().join("tests/fixtures/crashed");
    let text = std::fs::read(fixture.join("samples.jsonl")).unwrap();
    let mut bytes = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        if i == 3 {
            bytes.extend_from_slice(b"{\"type\":\"note\",\"t_s\":1,\"text\":\"\xff\xfe\"}\n");
        }
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
    }
    std::fs::write(dir.path().join("samples.jsonl"), bytes).unwrap();
    std::fs::copy(
        fixture.join("judging.json"),
        dir.path().join("judging.json"),
    )
    .unwrap();
    let out = leakcheck(dir.path(), &["report", "samples.jsonl"]);
    out.assert_exit_code(exit_code::INCOMPLETE);
    let summary = read(&dir.path().join("summary.json"));
    assert!(
        summary.contains("skipped 1 unreadable line(s) (line 4: a line that is not UTF-8)"),
        "{summary}"
    );
    assert!(
        summary.contains("\"iterations\": 300"),
        "the other lines were read: {summary}"
    );
}

#[test]
fn samples_without_newlines_are_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let out = leakcheck(dir.path(), &["report", "/dev/zero", "--out", "."]);
    out.assert_exit_code(exit_code::USAGE);
    out.assert_stderr_contains("not a leakcheck samples file");
}

#[test]
fn a_corrupt_judging_file_is_a_usage_error_not_a_false_pass() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = repo_root().join("tests/fixtures/loader-leaky");
    std::fs::copy(
        fixture.join("samples.jsonl"),
        dir.path().join("samples.jsonl"),
    )
    .unwrap();
    std::fs::write(dir.path().join("judging.json"), "{\"budgets\": 5").unwrap();
    let out = leakcheck(dir.path(), &["report", "samples.jsonl"]);
    out.assert_exit_code(exit_code::USAGE);
    out.assert_stderr_contains("judging.json is not a judging file");
    assert!(!out.stdout.contains("PASS"), "{}", out.stdout);

    // A newer layout is refused with the versions, too.
    let mut judging: serde_json::Value =
        serde_json::from_str(&read(&fixture.join("judging.json"))).unwrap();
    judging["version"] = 99.into();
    std::fs::write(dir.path().join("judging.json"), judging.to_string()).unwrap();
    let out = leakcheck(dir.path(), &["report", "samples.jsonl"]);
    out.assert_exit_code(exit_code::USAGE);
    out.assert_stderr_contains("version 99, newer");
}

#[test]
fn a_run_without_budgets_is_no_budgets_never_pass() {
    let dir = tempfile::tempdir().unwrap();
    let out = leakcheck(
        dir.path(),
        &["run", "--", "python3", "-c", "import time; time.sleep(0.3)"],
    );
    out.assert_exit_code(exit_code::PASS);
    assert!(out.stdout.contains("NO BUDGETS"), "{}", out.stdout);
    assert!(!out.stdout.contains("PASS"), "{}", out.stdout);
}

/// Start `leakcheck run` on a Python child that marks and ignores SIGTERM, wait for its
/// first marks, and return it with its output folder.
fn start_stubborn_run(dir: &std::path::Path, grace: &str) -> std::process::Child {
    let script = dir.join("stubborn.py");
    std::fs::write(
        &script,
        "import json, os, signal, time\n\
         signal.signal(signal.SIGTERM, signal.SIG_IGN)\n\
         w = os.fdopen(int(os.environ['LEAKCHECK_FD']), 'w', buffering=1)\n\
         for i in range(100000):\n\
         \x20   w.write(json.dumps({'type': 'mark', 'iteration': i, 't_ns': time.monotonic_ns()}) + '\\n')\n\
         \x20   time.sleep(0.01)\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("leakcheck.toml"),
        format!(
            "[defaults]\ngrace = \"{grace}\"\n[scenarios.stubborn]\ncommand = [\"python3\", {:?}]\n",
            script.display().to_string()
        ),
    )
    .unwrap();
    let child = leakcheck_command(dir, &["run", "stubborn"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let samples = dir.join("reports/stubborn/samples.jsonl");
    let deadline = Instant::now() + Duration::from_secs(30);
    while records_of_type_soft(&samples, "mark") < 5 {
        assert!(Instant::now() < deadline, "the run never marked");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn records_of_type_soft(samples: &std::path::Path, kind: &str) -> usize {
    if samples.exists() {
        records_of_type(samples, kind).len()
    } else {
        0
    }
}

fn signal(child: &std::process::Child, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
}

#[test]
fn sighup_stops_the_run_like_sigterm_and_the_report_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = start_stubborn_run(dir.path(), "1s");
    signal(&child, rustix::process::Signal::HUP);
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(exit_code::INCOMPLETE),
        "interrupted: incomplete, not killed by SIGHUP"
    );
    let summary = read(&dir.path().join("reports/stubborn/summary.md"));
    assert!(summary.contains("interrupted by the user"), "{summary}");
}

#[test]
fn a_second_interrupt_kills_at_once_instead_of_waiting_out_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = start_stubborn_run(dir.path(), "1h");
    signal(&child, rustix::process::Signal::INT);
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, rustix::process::Signal::INT);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(exit_code::INCOMPLETE));
    let samples = dir.path().join("reports/stubborn/samples.jsonl");
    let warnings = records_of_type(&samples, "warning");
    assert!(
        warnings.iter().any(|w| w["text"]
            .as_str()
            .unwrap_or("")
            .contains("interrupted again: sending SIGKILL now")),
        "{warnings:?}"
    );
    let exit = &records_of_type(&samples, "exit")[0];
    assert_eq!(exit["escalated"], true);
    assert!(dir.path().join("reports/stubborn/summary.md").exists());
}

/// A 64 KiB tmpfs mounted for one test, unmounted when dropped.
struct TinyDisk {
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TinyDisk {
    fn mount() -> TinyDisk {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny");
        std::fs::create_dir(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a 64 KiB tmpfs needs root, as on CI"
        );
        TinyDisk { path, _dir: dir }
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

#[test]
fn a_full_disk_still_prints_the_verdict_and_keeps_its_exit_code() {
    let disk = TinyDisk::mount();
    let out = leakcheck(
        &repo_root(),
        &[
            "run",
            "--out",
            disk.path.to_str().unwrap(),
            "--budget",
            "rss.slope=8KiB/iter",
            "--",
            "python3",
            &marker_script(),
            "--iterations",
            "400",
            "--leak-bytes",
            "65536",
            "--sleep-ms",
            "1",
        ],
    );
    out.assert_exit_code(exit_code::BUDGET_FAILED);
    assert!(out.stdout.contains("python3: FAIL"), "{}", out.stdout);
    out.assert_stderr_contains("No space left on device");
}

#[test]
fn marks_with_wrong_field_names_are_warned_with_their_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let script = "import json, os, time\n\
        w = os.fdopen(int(os.environ['LEAKCHECK_FD']), 'w', buffering=1)\n\
        w.write(json.dumps({'type': 'mark', 'iter': 0, 't_ns': time.monotonic_ns()}) + '\\n')\n\
        for i in range(1, 30):\n\
        \x20   w.write(json.dumps({'type': 'mark', 'iteration': i, 't_ns': time.monotonic_ns()}) + '\\n')\n\
        \x20   time.sleep(0.005)\n";
    std::fs::write(dir.path().join("wrong.py"), script).unwrap();
    let out = leakcheck(dir.path(), &["run", "--", "python3", "wrong.py"]);
    out.assert_exit_code(exit_code::PASS);
    let why = "line 1: mark: missing field `iteration`";
    out.assert_stderr_contains(why);
    let summary = read(&dir.path().join("reports/python3/summary.json"));
    assert!(summary.contains(why), "in the report: {summary}");
}

#[test]
fn iterations_that_restart_at_zero_each_session_do_not_fail_the_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let script = "import json, os, time\n\
        w = os.fdopen(int(os.environ['LEAKCHECK_FD']), 'w', buffering=1)\n\
        for s in (1, 2):\n\
        \x20   w.write(json.dumps({'type': 'session', 'event': 'start', 'id': s, 'label': 's%d' % s, 't_ns': time.monotonic_ns()}) + '\\n')\n\
        \x20   for i in range(40):\n\
        \x20       w.write(json.dumps({'type': 'mark', 'iteration': i, 't_ns': time.monotonic_ns()}) + '\\n')\n\
        \x20       time.sleep(0.02)\n";
    std::fs::write(dir.path().join("restart.py"), script).unwrap();
    let out = leakcheck(
        dir.path(),
        &[
            "run",
            "--budget",
            "rss.slope=1MiB/iter",
            "--",
            "python3",
            "restart.py",
        ],
    );
    out.assert_exit_code(exit_code::PASS);
    let summary = read(&dir.path().join("reports/python3/summary.json"));
    assert!(
        summary.contains("judged per mark in arrival order"),
        "{summary}"
    );
    assert!(summary.contains("\"iterations\": 80"), "{summary}");
}

#[test]
fn adhoc_settings_are_checked_before_anything_runs_and_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = leakcheck(dir.path(), &["run", "--iterations", "5", "--", "true"]);
    out.assert_exit_code(exit_code::USAGE);
    out.assert_stderr_contains("--iterations");
    assert!(
        !out.stderr.contains("leakcheck.toml"),
        "no config was involved: {}",
        out.stderr
    );

    let out = leakcheck(dir.path(), &["run", "--timeout", "0s", "--", "true"]);
    out.assert_exit_code(exit_code::USAGE);
    out.assert_stderr_contains("invalid --timeout \"0s\"");
    assert!(
        !dir.path().join("reports/true/judging.json").exists(),
        "nothing written"
    );

    let hidden = dir.path().join(".hidden.sh");
    std::fs::write(&hidden, "#!/bin/sh\nsleep 0.2\n").unwrap();
    let mut perms = std::fs::metadata(&hidden).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&hidden, perms).unwrap();
    let out = leakcheck(dir.path(), &["run", "--", "./.hidden.sh"]);
    out.assert_exit_code(exit_code::PASS);
    assert!(
        !out.stderr.contains("--name"),
        "no --name was given: {}",
        out.stderr
    );
    assert!(dir.path().join("reports/hidden.sh/summary.md").exists());
}

#[test]
fn a_pss_budget_without_pss_sampling_says_how_to_turn_it_on() {
    let dir = tempfile::tempdir().unwrap();
    let sleep = ["-c", "import time; time.sleep(1.5)"];
    let out = leakcheck(
        dir.path(),
        &[
            "run",
            "--budget",
            "pss.tree.slope=1MiB/s",
            "--",
            "python3",
            sleep[0],
            sleep[1],
        ],
    );
    out.assert_exit_code(exit_code::UNDECIDED);
    assert!(out.stdout.contains("--pss"), "{}", out.stdout);
    let out = leakcheck(
        dir.path(),
        &[
            "run",
            "--pss",
            "--budget",
            "pss.tree.slope=1MiB/s",
            "--",
            "python3",
            sleep[0],
            sleep[1],
        ],
    );
    assert!(!out.stdout.contains("no data"), "{}", out.stdout);
}

/// Is `pid` still a live process (a zombie waiting for its reaper counts as gone)?
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

#[test]
fn sigkill_of_leakcheck_leaves_no_process_of_the_run_within_2_s() {
    let dir = tempfile::tempdir().unwrap();
    let pids_file = dir.path().join("pids");
    let script = format!(
        "import json, os, subprocess, time\n\
         w = os.fdopen(int(os.environ['LEAKCHECK_FD']), 'w', buffering=1)\n\
         in_group = subprocess.Popen(['sleep', '300'])\n\
         escaped = subprocess.Popen(['sleep', '301'], start_new_session=True)\n\
         open({:?}, 'w').write('%d %d %d' % (os.getpid(), in_group.pid, escaped.pid))\n\
         for i in range(100000):\n\
         \x20   w.write(json.dumps({{'type': 'mark', 'iteration': i, 't_ns': time.monotonic_ns()}}) + '\\n')\n\
         \x20   time.sleep(0.01)\n",
        pids_file.display().to_string()
    );
    std::fs::write(dir.path().join("tree.py"), script).unwrap();
    let mut leakcheck = leakcheck_command(dir.path(), &["run", "--", "python3", "tree.py"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let pids: Vec<u32> = loop {
        let text = std::fs::read_to_string(&pids_file).unwrap_or_default();
        let pids: Vec<u32> = text
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.len() == 3 {
            break pids;
        }
        assert!(
            Instant::now() < deadline,
            "the workload never wrote its pids"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let supervisor: Vec<u32> =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", leakcheck.id()))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
    assert!(
        pids.iter().all(|&p| alive(p)),
        "the whole tree runs before the kill"
    );

    signal(&leakcheck, rustix::process::Signal::KILL);
    leakcheck.wait().unwrap();
    let everyone: Vec<u32> = pids.iter().chain(&supervisor).copied().collect();
    let deadline = Instant::now() + Duration::from_secs(2);
    while everyone.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let survivors: Vec<u32> = everyone.into_iter().filter(|&p| alive(p)).collect();
    for &p in &survivors {
        if let Some(pid) = rustix::process::Pid::from_raw(p as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
    assert!(
        survivors.is_empty(),
        "still running 2 s after leakcheck was killed: {survivors:?} (workload, in-group child, setsid child: {pids:?})"
    );
}

#[test]
fn a_second_run_into_the_same_out_is_refused_with_the_holders_pid() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start_stubborn_run(dir.path(), "1s");
    let second = leakcheck(dir.path(), &["run", "stubborn"]);
    signal(&first, rustix::process::Signal::INT);
    let _ = first.wait();
    second.assert_exit_code(exit_code::USAGE);
    second.assert_stderr_contains(&format!(
        "another leakcheck (pid {}) is writing to",
        first.id()
    ));
}

#[test]
fn a_setsid_escapee_dies_with_the_run_and_does_not_hold_it_open() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = leakcheck(
        dir.path(),
        &[
            "run",
            "--",
            "python3",
            "-c",
            "import os, subprocess\n\
             fd = int(os.environ['LEAKCHECK_FD'])\n\
             p = subprocess.Popen(['sleep', '300'], start_new_session=True, pass_fds=(fd,))\n\
             open('escapee.pid', 'w').write(str(p.pid))\n",
        ],
    );
    out.assert_exit_code(exit_code::PASS);
    assert!(
        !out.stderr.contains("stayed open"),
        "the supervisor closed the escapee's pipe: {}",
        out.stderr
    );
    let pid: u32 = read(&dir.path().join("escapee.pid"))
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid), "the setsid escapee {pid} outlived the run");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the run waited for the escapee"
    );
}
