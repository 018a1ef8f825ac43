//! leakcheck-judge: turns a recorded run into a verdict, live (on the partial timeline of
//! a run still going) or offline (on a `samples.jsonl` read back).
//!
//! [`judge`] takes the [`Timeline`], how the run ended and the [`Judging`] settings, builds
//! each metric's series, asks `leakcheck-analysis` for its statistics and verdicts, and
//! returns a [`Judgement`]: the overall [`Overall`] verdict, whether a budget could not
//! apply at all, and the report's view model ([`ScenarioReport`]) with every sentence
//! worded by `leakcheck_summary::words`. It does no I/O besides `judging.json`
//! ([`Judging::save`], [`Judging::load`]), words nothing itself, and knows no exit codes:
//! the CLI maps a [`Judgement`] to one.

pub mod baseline;
pub mod compare;
mod judging;
mod metric;
mod processes;
mod stats;

use leakcheck_records::{RecordedRun, RunEnding, Termination, Timeline, metrics};
use leakcheck_summary::{self as report, Overall, ScenarioReport};
use leakcheck_vocab::{BudgetKind, CheckReason, Outcome, XUnit};

pub use baseline::{Baseline, BaselineEntry, BaselineError, RatchetTolerance, ratchet};
pub use compare::{Quantities, compare};
pub use judging::{JUDGING_FILE, JUDGING_VERSION, Judging, JudgingError, apply_budget_overrides};
use leakcheck_analysis::sequential::{LookVerdict, LookWalk, Steadiness};
pub use leakcheck_analysis::{LookPlan, MetricBudget, Tolerance};
pub use leakcheck_summary::MemoryLimit;
pub use leakcheck_vocab::Look;

/// How the recorded run went, besides its samples.
#[derive(Debug, Clone)]
pub struct RunFacts<'a> {
    pub timeline: &'a Timeline,
    /// `None` when the samples file has no exit record (leakcheck itself was killed), and
    /// while the run is still going.
    pub termination: Option<Termination>,
    /// Why the runner ended the run, when it said: the early-stop reason, or why the run
    /// could not start.
    pub reason: Option<String>,
    pub wall_s: f64,
    pub samples_file: String,
}

impl<'a> RunFacts<'a> {
    /// The facts of a run read back from its samples file (`samples_file` names it in
    /// the report): its timeline, its recorded ending, the early-stop reason and wall time.
    pub fn recorded(run: &'a RecordedRun, samples_file: String) -> RunFacts<'a> {
        RunFacts {
            timeline: &run.timeline,
            termination: run.termination(),
            reason: run.exit.as_ref().and_then(|e| e.stopped_early.clone()),
            wall_s: run.exit.as_ref().map_or(0.0, |e| e.wall_s),
            samples_file,
        }
    }
}

/// The judge's answer for one run.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub verdict: Overall,
    /// A budget cannot apply to its series at all (a per-iteration rate on a per-second
    /// series): the configuration is wrong, whatever the data says.
    pub misconfigured: bool,
    pub report: ScenarioReport,
    /// Per metric of `report.metrics`: a steady leak a look may fail on
    /// ([`leakcheck_analysis::MetricAnalysis::steadiness`]).
    steadiness: Vec<Steadiness>,
}

impl Judgement {
    /// What this judgement, made at a look, says about the run's verdict.
    fn look_verdict(&self, may_pass: bool) -> LookVerdict {
        let checks = self
            .report
            .metrics
            .iter()
            .zip(&self.steadiness)
            .flat_map(|(m, &steady)| m.budgets.iter().map(move |c| (steady, c.outcome)));
        LookVerdict::of(checks, may_pass)
    }

