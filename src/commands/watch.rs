//! `leakcheck watch PID` and `leakcheck watch --name PATTERN`: judge a job that is
//! already running, from outside, as a run of it would be judged.
//!
//! The process is picked ([`leakcheck_runner::find`]), held by a pidfd
//! ([`Target::attach_picked`], which refuses a pid reused since it was picked) and
//! observed by the runner's one observer, so `samples.jsonl`, `judging.json`, the reports
//! and `leakcheck report`/`compare` work on a watch as on a run. It is judged by time:
//! with `--until DURATION` on a plan whose maximum is that duration, else on an open-ended
//! plan whose looks never spend more than the confidence allows, however long the watch
//! lasts ([`LookPlan::open_ended`]).

use std::time::Duration;

use leakcheck_judge::{LiveJudge, LookPlan, StopNow, apply_budget_overrides};
use leakcheck_runner::find;
use leakcheck_runner::{StopRequest, Target, Timeline, observe};
use leakcheck_settings::ScenarioConfig;
use leakcheck_vocab::XUnit;

use super::run::{command_defaults, positive_duration, report_name};
use super::{
    OutDirLock, create_out_dir, interrupt_flag, judge_outcome, memory_limit, parse_budget_args,
};
use crate::cli::WatchArgs;
use crate::error::{CliError, ExitStatus};
use crate::output::tell;
use crate::progress::Progress;

/// A pass needs a watch at least this long unless `--min-duration` says otherwise: a
/// job's memory over its first minute says little of its next hour.
pub const DEFAULT_MIN_WATCH: Duration = Duration::from_secs(60);

/// How often the watched tree is sampled unless `--interval` says otherwise: a watch may
/// last days, and ten samples a second decide a slope within seconds.
pub const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// The observer's timeout for a watch without `--until`: in practice none.
const NO_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// When a watch ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Until {
    /// When every budget is decided (or the process exits, or Ctrl-C).
    Decided,
    /// After this long (or when the process exits, or Ctrl-C).
    After(Duration),
    /// When the process exits, or Ctrl-C.
    End,
}

fn parse_until(text: Option<&str>) -> Result<Until, CliError> {
    match text {
        None => Ok(Until::End),
        Some("decided") => Ok(Until::Decided),
        Some(text) => positive_duration("--until", text)
            .map(Until::After)
            .map_err(|_| {
                CliError::Usage(format!(
                    "invalid --until {text:?}: expected \"decided\" or a duration above zero, e.g. \"30min\""
                ))
            }),
    }
}

