//! The attribution pass ("where it grows"): after a judged run, the same program run
//! again under a profiler, whose allocation sites go into the same report. It never
//! changes the verdict: a pass that cannot run says why in the report instead.
//!
//! A scenario with `[scenarios.NAME.attribution]` (a dhat build) runs that variant at two
//! lengths and compares dhat's end-of-loop bytes per site; any other program is re-run
//! with `LEAKCHECK_ATTRIBUTE=1`, which makes the Python client compare two tracemalloc
//! snapshots and send the growing lines.

use std::path::{Path, PathBuf};

use leakcheck_attribution::{
    Measured, attribution, client_sites, dhat_growth, parse_dhat, unavailable,
};
use leakcheck_report::{Attribution, AttributionPass, BudgetKind, Outcome, ScenarioReport};
use leakcheck_runner::{RunSpec, StopRequest, run_build, run_with};
use leakcheck_settings::{Attribute, ScenarioConfig};

use crate::output::tell;

/// Env var that turns the Python client's attribution on.
const ATTRIBUTE_ENV: &str = "LEAKCHECK_ATTRIBUTE";
/// Env var naming the mark after which the client takes its first snapshot.
const ATTRIBUTE_FROM_ENV: &str = "LEAKCHECK_ATTRIBUTE_FROM";
/// dhat's output file, in the pass's working directory.
const DHAT_FILE: &str = "dhat-heap.json";
/// Source files searched for dhat's frames, at most (a guard against a huge tree).
const MAX_WORKSPACE_FILES: usize = 50_000;

/// Whether `when` asks for a pass after a run that ended with `report`.
pub fn wanted(when: Attribute, report: &ScenarioReport) -> bool {
    match when {
        Attribute::Never => false,
        Attribute::Always => true,
        Attribute::OnFailure => report.verdict == leakcheck_report::Overall::Fail,
    }
}

/// Runs the pass for `scenario` (whose judged run was `spec`, reported in `report`,
/// in `dir`) and returns what it found.
pub fn attribute(
    scenario: &ScenarioConfig,
    variant: Option<&str>,
    spec: &RunSpec,
    report: &ScenarioReport,
    dir: &Path,
) -> Attribution {
    let pass_root = dir.join("attribution");
    match &scenario.attribution {
        Some(config) => {
            let per = config.per.clone();
            let measured = measured(report, Some("alloc.allocated"));
            dhat_pass(scenario, variant, spec, &pass_root, dir)
                .map(|(passes, sites)| attribution("dhat", &per, passes, sites, measured.as_ref()))
                .unwrap_or_else(|(passes, why)| unavailable("dhat", &per, passes, why))
        }
        None => {
            let measured = measured(report, None);
            client_pass(scenario, spec, report, &pass_root, dir)
                .map(|(passes, sites)| {
                    attribution("tracemalloc", "iteration", passes, sites, measured.as_ref())
                })
                .unwrap_or_else(|(passes, why)| {
                    unavailable("tracemalloc", "iteration", passes, why)
                })
        }
    }
}

type PassResult = Result<
    (Vec<AttributionPass>, Vec<leakcheck_report::AttributionSite>),
    (Vec<AttributionPass>, String),
>;