    /// The plots show every sample of the run, also those after the look that decided.
    fn with_all_points(mut self, timeline: &Timeline) -> Judgement {
        for m in &mut self.report.metrics {
            if let Some((x, y, _)) = timeline.series(&m.name) {
                m.points = x.iter().zip(&y).map(|(&x, &y)| [x, y]).collect();
                // The title's peak is the whole run's, as the points are (it was the
                // deciding look's, below a point the plot drew).
                let (before, after) = timeline.unplaced(&m.name).unwrap_or_default();
                m.peak = y
                    .iter()
                    .chain(&before)
                    .chain(&after)
                    .copied()
                    .fold(m.peak, f64::max);
            }
            // A peak budget holds over the whole run: memory that crossed it after the
            // deciding look (the run is stopped just after) still fails it.
            for c in &mut m.budgets {
                if c.kind == BudgetKind::Peak && c.outcome != Outcome::Fail && m.peak > c.limit {
                    c.outcome = Outcome::Fail;
                    (c.estimate, c.lo, c.hi) = (m.peak, m.peak, m.peak);
                    c.line = report::words::check_line(&report::words::CheckFacts {
                        metric: &m.name,
                        key: "",
                        kind: c.kind,
                        limit: c.limit,
                        limit_text: &c.limit_text,
                        outcome: c.outcome,
                        reason: &CheckReason::Decided,
                        estimate: m.peak,
                        lo: m.peak,
                        hi: m.peak,
                        confidence: f64::NAN,
                        sensitivity: f64::NAN,
                        more: None,
                        shape: &m.shape,
                        sessions: 0,
                        checkpoints: 0,
                        envelope: None,
                        unit: m.unit,
                        x_unit: self.report.x_unit,
                    });
                    self.verdict = Overall::Fail;
                }
            }
        }
        if self.verdict == Overall::Fail && self.report.verdict != Overall::Fail {
            self.report.verdict = Overall::Fail;
            let checks: Vec<&report::BudgetCheck> = self
                .report
                .metrics
                .iter()
                .flat_map(|m| &m.budgets)
                .collect();
            self.report.headline =
                report::words::headline(Overall::Fail, &self.report.status, &checks);
        }
        self.report.iterations =
            (!timeline.marks.is_empty()).then_some(timeline.marks.len() as u64);
        let peak = timeline.peak_rss_tree();
        self.report.peak_bytes = (peak > 0).then_some(peak as f64);
        self
    }

    /// Every budget check is decided (pass or fail): what a run still going needs to know
    /// to stop early.
    pub fn budgets_decided(&self) -> bool {
        self.report
            .metrics
            .iter()
            .flat_map(|m| &m.budgets)
            .all(|c| c.outcome != Outcome::Undecided)
    }
}

/// Analyse every metric worth showing, judge the budgets and combine them with the run's
/// ending into one verdict.
///
/// With a sequential plan the run is judged at each interim look its data reaches, on the
/// data up to that look and at that look's confidence; the first look where the verdict is
/// settled (a budget fails, or every budget passes at or past the minimum length) decides.
/// Otherwise the last look, on all the data up to the maximum, spends what the others
/// left. The live runner asks the same question through [`LiveJudge`], so a run read back
/// is judged exactly as it was while it went.
pub fn judge(judging: &Judging, facts: &RunFacts<'_>) -> Judgement {
    let mut judgement = judge_looks(judging, facts);
    judgement.report.processes = processes::rank(facts.timeline, judging.confidence);
    judgement
}

/// [`judge`] without the ranking of processes, which looks the whole run over.
fn judge_looks(judging: &Judging, facts: &RunFacts<'_>) -> Judgement {
    let Some(plan) = judging.plan else {
        return judge_once(judging, facts, judging.confidence, None, false);
    };
    let timeline = facts.timeline;
    let mut walk = LookWalk::new(&plan);
    // With `decide_at_end` the interim looks only report while the run goes.
    while let Some(look) = walk.next_look().filter(|_| !judging.decide_at_end) {
        if timeline.length(plan.unit) <= look.length {
            break;
        }
        let partial = timeline.truncated(plan.unit, look.length);
        let judgement = judge_at(judging, facts, &partial, look, true);
        if walk.record(judgement.look_verdict(look.may_pass)) {
            return judgement.with_all_points(timeline);
        }
    }
    let length = timeline.length(plan.unit);
    let last = match judging.decide_at_end {
        // One decision, so the whole error is its own; a pass still needs the minimum.
        true => Look {
            index: 1,
            of: 1,
            length: length.min(plan.max),
            unit: plan.unit,
            confidence: plan.confidence,
            may_pass: length >= plan.min,
        },
        false => plan.final_look(&walk.done, length),
    };
    // Stopped at the maximum, perhaps a little past it: judged up to the maximum.
    let judged = if length >= plan.max {
        &timeline.truncated(plan.unit, plan.max)
    } else {
        timeline
    };
    judge_at(judging, facts, judged, last, false).with_all_points(timeline)
}

