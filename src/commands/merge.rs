//! `leakcheck merge DIR...`: the outputs of `gate --partition` shards joined into one set
//! of gate reports (junit.xml, summary.md, index.html) and one exit code, as if one gate
//! had run every scenario.

use std::path::Path;

use leakcheck_report::{GateEntry, Overall, read_summary};

use super::create_out_dir;
use crate::cli::MergeArgs;
use crate::error::{CliError, ExitStatus};
use crate::output::say;

pub fn execute(args: MergeArgs) -> Result<ExitStatus, CliError> {
    super::check_openmetrics_path(args.openmetrics.openmetrics.as_deref())?;
    let out = create_out_dir(&args.out)?;
    let mut entries: Vec<GateEntry> = Vec::new();
    let mut from: Vec<&Path> = Vec::new();
    for dir in &args.dirs {
        let found = shard_reports(dir)?;
        if found.is_empty() {
            return Err(CliError::Usage(format!(
                "merge: no scenario reports in {} (expected DIR/<scenario>/summary.json, the --out of a gate shard)",
                dir.display()
            )));
        }
        for (name, report) in found {
            if let Some(i) = entries.iter().position(|e| e.rel_dir == name) {
                return Err(CliError::Usage(format!(
                    "merge: scenario {name} is in both {} and {}: each shard must run different scenarios",
                    from[i].display(),
                    dir.display()
                )));
            }
            from.push(dir);
            entries.push(GateEntry {
                rel_dir: name,
                report,
            });
        }
    }
    // Copied only once every shard is known to be good, so a refused merge writes nothing.
    for (entry, dir) in entries.iter().zip(&from) {
        copy_dir(&dir.join(&entry.rel_dir), &out.join(&entry.rel_dir))?;
    }
    let step_summary = std::env::var_os("GITHUB_STEP_SUMMARY").map(std::path::PathBuf::from);
    leakcheck_report::write_gate(&out, &entries, step_summary.as_deref())?;
    super::GateManifest {
        partition: None,
        scenarios: entries.iter().map(|e| e.rel_dir.clone()).collect(),
    }
    .write(&out)?;
    super::write_openmetrics_or_warn(args.openmetrics.openmetrics.as_deref(), &entries);
    let status = entries.iter().fold(ExitStatus::Pass, |s, e| {
        s.worst(ExitStatus::of_verdict(e.report.verdict, false))
    });
    let passed = entries
        .iter()
        .filter(|e| matches!(e.report.verdict, Overall::Pass | Overall::NoBudgets))
        .count();
    say!(
        "merge: {passed} of {} scenarios passed (from {} shards); reports in {} (index.html, summary.md, junit.xml)",
        entries.len(),
        args.dirs.len(),
        out.display()
    );
    Ok(status)
}

/// The scenario reports of a shard: those its `gate.json` lists (so a folder left from an
/// earlier gate is not merged), else every `DIR/<scenario>/summary.json`.
fn shard_reports(dir: &Path) -> Result<Vec<(String, leakcheck_report::ScenarioReport)>, CliError> {
    let io = |source| CliError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let names: Vec<String> = match super::GateManifest::read(dir)? {
        Some(manifest) => manifest.scenarios,
        None => {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .map_err(io)?
                .filter_map(Result::ok)
                .filter(|e| e.path().join("summary.json").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    };
    names
        .into_iter()
        .map(|name| {
            let report = read_summary(&dir.join(&name).join("summary.json"))?;
            Ok((name, report))
        })
        .collect()
}

/// Copies a scenario's folder (its files and sub-folders) into the merged output; nothing
/// to do when both are the same folder.
fn copy_dir(from: &Path, to: &Path) -> Result<(), CliError> {
    if let (Ok(a), Ok(b)) = (from.canonicalize(), to.canonicalize())
        && a == b
    {
        return Ok(());
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CliError::Io { path, source }
    };
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_name() == ".leakcheck.lock" {
            continue;
        }
        if src.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(io(&dst))?;
        }
    }
    Ok(())
}