fn dhat_pass(
    scenario: &ScenarioConfig,
    variant: Option<&str>,
    spec: &RunSpec,
    pass_root: &Path,
    dir: &Path,
) -> PassResult {
    let config = scenario
        .attribution
        .as_ref()
        .expect("called with a dhat config");
    if let Some(build) = scenario.attribution_build_argv() {
        tell!(
            "[{}] building the attribution variant: {}",
            scenario.name,
            build.join(" ")
        );
        run_build(&build, &scenario.working_dir())
            .map_err(|e| (Vec::new(), format!("its build failed: {e}")))?;
    }
    let workspace = workspace_files(&scenario.base_dir);
    let mut passes = Vec::new();
    let mut profiles = Vec::new();
    for length in config.lengths {
        let pass_dir = pass_root.join(format!("n{length}"));
        let argv = scenario
            .attribution_argv(variant, length)
            .expect("the scenario has an attribution config");
        let mut pass = spec.clone();
        pass.argv = absolute_program(argv);
        pass.cwd = Some(pass_dir.clone());
        pass.out_dir = pass_dir.clone();
        pass.child_log = Some(pass_dir.join("child.log"));
        tell!(
            "[{}] attribution pass: {} {length}",
            scenario.name,
            config.length_arg
        );
        // dhat writes its profile to the working directory: the pass's own folder.
        std::fs::create_dir_all(&pass_dir).map_err(|e| {
            let why = format!("cannot create {}: {e}", pass_dir.display());
            (passes.clone(), why)
        })?;
        let private = private_program(&mut pass.argv, &pass_dir);
        let ran = run_pass(&pass, None);
        if let Some(copy) = private {
            // Best effort: a leftover copy costs disk, never the verdict.
            let _ = std::fs::remove_file(copy);
        }
        let wall_s = ran.map_err(|why| (passes.clone(), why))?.wall_s;
        passes.push(AttributionPass {
            length,
            dir: relative(&pass_dir, dir),
            wall_s,
        });
        let text = std::fs::read_to_string(pass_dir.join(DHAT_FILE)).map_err(|e| {
            let log = pass_dir.join("child.log");
            (
                passes.clone(),
                format!(
                    "the pass wrote no {DHAT_FILE} ({e}): is its command a dhat-heap build? its output is in {}",
                    log.display()
                ),
            )
        })?;
        let profile = parse_dhat(&text, &workspace).map_err(|e| (passes.clone(), e.to_string()))?;
        profiles.push(profile);
    }
    let [n_short, n_long] = config.lengths;
    let sites = dhat_growth(&profiles[0], n_short, &profiles[1], n_long)
        .map_err(|e| (passes.clone(), e.to_string()))?;
    Ok((passes, sites))
}

/// The tracemalloc pass: the judged command again, with the client's attribution on,
/// stopped at the judged run's length (a program that runs until stopped would otherwise
/// run until `--timeout`). Not started when it cannot produce sites: the judged run never
/// marked (no client), or marked too few times for a snapshot and a later one.
fn client_pass(
    scenario: &ScenarioConfig,
    spec: &RunSpec,
    report: &ScenarioReport,
    pass_root: &Path,
    dir: &Path,
) -> PassResult {
    let from = first_snapshot_mark(scenario);
    let judged_marks = report.iterations.unwrap_or(0);
    if judged_marks == 0 {
        return Err((Vec::new(), "the program does not mark: attribution needs the leakcheck Python client (python/) or a [scenarios.NAME.attribution] dhat build; no pass was run".to_owned()));
    }
    if judged_marks <= 2 * from {
        return Err((
            Vec::new(),
            format!(
                "the judged run had {judged_marks} marks: a pass needs more than {} (a snapshot after mark {from} and a later one); no pass was run",
                2 * from
            ),
        ));
    }
    let mut pass = spec.clone();
    pass.env.push((ATTRIBUTE_ENV.to_owned(), "1".to_owned()));
    pass.env
        .push((ATTRIBUTE_FROM_ENV.to_owned(), from.to_string()));
    pass.out_dir = pass_root.to_path_buf();
    pass.child_log = Some(pass_root.join("child.log"));
    tell!(
        "[{}] attribution pass (tracemalloc from mark {from})",
        scenario.name
    );
    let outcome = run_pass(&pass, Some(judged_marks)).map_err(|why| (Vec::new(), why))?;
    let passes = vec![AttributionPass {
        length: outcome.timeline.marks.len() as u64,
        dir: relative(pass_root, dir),
        wall_s: outcome.wall_s,
    }];
    let Some(record) = &outcome.timeline.attribution else {
        let why = if outcome.timeline.marks.is_empty() {
            "the program does not mark: attribution needs the leakcheck Python client (python/) or a [scenarios.NAME.attribution] dhat build".to_owned()
        } else {
            format!(
                "the program sent no attribution message in {} marks: it needs the leakcheck Python client (python/), and more than {} marks",
                outcome.timeline.marks.len(),
                2 * from
            )
        };
        return Err((passes, why));
    };
    if record.marks == 0 {
        let why = "the program's attribution message covers 0 marks: no growth per iteration can be computed from it".to_owned();
        return Err((passes, why));
    }
    let base = scenario.working_dir();
    let base = base.canonicalize().unwrap_or(base);
    Ok((passes, client_sites(record, &base.to_string_lossy())))
}

