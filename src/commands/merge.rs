//! `leakcheck merge DIR...`: the outputs of `gate --partition` shards joined into one set
//! of gate reports (junit.xml, summary.md, index.html) and one exit code, as if one gate
//! had run every scenario. A scenario a shard planned but never finished (the shard was
//! killed) is incomplete; a shard that ran nothing is fine; a shard missing from the
//! partition is an error.

use std::path::{Path, PathBuf};

use leakcheck_judge::{Judging, RunFacts, judge};
use leakcheck_records::SAMPLES_FILE;
use leakcheck_records::Timeline;
use leakcheck_report::{GateEntry, GateManifest, Overall, ScenarioReport, read_summary};

use super::create_out_dir;
use crate::cli::MergeArgs;
use crate::error::{CliError, ExitStatus};
use crate::output::{say, tell};

/// One scenario of a shard: its report and where its folder is (none when it never
/// started).
struct Found {
    name: String,
    report: ScenarioReport,
    folder: Option<PathBuf>,
}

pub fn execute(args: MergeArgs, judged: &mut Vec<GateEntry>) -> Result<ExitStatus, CliError> {
    check_folders(&args.dirs, &args.out)?;
    let mut found: Vec<Found> = Vec::new();
    let mut from: Vec<&Path> = Vec::new();
    let mut partitions = Vec::new();
    for dir in &args.dirs {
        let (manifest, scenarios) = shard_reports(dir)?;
        if let Some(p) = manifest.as_ref().and_then(|m| m.partition.clone()) {
            partitions.push((p, dir));
        }
        for f in scenarios {
            if let Some(i) = found.iter().position(|e| e.name == f.name) {
                return Err(CliError::Usage(format!(
                    "merge: scenario {} is in both {} and {}: each shard must run different scenarios",
                    f.name,
                    from[i].display(),
                    dir.display()
                )));
            }
            from.push(dir);
            found.push(f);
        }
    }
    check_every_shard(&partitions)?;
    let out = create_out_dir(&args.out)?;
    // Copied only once every shard is known to be good, so a refused merge writes nothing.
    for f in &found {
        if let Some(folder) = &f.folder
            && let Err(e) = copy_scenario(folder, &out.join(&f.name))
        {
            tell!(
                "warning: {e}; {} is not in {} (the verdict below stands)",
                f.name,
                out.display()
            );
        }
    }
    let entries: Vec<GateEntry> = found
        .into_iter()
        .map(|f| GateEntry {
            rel_dir: f.name,
            report: f.report,
        })
        .collect();
    let step_summary = std::env::var_os("GITHUB_STEP_SUMMARY").map(std::path::PathBuf::from);
    if let Err(e) = leakcheck_report::write_gate(&out, &entries, step_summary.as_deref()) {
        tell!("warning: {e}; the merged reports are incomplete (the verdict below stands)");
    }
    let manifest = GateManifest {
        partition: None,
        planned: Some(entries.iter().map(|e| e.rel_dir.clone()).collect()),
        scenarios: entries.iter().map(|e| e.rel_dir.clone()).collect(),
    };
    if let Err(e) = manifest.write(&out) {
        tell!("warning: {e}");
    }
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
    judged.extend(entries);
    Ok(status)
}

/// Each shard once, and `--out` none of them (merging into a shard would overwrite its
/// own `gate.json`, and a second merge would then find other scenarios).
fn check_folders(dirs: &[PathBuf], out: &Path) -> Result<(), CliError> {
    let real = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let out_real = real(out);
    for (i, dir) in dirs.iter().enumerate() {
        let here = real(dir);
        if let Some(twin) = dirs[..i].iter().find(|d| real(d) == here) {
            return Err(CliError::Usage(format!(
                "merge: {} is given twice ({} and {}); expected each shard's folder once",
                here.display(),
                twin.display(),
                dir.display()
            )));
        }
        if here == out_real {
            return Err(CliError::Usage(format!(
                "merge: --out {} is the shard {}; expected another folder for the merged reports",
                out.display(),
                dir.display()
            )));
        }
    }
    Ok(())
}

/// Every shard of a partition is there: `merge` of `2/2` alone would pass without the
/// scenarios of `1/2`.
fn check_every_shard(partitions: &[(String, &PathBuf)]) -> Result<(), CliError> {
    let mut parsed = Vec::new();
    for (text, dir) in partitions {
        let p = leakcheck_report::Partition::parse(text)
            .map_err(|e| CliError::Usage(format!("merge: {}: {e}", dir.display())))?;
        parsed.push((p, text, dir));
    }
    let Some((first, first_text, first_dir)) = parsed.first() else {
        return Ok(());
    };
    for (p, text, dir) in &parsed {
        if (p.by_hash, p.of) != (first.by_hash, first.of) {
            return Err(CliError::Usage(format!(
                "merge: {} ran partition {text} but {} ran {first_text}: expected the shards of one partition",
                dir.display(),
                first_dir.display()
            )));
        }
    }
    let missing: Vec<String> = (1..=first.of)
        .filter(|k| !parsed.iter().any(|(p, _, _)| p.shard == *k))
        .map(|k| format!("{k}/{}", first.of))
        .collect();
    if !missing.is_empty() {
        return Err(CliError::Usage(format!(
            "merge: shard {} of the partition is missing; expected the folders of all {} shards",
            missing.join(", "),
            first.of
        )));
    }
    Ok(())
}

