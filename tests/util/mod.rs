//! Helpers shared by the end-to-end tests: run the real `leakcheck` binary, check its exit
//! code (printing everything it said when it differs), and write throw-away configs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (where `leakcheck.toml` and `tests/fixtures` live).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The marking Python workload used by the ad-hoc scenarios.
pub fn marker_script() -> String {
    repo_root()
        .join("tests/fixtures/marker.py")
        .display()
        .to_string()
}

/// A run folder's `summary.json`.
pub fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&read(&dir.join("summary.json"))).expect("summary.json is JSON")
}

/// The metric named `name` in a `summary.json`.
pub fn metric<'a>(summary: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    summary["metrics"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["name"] == name))
        .unwrap_or_else(|| panic!("no metric {name} in {summary}"))
}

/// What one `leakcheck` invocation did.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Panic with the full output unless the exit code is `expected`.
    pub fn assert_exit_code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(expected),
            "expected exit code {expected}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panic with stderr unless it contains `needle`.
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    /// stdout and stderr together, for message checks.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// `leakcheck ARGS` in `cwd`, not yet started, without CI's step-summary variable.
pub fn leakcheck_command(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leakcheck"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("GITHUB_STEP_SUMMARY");
    cmd
}

/// Run `leakcheck ARGS` in `cwd`.
pub fn leakcheck(cwd: &Path, args: &[&str]) -> Outcome {
    let output = leakcheck_command(cwd, args)
        .output()
        .expect("spawn leakcheck");
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A temporary folder holding `leakcheck.toml` with the given text.
pub fn temp_config(toml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("leakcheck.toml"), toml).expect("write config");
    dir
}

/// Read a file the run must have written, with a helpful panic when it did not.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The JSON lines of a samples file whose `type` is `kind`.
pub fn records_of_type(samples: &Path, kind: &str) -> Vec<serde_json::Value> {
    read(samples)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == kind)
        .collect()
}

/// Run `leakcheck ARGS` in `cwd` with stdout and stderr on `/dev/full`, where every write
/// fails (ENOSPC): what a closed pipe or a full disk does to a program's output.
pub fn leakcheck_into_dev_full(cwd: &Path, args: &[&str]) -> Option<i32> {
    let full = || {
        std::fs::File::options()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full")
    };
    leakcheck_command(cwd, args)
        .stdout(full())
        .stderr(full())
        .status()
        .expect("spawn leakcheck")
        .code()
}