/// The judge a run still going consults: every time the data completes another interim
/// look of the plan, that look is judged; the answer says when to stop.
#[derive(Debug, Clone)]
pub struct LiveJudge {
    judging: Judging,
    walk: LookWalk,
    /// Stop the run at the plan's maximum (false when the program was told the maximum
    /// and ends there by itself).
    stop_at_max: bool,
    /// The last look judged and what it said, until taken ([`LiveJudge::take_latest`]).
    latest: Option<(Look, ScenarioReport)>,
}

/// Why a run still going should be stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum StopNow {
    /// A look settled the verdict: the words say which and why.
    Decided(String),
    /// The run reached the plan's maximum length.
    AtMaximum(String),
}

impl LiveJudge {
    /// `None` without a plan: nothing to decide early. `stop_at_max`: the program does not
    /// know the maximum (an ad-hoc command, a time plan), so the run is stopped there.
    pub fn new(judging: &Judging, stop_at_max: bool) -> Option<LiveJudge> {
        let plan = judging.plan?;
        Some(LiveJudge {
            judging: judging.clone(),
            walk: LookWalk::new(&plan),
            stop_at_max,
            latest: None,
        })
    }

    /// The last look judged since the last call, and its report: what a watch says at
    /// each look.
    pub fn take_latest(&mut self) -> Option<(Look, ScenarioReport)> {
        self.latest.take()
    }

    /// Judge the looks the data has completed since the last call.
    pub fn check(&mut self, timeline: &Timeline) -> Option<StopNow> {
        let plan = self.judging.plan?;
        while let Some(look) = self.walk.next_look() {
            if !timeline.complete_to(plan.unit, look.length) {
                break;
            }
            let partial = timeline.truncated(plan.unit, look.length);
            let facts = RunFacts {
                timeline: &partial,
                termination: None,
                reason: None,
                wall_s: 0.0,
                samples_file: String::new(),
            };
            let judgement = judge_at(&self.judging, &facts, &partial, look, true);
            let settled = self.walk.record(judgement.look_verdict(look.may_pass));
            let why = settled.then(|| report::words::decided_early(&look, &judgement.report));
            self.latest = Some((look, judgement.report));
            if let Some(why) = why {
                return Some(StopNow::Decided(why));
            }
        }
        (self.stop_at_max && timeline.length(plan.unit) >= plan.max)
            .then(|| StopNow::AtMaximum(report::words::at_maximum(plan.unit, plan.max)))
    }
}

/// One look: the data up to it judged at its confidence, the rest of the facts as they are.
/// `interim`: an interim look of the plan, which may stop a run still going.
fn judge_at(
    judging: &Judging,
    facts: &RunFacts<'_>,
    partial: &Timeline,
    look: Look,
    interim: bool,
) -> Judgement {
    let at = RunFacts {
        timeline: partial,
        ..facts.clone()
    };
    judge_once(judging, &at, look.confidence, Some(look), interim)
}