/// A shard's manifest (if it has one) and its scenarios: those its `gate.json` planned
/// (a finished one by its `summary.json`; an unfinished one judged from what it recorded,
/// which is incomplete), else every `DIR/<scenario>/summary.json`.
fn shard_reports(dir: &Path) -> Result<(Option<GateManifest>, Vec<Found>), CliError> {
    let io = |source| CliError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let manifest = GateManifest::read(dir)?;
    let Some(m) = manifest.as_ref() else {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(Result::ok)
            .filter(|e| e.path().join("summary.json").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| leakcheck_vocab::names::is_plain_name(n))
            .collect();
        if names.is_empty() {
            return Err(CliError::Usage(format!(
                "merge: no scenario reports in {} (expected DIR/gate.json or DIR/<scenario>/summary.json, the --out of a gate shard)",
                dir.display()
            )));
        }
        names.sort();
        let found = names
            .into_iter()
            .map(|name| finished(dir, name))
            .collect::<Result<_, _>>()?;
        return Ok((None, found));
    };
    let planned = m.planned.clone().unwrap_or_else(|| m.scenarios.clone());
    let found = planned
        .into_iter()
        .map(|name| {
            if m.scenarios.contains(&name) {
                finished(dir, name)
            } else {
                Ok(unfinished(dir, name))
            }
        })
        .collect::<Result<_, _>>()?;
    Ok((manifest, found))
}

fn finished(dir: &Path, name: String) -> Result<Found, CliError> {
    let folder = dir.join(&name);
    let path = folder.join("summary.json");
    let report = read_summary(&path)?;
    if let Some(problem) = contradiction(&report) {
        return Err(CliError::Usage(format!(
            "merge: {} says {} but {problem}: the file was edited or damaged; run that shard again",
            path.display(),
            report.verdict.word()
        )));
    }
    Ok(Found {
        name,
        report,
        folder: Some(folder),
    })
}

/// What in a report contradicts its passing verdict (a `summary.json` is read back, not
/// judged again: a pass it claims must at least agree with its own checks and ending).
fn contradiction(report: &ScenarioReport) -> Option<String> {
    if !matches!(report.verdict, Overall::Pass | Overall::NoBudgets) {
        return None;
    }
    if !report.status.is_complete() {
        return Some(format!("its run {}", report.status.describe()));
    }
    let checks = report.metrics.iter().flat_map(|m| &m.budgets);
    if report.verdict == Overall::NoBudgets && checks.clone().next().is_some() {
        return Some("it has budget checks".to_string());
    }
    checks
        .clone()
        .find(|c| c.outcome != leakcheck_vocab::Outcome::Pass)
        .map(|c| format!("its check `{}` is {}", c.line, c.outcome.word()))
}

/// A scenario its gate planned but never finished: what it recorded, judged again (a run
/// without its exit record is incomplete, a leak it already shows still fails), or an
/// incomplete report saying it never started.
fn unfinished(dir: &Path, name: String) -> Found {
    let folder = dir.join(&name);
    let samples = folder.join(SAMPLES_FILE);
    let rejudged = samples
        .is_file()
        .then(|| super::report::rejudge(&samples, Vec::new()).ok())
        .flatten();
    let report = match rejudged {
        Some((judgement, _)) => judgement.report,
        None => {
            let timeline = Timeline::default();
            judge(
                &Judging::named(&name),
                &RunFacts {
                    timeline: &timeline,
                    termination: None,
                    reason: None,
                    wall_s: 0.0,
                    samples_file: String::new(),
                },
            )
            .report
        }
    };
    Found {
        name,
        report,
        folder: folder.is_dir().then_some(folder),
    }
}

/// Copies a scenario's folder into the merged output through a hidden `.NAME.merging`
/// folder renamed when complete: a full disk leaves the old folder (or none), never half
/// a copy. Nothing to do when both are the same folder.
fn copy_scenario(from: &Path, to: &Path) -> Result<(), CliError> {
    if let (Ok(a), Ok(b)) = (from.canonicalize(), to.canonicalize())
        && a == b
    {
        return Ok(());
    }
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = to.with_file_name(format!(".{name}.merging"));
    let _ = std::fs::remove_dir_all(&partial);
    let copied = copy_dir(from, &partial).and_then(|()| {
        let io = |source| CliError::Io {
            path: to.to_path_buf(),
            source,
        };
        if to.exists() {
            std::fs::remove_dir_all(to).map_err(io)?;
        }
        std::fs::rename(&partial, to).map_err(io)
    });
    if copied.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    copied
}

/// Copies a folder (its files and sub-folders), leaving out lock files.
fn copy_dir(from: &Path, to: &Path) -> Result<(), CliError> {
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
        let kind = entry.file_type().map_err(io(&src))?;
        if kind.is_dir() {
            copy_dir(&src, &dst)?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst).map_err(io(&dst))?;
        }
    }
    Ok(())
}