pub fn execute(
    args: WatchArgs,
    judged: &mut Vec<leakcheck_report::GateEntry>,
) -> Result<ExitStatus, CliError> {
    let overrides = parse_budget_args(&args.budgets.budgets)?;
    let until = parse_until(args.until.as_deref())?;
    let min = match (&args.min_duration, until) {
        (Some(text), _) => positive_duration("--min-duration", text)?,
        // A watch shorter than the default minimum may pass at its end.
        (None, Until::After(d)) => DEFAULT_MIN_WATCH.min(d),
        (None, _) => DEFAULT_MIN_WATCH,
    };
    let interval = match &args.interval {
        Some(text) => positive_duration("--interval", text)?,
        None => DEFAULT_WATCH_INTERVAL,
    };
    let picked = match (args.pid, &args.pattern, &args.cgroup) {
        (Some(pid), None, None) => find::by_pid(pid)?,
        (None, Some(pattern), None) => find::by_command_line(pattern)?,
        (None, None, Some(path)) => find::by_cgroup(path)?,
        _ => {
            return Err(CliError::Usage(
                "give one of: the pid of the process to watch, --name PATTERN, --cgroup PATH"
                    .to_string(),
            ));
        }
    };
    // A process reads as no command line while it execs (or once it is a zombie).
    let argv = match picked.args.is_empty() {
        true => vec![format!("pid-{}", picked.pid)],
        false => picked.args.clone(),
    };
    let name = report_name("--label", args.label.as_deref(), &argv[0])?;

    let defaults = command_defaults(&args.config.config, "the watch judges")?;
    let mut scenario = ScenarioConfig::from_command(&name, argv.clone(), &defaults);
    let settings = &mut scenario.settings;
    settings.no_progress_timeout = Duration::ZERO;
    settings.ceiling = None;
    settings.rss_interval = interval;
    settings.pss |= args.pss;
    settings.timeout = match until {
        // A little past the plan's maximum: the live judge ends the watch there.
        Until::After(d) => d + Duration::from_secs(5),
        Until::Decided | Until::End => NO_TIMEOUT,
    };
    apply_budget_overrides(&mut scenario.budgets, overrides);
    let confidence = scenario.settings.confidence;
    let plan = match until {
        Until::After(max) if min > max => {
            return Err(CliError::Usage(format!(
                "invalid --min-duration {min:?}: it is above --until ({max:?}); expected a minimum at most the watch's length"
            )));
        }
        Until::After(max) => LookPlan {
            unit: XUnit::Second,
            min: min.as_secs_f64(),
            max: max.as_secs_f64(),
            confidence,
        },
        Until::Decided | Until::End => {
            LookPlan::open_ended(XUnit::Second, min.as_secs_f64(), confidence)
        }
    };

    let dir = create_out_dir(&args.out.join(&name))?;
    let _lock = OutDirLock::take(&dir)?;
    let mut spec = scenario.run_spec(&args.config.config, None, None, &dir)?;
    spec.cwd = None;
    spec.cancel = Some(interrupt_flag());
    spec.validate()?;
    let mut judging = scenario.judging(None, argv, None, Some(plan));
    judging.limit = memory_limit(args.limit.as_deref(), picked.pid)?;
    // Only `--until decided` stops on a look; otherwise the looks report as the watch
    // goes and the verdict is the job's state at the end.
    judging.decide_at_end = until != Until::Decided;
    if args.cgroup.is_some() {
        // A cgroup is watched for its memory files: show them, budgeted or not.
        judging.show = find::CGROUP_METRICS.iter().map(|m| m.to_string()).collect();
    }
    judging.save(&dir)?;

    // Refused (a usage error) when the pid ended or now names another process.
    let target = Target::attach_picked(&picked)?;
    tell!(
        "[{name}] watching pid {} and its descendants: {}{}",
        picked.pid,
        leakcheck_vocab::fmt::one_line(&picked.command, leakcheck_vocab::fmt::COMMAND_CHARS),
        match until {
            Until::Decided => " (until every budget is decided, it exits, or Ctrl-C)".to_string(),
            Until::After(d) => format!(" (for {d:?}, until it exits, or Ctrl-C)"),
            Until::End => " (until it exits or Ctrl-C; the report is written then)".to_string(),
        }
    );
    // Both callbacks of the observer report progress; they run one at a time.
    let progress = std::cell::RefCell::new(Progress::new(&name, None));
    let mut live = LiveJudge::new(&judging, matches!(until, Until::After(_)));
    let mut early_stop = |timeline: &Timeline| {
        let live = live.as_mut()?;
        let stop = live.check(timeline);
        // Every look says where the watch stands, on one line.
        if let Some((look, report)) = live.take_latest() {
            let line = leakcheck_report::words::look_line(&look, &report);
            progress.borrow().note(&line);
        }
        match stop? {
            StopNow::Decided(why) if until == Until::Decided => Some(StopRequest::Decided(why)),
            StopNow::Decided(_) => None,
            StopNow::AtMaximum(why) => Some(StopRequest::AtMaximum(why)),
        }
    };
    let outcome = observe(
        &spec,
        target,
        None,
        &mut |event| progress.borrow_mut().on_event(event),
        &mut early_stop,
    );
    progress.into_inner().finish();
    let judgement = judge_outcome(&judging, &outcome?, &dir);
    let status = ExitStatus::of_verdict(judgement.verdict, judgement.misconfigured);
    judged.extend(super::single_entry(judgement.report));
    Ok(status)
}