fn judge_once(
    judging: &Judging,
    facts: &RunFacts<'_>,
    confidence: f64,
    look: Option<Look>,
    interim: bool,
) -> Judgement {
    let timeline = facts.timeline;
    let x_unit = if timeline.marks.is_empty() {
        XUnit::Second
    } else {
        XUnit::Iteration
    };
    // A run that ended by itself before the plan's minimum cannot pass.
    let short_of_min = look
        .filter(|l| !l.may_pass)
        .and(judging.plan)
        .map(|p| (timeline.length(p.unit), p.min));
    let metrics = metric::judge_metrics(judging, timeline, confidence, short_of_min, interim);
    let steadiness = metrics.iter().map(|m| m.steadiness()).collect();
    let status = run_ending(facts);
    let checks: Vec<&report::BudgetCheck> =
        metrics.iter().flat_map(|m| &m.report.budgets).collect();
    let any = |outcome: Outcome| checks.iter().any(|c| c.outcome == outcome);
    let verdict = if any(Outcome::Fail) || status.ceiling_crossed() {
        Overall::Fail
    } else if !status.is_complete() {
        Overall::Incomplete
    } else if any(Outcome::Undecided) {
        Overall::Undecided
    } else if checks.is_empty() {
        Overall::NoBudgets
    } else {
        Overall::Pass
    };
    let misconfigured = metrics
        .iter()
        .flat_map(|m| &m.reasons)
        .any(|r| matches!(r, CheckReason::UnitMismatch { .. }));
    let headline = report::words::headline(verdict, &status, &checks);
    let peak_tree = timeline.peak_rss_tree();
    let mut warnings = timeline.warnings.clone();
    if let Some((index, iteration, previous)) = timeline.iteration_disorder() {
        warnings.push(format!(
            "the marks' iteration numbers do not increase (iteration {iteration} after {previous}, at mark {}): judged per mark in arrival order",
            index + 1
        ));
    }
    let report = ScenarioReport {
        schema_version: report::SCHEMA_VERSION,
        scenario: judging.scenario.clone(),
        variant: judging.variant.clone(),
        command: judging.argv.clone(),
        status,
        verdict,
        headline,
        x_unit,
        duration_s: facts.wall_s,
        iterations: (!timeline.marks.is_empty()).then_some(timeline.marks.len() as u64),
        metrics: metrics.into_iter().map(|m| m.report).collect(),
        sessions: session_markers(timeline, x_unit),
        notes: notes(timeline),
        ceiling_bytes: judging.ceiling.map(|c| c as f64),
        ceiling_metric: judging.ceiling.map(|_| metrics::RSS_TREE.to_string()),
        peak_bytes: (peak_tree > 0).then_some(peak_tree as f64),
        samples_file: facts.samples_file.clone(),
        decode_warnings: warnings,
        decided_at: look,
        attribution: None,
        ratchet: Vec::new(),
        processes: Vec::new(),
    };
    Judgement {
        verdict,
        misconfigured,
        report,
        steadiness,
    }
}

/// The child's notes, then the tree's RSS against its PSS when several processes shared
/// pages (the double counting a reader of `rss.tree` alone would take for memory).
fn notes(timeline: &Timeline) -> Vec<String> {
    let mut notes = timeline.notes.clone();
    let last_shared = timeline
        .samples
        .iter()
        .rev()
        .find_map(|s| Some((s, s.rss_tree?, s.pss_tree.filter(|_| s.pids > 1)?)));
    if let Some((s, rss_tree, pss)) = last_shared {
        notes.push(report::words::sharing_note(
            rss_tree as f64,
            pss as f64,
            s.pids,
        ));
    }
    notes
}

fn session_markers(timeline: &Timeline, x_unit: XUnit) -> Vec<report::SessionMarker> {
    let labels = timeline
        .sessions
        .iter()
        .filter(|s| s.event == leakcheck_records::SessionEvent::Start)
        .map(|s| s.label.clone());
    timeline
        .session_starts(x_unit)
        .into_iter()
        .zip(labels)
        .map(|(x, label)| report::SessionMarker { x, label })
        .collect()
}

/// The run's ending with what the records add: the last iteration, and the program's
/// last note when it exited non-zero or the reason of an early stop.
fn run_ending(facts: &RunFacts<'_>) -> RunEnding {
    let message = match facts.termination {
        Some(Termination::Exited { code }) if code != 0 => facts.timeline.notes.last().cloned(),
        Some(Termination::LengthReached { .. }) => facts.reason.clone(),
        Some(Termination::StoppedEarly { .. }) => Some(
            facts
                .reason
                .clone()
                .unwrap_or_else(|| "the verdict was already certain".to_string()),
        ),
        Some(Termination::NotStarted) => facts.reason.clone(),
        _ => None,
    };
    RunEnding {
        termination: facts.termination,
        last_iteration: facts.timeline.last_iteration(),
        message,
    }
}