/// The first snapshot comes after a tenth of the judged length (warm-up stays out),
/// at least 10 marks in.
fn first_snapshot_mark(scenario: &ScenarioConfig) -> u64 {
    scenario.iterations.map_or(10, |n| (n / 10).max(10))
}

/// Runs one pass to its end, or to `marks` marks when given, and says why when it did not
/// complete.
fn run_pass(pass: &RunSpec, marks: Option<u64>) -> Result<leakcheck_runner::RunOutcome, String> {
    let mut at_length = |timeline: &leakcheck_records::Timeline| {
        let limit = marks?;
        (timeline.marks.len() as u64 >= limit).then(|| {
            StopRequest::AtMaximum(format!(
                "the attribution pass reached the judged run's {limit} marks"
            ))
        })
    };
    let outcome = run_with(pass, &mut |_| {}, &mut at_length).map_err(|e| e.to_string())?;
    let ending = leakcheck_records::RunEnding {
        termination: Some(outcome.termination),
        last_iteration: outcome.timeline.last_iteration(),
        message: None,
    };
    if !ending.is_complete() {
        return Err(format!(
            "the pass did not complete: it {}",
            ending.describe()
        ));
    }
    Ok(outcome)
}

/// What the shares are of: the judged run's failing growth (or, when nothing failed,
/// its first budgeted growth), preferring `metric`.
fn measured(report: &ScenarioReport, prefer: Option<&str>) -> Option<Measured> {
    let growths = report.metrics.iter().flat_map(|m| {
        m.budgets
            .iter()
            .filter(|b| matches!(b.kind, BudgetKind::Slope | BudgetKind::Retained))
            .map(move |b| (m, b))
    });
    let pick = |failing: bool| {
        growths
            .clone()
            .filter(|(_, b)| !failing || b.outcome == Outcome::Fail)
            .max_by_key(|(m, _)| prefer.is_some_and(|p| m.name == p))
    };
    let (m, b) = pick(true).or_else(|| pick(false))?;
    let rate = match b.kind {
        BudgetKind::Retained => m
            .retained_per_session
            .as_ref()
            .map_or(b.estimate, |p| p.slope),
        BudgetKind::Slope | BudgetKind::Growth | BudgetKind::Peak => b.estimate,
    };
    Some(Measured {
        metric: m.name.clone(),
        rate,
    })
}

/// `argv` with a relative program path made absolute: the pass runs in its own folder.
fn absolute_program(mut argv: Vec<String>) -> Vec<String> {
    if let Some(program) = argv.first_mut()
        && program.contains('/')
        && let Ok(path) = std::path::absolute(program.as_str())
    {
        *program = path.to_string_lossy().into_owned();
    }
    argv
}

/// Points `argv[0]` at a private link (or copy) of the program in `pass_dir` and returns
/// it. dhat reads the binary's debug info when the program ends; a `cargo build` that
/// replaces the binary meanwhile (another gate shard or test building the same target)
/// leaves it nothing to read. `None`, and the program runs in place, when neither works.
fn private_program(argv: &mut [String], pass_dir: &Path) -> Option<PathBuf> {
    let program = argv.first_mut()?;
    let source = Path::new(program.as_str());
    if !source.is_absolute() {
        return None;
    }
    let copy = pass_dir.join(source.file_name()?);
    let _ = std::fs::remove_file(&copy);
    std::fs::hard_link(source, &copy)
        .or_else(|_| std::fs::copy(source, &copy).map(drop))
        .ok()?;
    *program = copy.to_string_lossy().into_owned();
    Some(copy)
}

/// `path` relative to `base` when under it, for the report's links.
fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// The `.rs` files under `root` (relative, `/`-separated), skipping `target/`, hidden
/// folders and anything past [`MAX_WORKSPACE_FILES`].
fn workspace_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == "target" {
                continue;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() && name.ends_with(".rs") => {
                    out.push(relative(&path, root).replace('\\', "/"));
                    if out.len() >= MAX_WORKSPACE_FILES {
                        return out;
                    }
                }
                _ => {}
            }
        }
    }
    out.sort();
    out
}
