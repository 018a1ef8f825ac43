//! Where numbers become sentences: the line of each budget check and the headline of a
//! scenario. The judge hands over numbers and a [`CheckReason`]; the wording is here, once,
//! and every format (terminal, markdown, HTML, JUnit) shows these same lines.

use leakcheck_vocab::{
    BudgetKind, Change, CheckReason, Envelope, Look, Outcome, ValueUnit, XUnit, fmt,
};

use crate::model::{Attribution, BudgetCheck, MetricReport, Overall, RunEnding, ScenarioReport};

/// What one budget check's line says.
#[derive(Debug, Clone, Copy)]
pub struct CheckFacts<'a> {
    pub metric: &'a str,
    /// Where the budget came from (`scenarios.x.budgets."rss.tree".slope`, `--budget rss.slope`).
    pub key: &'a str,
    pub kind: BudgetKind,
    /// The limit, per `x_unit` for slopes.
    pub limit: f64,
    /// The limit as the user wrote it.
    pub limit_text: &'a str,
    pub outcome: Outcome,
    pub reason: &'a CheckReason,
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
    pub confidence: f64,
    /// Half-width of the slope interval: the smallest slope the run could detect.
    pub sensitivity: f64,
    /// For an undecided slope: about how many more x units would decide.
    pub more: Option<u64>,
    /// The metric's shape class (`leak`, `saturating`, …).
    pub shape: &'a str,
    /// Sessions in the series (for retained budgets).
    pub sessions: usize,
    /// Checkpoints retained memory was measured at (0: measured at session starts).
    pub checkpoints: usize,
    /// Under churn, the envelope (troughs or peaks) the estimate and interval are of.
    pub envelope: Option<Envelope>,
    pub unit: ValueUnit,
    pub x_unit: XUnit,
}

/// What a metric without a budget does, for a run that has none: its slope with the
/// interval and its shape, e.g. `rss grows 1.52 MiB/s (99% CI 1.45–1.6 MiB/s): leak`
/// (under churn, its troughs' line). Nothing is judged; the words say so.
pub fn unbudgeted_line(m: &MetricReport, x_unit: XUnit) -> String {
    let Some(fit) = &m.fit else {
        return format!("{}: shape {}, too few points for a slope", m.name, m.shape);
    };
    let name = match m.envelopes.first() {
        Some(e) => format!("{} {}", m.name, e.envelope.name()),
        None => m.name.clone(),
    };
    let grows = match (fit.slope >= 0.0, m.envelopes.is_empty()) {
        (true, true) => "grows",
        (false, true) => "changes",
        (true, false) => "grow",
        (false, false) => "change",
    };
    // `19.5–20 MiB/s`, or `20 MiB/s at both ends` when the bounds round alike.
    let range = fmt::value_range(fit.slope_lo, fit.slope_hi, m.unit);
    let per = x_unit.suffix();
    let range = match range.strip_suffix(" at both ends") {
        Some(value) => format!("{value}/{per} at both ends"),
        None => format!("{range}/{per}"),
    };
    format!(
        "{name} {grows} {} ({}% CI {range}): {}",
        fmt::rate(fit.slope, m.unit, x_unit),
        fmt::percent(fit.confidence),
        m.shape
    )
}

/// When a growing metric reaches the memory limit: `at this rate it reaches the 23.4 GiB
/// limit (MemAvailable + held) in 3.5 h (99% CI 3.2–3.9 h)`.
pub fn forecast_line(f: &crate::model::Forecast, x_unit: XUnit) -> String {
    let limit = format!(
        "the {} limit ({})",
        fmt::bytes(f.limit.bytes),
        f.limit.source
    );
    let ahead = |v: f64| match x_unit {
        XUnit::Second => fmt::span(v),
        XUnit::Iteration => format!("{} iterations", v.round()),
    };
    match f.crossing {
        crate::model::Crossing::Reached => format!("it is past {limit} already"),
        crate::model::Crossing::In {
            estimate,
            earliest,
            latest,
        } => format!(
            "at this rate it reaches {limit} in {} ({}% CI {}–{})",
            ahead(estimate),
            fmt::percent(f.confidence),
            ahead(earliest),
            ahead(latest)
        ),
    }
}

/// What one look of a run still going says, on one line: `after 101 s (look 3, 99.83%
/// intervals): rss.tree 20 MiB/s (19.9 MiB/s–20.1 MiB/s) fail, reaches the limit in 38 s;
/// rss 0 B/s (-1 KiB/s–1 KiB/s) no budget`.
pub fn look_line(look: &Look, report: &crate::model::ScenarioReport) -> String {
    let per = report.x_unit;
    let metrics: Vec<String> = report
        .metrics
        .iter()
        .filter_map(|m| {
            let fit = m.fit.as_ref()?;
            let outcome = match m.budgets.iter().map(|b| b.outcome).max_by_key(|o| match o {
                Outcome::Fail => 2,
                Outcome::Undecided => 1,
                Outcome::Pass => 0,
            }) {
                Some(o) => o.word().to_string(),
                None => "no budget".to_string(),
            };
            let mut line = format!(
                "{} {} ({}–{}) {outcome}",
                m.name,
                fmt::rate(fit.slope, m.unit, per),
                fmt::rate(fit.slope_lo, m.unit, per),
                fmt::rate(fit.slope_hi, m.unit, per)
            );
            if let Some(crate::model::Forecast {
                crossing: crate::model::Crossing::In { estimate, .. },
                ..
            }) = &m.forecast
            {
                let ahead = match per {
                    XUnit::Second => fmt::span(*estimate),
                    XUnit::Iteration => format!("{} iterations", estimate.round()),
                };
                line.push_str(&format!(", reaches the limit in {ahead}"));
            }
            Some(line)
        })
        .collect();
    format!("{}: {}", look_fact(look), metrics.join("; "))
}

/// One role of a process tree and how one of its processes grows: `3 × python3 train.py
/// (pids 12, 13, 14; depth 1) each grow 3.4 MiB/s (99% CI 3.3–3.5 MiB/s): leak`.
pub fn process_line(r: &crate::model::ProcessRole) -> String {
    const LISTED: usize = 5;
    let mut pids: Vec<String> = r.pids.iter().take(LISTED).map(u32::to_string).collect();
    if r.pids.len() > LISTED {
        pids.push(format!("… {} in all", r.pids.len()));
    }
    let command = fmt::one_line(&r.command, fmt::COMMAND_CHARS);
    let (who, grows) = match (r.pids.len(), r.depth) {
        (1, 0) => (
            format!("{command} (pid {}, top of the tree)", pids[0]),
            "grows",
        ),
        (1, depth) => (
            format!("{command} (pid {}, depth {depth})", pids[0]),
            "grows",
        ),
        (n, depth) => (
            format!("{n} × {command} (pids {}; depth {depth})", pids.join(", ")),
            "each grow",
        ),
    };
    let per = XUnit::Second;
    format!(
        "{who} {grows} {} ({}% CI {}–{}): {}",
        fmt::rate(r.slope, ValueUnit::Bytes, per),
        fmt::percent(r.confidence),
        fmt::rate(r.lo, ValueUnit::Bytes, per),
        fmt::rate(r.hi, ValueUnit::Bytes, per),
        r.shape
    )
}

/// One sentence with the numbers, e.g. `alloc.allocated grows 41.3 KiB/iter (99% CI
/// 40.9–41.8 KiB/iter) > budget 1 KiB/iter: leak`.
pub fn check_line(c: &CheckFacts<'_>) -> String {
    let m = c.metric;
    match c.reason {
        CheckReason::NoData { hint } => return format!("{m}: no data ({hint})"),
        CheckReason::AnalysisFailed { error } => return format!("{m}: cannot analyse: {error}"),
        CheckReason::BelowMinimum { length, min } => {
            let within = check_line(&CheckFacts {
                outcome: Outcome::Pass,
                reason: &CheckReason::Decided,
                ..*c
            });
            return format!(
                "{within}, but undecided: the run ended after {} of the {} a pass needs; run it at least that long",
                length_text(*length, c.x_unit),
                length_text(*min, c.x_unit)
            );
        }
        CheckReason::GaveBack { fall } => {
            let within = check_line(&CheckFacts {
                outcome: Outcome::Pass,
                reason: &CheckReason::Decided,
                ..*c
            });
            return format!(
                "{within}, but undecided: it gave back {} in cycles longer than this run can show {} of; run it longer",
                fmt::value(*fall, c.unit),
                leakcheck_vocab::MIN_PERIODS_SHOWN
            );
        }
        CheckReason::UnitMismatch { series } => {
            return format!(
                "{} = {} cannot apply: the {m} series is per {series} (use a rate per {series})",
                c.key, c.limit_text
            );
        }
        _ => {}
    }
    // Under churn the numbers are an envelope's: "rss.tree troughs grow …".
    let m = &match c.envelope {
        Some(e) => format!("{m} {}", e.name()),
        None => m.to_string(),
    };
    let value = |v: f64| fmt::value(v, c.unit);
    let range = fmt::value_range(c.lo, c.hi, c.unit);
    let pc = fmt::percent(c.confidence);
    let lim = match c.kind {
        BudgetKind::Slope => fmt::rate(c.limit, c.unit, c.x_unit),
        BudgetKind::Growth | BudgetKind::Peak | BudgetKind::Retained => value(c.limit),
    };
    let (sign, closing) = match c.outcome {
        Outcome::Pass => ("≤", "ok".to_string()),
        _ => (">", c.shape.to_string()),
    };
    match c.kind {
        BudgetKind::Slope => {
            let head = format!(
                "{m} {} {} ({pc}% CI {range}/{})",
                match (c.estimate >= 0.0, c.envelope.is_some()) {
                    (true, false) => "grows",
                    (false, false) => "changes",
                    (true, true) => "grow",
                    (false, true) => "change",
                },
                fmt::rate(c.estimate, c.unit, c.x_unit),
                c.x_unit.suffix()
            );
            match (c.outcome, c.reason) {
                (Outcome::Pass, _) => format!(
                    "{head} ≤ budget {lim}: ok (sensitivity ±{})",
                    fmt::rate(c.sensitivity, c.unit, c.x_unit)
                ),
                (Outcome::Fail, _) => format!("{head} > budget {lim}: {closing}"),
                (_, CheckReason::TooFewPoints { points }) => {
                    let longer = match c.more {
                        Some(k) => format!(": run about {k} more {} to decide", c.x_unit.plural()),
                        None => String::new(),
                    };
                    format!(
                        "{head} vs budget {lim}: undecided, only {points} points after warm-up{longer}"
                    )
                }
                _ => match c.more {
                    Some(k) => format!(
                        "{head} straddles budget {lim}: undecided, about {k} more {} would decide",
                        c.x_unit.plural()
                    ),
                    None => format!("{head} straddles budget {lim}: undecided"),
                },
            }
        }
        BudgetKind::Growth => {
            let head = format!(
                "{m} grew {} after warm-up ({pc}% CI {range})",
                value(c.estimate)
            );
            match (c.outcome, c.reason) {
                (Outcome::Undecided, CheckReason::TooFewPoints { points }) => {
                    format!("{head} vs budget {lim}: undecided, only {points} points after warm-up")
                }
                (Outcome::Undecided, _) => format!("{head} straddles budget {lim}: undecided"),
                _ => format!("{head} {sign} budget {lim}: {closing}"),
            }
        }
        BudgetKind::Peak => {
            let closing = if c.outcome == Outcome::Pass {
                "ok"
            } else {
                "over budget"
            };
            format!(
                "{m} peaked at {} {sign} budget {lim}: {closing}",
                value(c.estimate)
            )
        }
        BudgetKind::Retained if *c.reason == CheckReason::NoSessions => format!(
            "{m} has no session boundaries (or one session): retained budget {lim} undecided"
        ),
        BudgetKind::Retained => {
            let closing = if c.outcome == Outcome::Pass {
                "ok"
            } else {
                "leak across sessions"
            };
            let over = if c.checkpoints >= 2 {
                format!("({pc}% CI {range}) between {} checkpoints", c.checkpoints)
            } else {
                format!("over {} sessions", c.sessions)
            };
            let head = format!("{m} retained {} {over}", value(c.estimate));
            match c.outcome {
                Outcome::Undecided => format!("{head} straddles budget {lim}: undecided"),
                _ => format!("{head} {sign} budget {lim}: {closing}"),
            }
        }
    }
}

/// A retained check as a plot's legend names it: `retained 6.87 MiB (99% CI 6.86–6.88 MiB)
/// ≤ budget 16 MiB: ok`, with the words of its check line. `confidence` is the run's (NaN
/// when unknown); a check without an interval (retained between session starts) says
/// `point value`.
pub fn retained_legend(check: &BudgetCheck, unit: ValueUnit, confidence: f64) -> String {
    let value = |v: f64| fmt::value(v, unit);
    let interval = if !(check.lo.is_finite() && check.hi.is_finite()) {
        String::new()
    } else if check.lo == check.hi {
        " (point value)".to_string()
    } else if confidence.is_finite() {
        format!(
            " ({}% CI {})",
            fmt::percent(confidence),
            fmt::value_range(check.lo, check.hi, unit)
        )
    } else {
        format!(" (CI {})", fmt::value_range(check.lo, check.hi, unit))
    };
    let head = format!("retained {}{interval}", value(check.estimate));
    let lim = value(check.limit);
    match check.outcome {
        Outcome::Pass => format!("{head} ≤ budget {lim}: ok"),
        Outcome::Fail => format!("{head} > budget {lim}: leak across sessions"),
        Outcome::Undecided if check.estimate.is_finite() => {
            format!("{head} straddles budget {lim}: undecided")
        }
        Outcome::Undecided => format!("retained budget {lim}: undecided"),
    }
}

/// One sentence that explains the verdict: the first failing (or undecided) check with a
/// count of the others, the run's ending when it decides, or how many checks passed.
pub fn headline(verdict: Overall, status: &RunEnding, checks: &[&BudgetCheck]) -> String {
    let with = |outcome: Outcome| -> Vec<&str> {
        checks
            .iter()
            .filter(|c| c.outcome == outcome)
            .map(|c| c.line.as_str())
            .collect()
    };
    let first_and_more = |lines: Vec<&str>| match lines.len() {
        0 => String::new(),
        1 => lines[0].to_string(),
        n => format!("{} (+{} more)", lines[0], n - 1),
    };
    match verdict {
        Overall::Fail => {
            let failing = with(Outcome::Fail);
            if failing.is_empty() {
                status.describe()
            } else {
                first_and_more(failing)
            }
        }
        Overall::Incomplete => status.describe(),
        Overall::Undecided => first_and_more(with(Outcome::Undecided)),
        Overall::NoBudgets => {
            "no budgets set: a report only, nothing was judged (see the shapes below)".to_string()
        }
        Overall::Pass => format!("all {} budget checks within limits", checks.len()),
    }
}

/// A run's length: `60 iterations`, `2.1 s`.
pub fn length_text(length: f64, unit: XUnit) -> String {
    match unit {
        XUnit::Iteration => format!("{length:.0} iterations"),
        XUnit::Second => fmt::seconds(length),
    }
}

/// The retained growth per session, e.g. `rss.tree retains 251 MiB per session (99% CI
/// 249–253 MiB) over 6 checkpoints`.
pub fn per_session_line(metric: &str, p: &crate::model::PerSession, unit: ValueUnit) -> String {
    format!(
        "{metric} retains {} per session ({}% CI {}) over {} checkpoints",
        fmt::value(p.slope, unit),
        fmt::percent(p.confidence),
        fmt::value_range(p.lo, p.hi, unit),
        p.checkpoints
    )
}

/// What the tree's RSS and PSS say side by side when processes share pages (forked
/// workers): `rss` counts a shared page once in every process that maps it.
pub fn sharing_note(rss_tree: f64, pss_tree: f64, processes: u32) -> String {
    format!(
        "rss.tree {} vs pss.tree {} at the last PSS sample of several processes ({processes}): rss.tree \
         counts a page shared by several processes once in each, pss.tree splits it among \
         them, so the {} between them is sharing, not memory",
        fmt::bytes(rss_tree),
        fmt::bytes(pss_tree),
        fmt::bytes(rss_tree - pss_tree)
    )
}

/// Sites a report lists under "Where it grows".
pub const ATTRIBUTION_SITES_SHOWN: usize = 10;

/// `iter` or `session`: what an attribution pass's lengths count, as rates write it.
pub fn per_suffix(per: &str) -> &'static str {
    if per == "session" { "session" } else { "iter" }
}

/// `+1.2 MiB/iter` or `+250 MiB/session`: a site's growth per unit of the pass.
pub fn per_unit(bytes: f64, per: &str) -> String {
    let sign = if bytes >= 0.0 { "+" } else { "" };
    format!("{sign}{}/{}", fmt::bytes(bytes), per_suffix(per))
}

/// A site's share of the measured growth: `52%`, or `—` without one.
pub fn share(share: f64) -> String {
    if share.is_finite() {
        format!("{:.0}%", 100.0 * share)
    } else {
        "—".to_string()
    }
}

/// What the listed sites add up to against the judged run's growth, e.g. `the top 5
/// sites add +1.61 MiB/iter, 93% of alloc.allocated's measured +1.74 MiB/iter`.
pub fn attribution_sum(a: &Attribution) -> String {
    if let Some(why) = &a.unavailable {
        return format!("no allocation sites: {why} (the verdict stands as judged)");
    }
    let n = a.sites.len().min(ATTRIBUTION_SITES_SHOWN);
    if n == 0 {
        return format!(
            "no allocation site grew in the {} pass (memory that grows without allocations, \
             such as pages copied on write or another process's, has no site)",
            a.method
        );
    }
    let sum = a.top_sum(n);
    let sites = if n == 1 { "site adds" } else { "sites add" };
    let head = format!("the top {n} {sites} {}", per_unit(sum, &a.per));
    match (&a.metric, a.measured) {
        (Some(metric), Some(measured)) if measured.is_finite() && measured > 0.0 => format!(
            "{head}, {:.0}% of {metric}'s measured {} ({} pass{})",
            100.0 * sum / measured,
            per_unit(measured, &a.per),
            a.method,
            if a.passes.len() == 1 { "" } else { "es" }
        ),
        (Some(metric), Some(measured)) if measured.is_finite() => format!(
            "{head}, while {metric} measured {} (no growth to explain; {})",
            per_unit(measured, &a.per),
            a.method
        ),
        _ => format!("{head} ({})", a.method),
    }
}

/// The top site in one line, e.g. `workloads/volume-loader/src/image.rs:382
/// (volume_loader::image::crop) +1.2 MiB/iter, 70%`.
pub fn top_site(a: &Attribution) -> Option<String> {
    let s = a.sites.first()?;
    let share = if s.share.is_finite() {
        format!(", {}", share(s.share))
    } else {
        String::new()
    };
    Some(format!(
        "{} ({}) {}{share}",
        s.location,
        s.function,
        per_unit(s.bytes_per_iter, &a.per)
    ))
}

/// Where a look sits on the run: `after 66 iterations` or `after 12.5 s`.
pub fn look_length(unit: XUnit, length: f64) -> String {
    match unit {
        XUnit::Iteration => format!("after {} iterations", length.floor()),
        XUnit::Second => format!("after {}", fmt::seconds(length)),
    }
}

/// Why a run still going was stopped at a look: which look, at which confidence, and the
/// check that settled it (the first failing one, or that all passed).
pub fn decided_early(look: &Look, report: &ScenarioReport) -> String {
    let checks: Vec<(&str, &BudgetCheck)> = report
        .metrics
        .iter()
        .flat_map(|m| m.budgets.iter().map(move |c| (m.shape.as_str(), c)))
        .collect();
    let failing = |leak_only: bool| {
        checks
            .iter()
            .find(|(shape, c)| c.outcome == Outcome::Fail && (!leak_only || *shape == "leak"))
    };
    let why = match failing(true).or_else(|| failing(false)) {
        Some((_, fail)) => fail.line.clone(),
        None => format!("all {} budget checks within limits", checks.len()),
    };
    format!("decided {}: {why}", look_fact(look))
}

/// Where a run was judged: `after 66 iterations (look 3 of 8, 99.95% intervals)`; a
/// watch with no end set has no count of looks (`look 3, 99.95% intervals`).
pub fn look_fact(look: &Look) -> String {
    let of = match look.of {
        0 => String::new(),
        of => format!(" of {of}"),
    };
    format!(
        "{} (look {}{of}, {}% intervals)",
        look_length(look.unit, look.length),
        look.index,
        fmt::percent(look.confidence)
    )
}

/// Why a run was stopped at its maximum length.
pub fn at_maximum(unit: XUnit, max: f64) -> String {
    match unit {
        XUnit::Iteration => format!("reached the maximum of {} iterations", max.floor()),
        XUnit::Second => format!("reached the maximum duration of {}", fmt::seconds(max)),
    }
}

/// `1.72 MiB/iter (99% CI 1.27–2.08 MiB/iter)`, or the value alone without bounds.
fn with_interval(
    i: &crate::model::Interval,
    kind: BudgetKind,
    unit: ValueUnit,
    x: XUnit,
) -> String {
    let v = |v| fmt::budget_value(v, kind, unit, x);
    if i.has_bounds() {
        format!(
            "{} ({}% CI {} … {})",
            v(i.estimate),
            fmt::percent(i.confidence),
            v(i.lo),
            v(i.hi)
        )
    } else {
        v(i.estimate)
    }
}

/// One compared quantity, e.g. `alloc.allocated slope: 1.72 MiB/iter → -2.11 KiB/iter;
/// difference -1.72 MiB/iter (99% CI -2.08 … -1.36 MiB/iter): better`. `reference` names
/// A (`A`, `baseline`).
pub fn diff_line(d: &crate::model::QuantityDiff, reference: &str) -> String {
    let (k, u, x) = (d.quantity, d.unit, d.x_unit);
    let v = |v| fmt::budget_value(v, k, u, x);
    let verdict = match d.change {
        Some(Change::Worse) if d.tolerance > 0.0 => {
            format!(": worse than {reference} by more than {}", d.tolerance_text)
        }
        Some(c @ Change::Better) if d.tolerance > 0.0 => {
            format!(
                ": {} than {reference} by more than {}",
                c.word(),
                d.tolerance_text
            )
        }
        Some(c @ (Change::Worse | Change::Better)) => format!(": {} than {reference}", c.word()),
        // Significantly worse, but by no more than the tolerance allows.
        Some(Change::NoSignificantDifference) if d.difference.lo > 0.0 => {
            format!(": worse, within the tolerance {}", d.tolerance_text)
        }
        Some(c) => format!(": {}", c.word()),
        None => String::new(),
    };
    format!(
        "{} {}: {reference} {} → {}; difference {}{verdict}",
        d.metric,
        k.as_str(),
        v(d.a.estimate),
        v(d.b.estimate),
        with_interval(&d.difference, k, u, x),
    )
}

/// The headline of a comparison: the overall change and the metric that decided it.
pub fn compare_headline(verdict: Change, metrics: &[crate::model::MetricComparison]) -> String {
    let deciding = metrics
        .iter()
        .flat_map(|m| &m.quantities)
        .find(|q| q.change == Some(verdict))
        .map(|q| diff_line(q, "A"));
    match (verdict, deciding) {
        (Change::NoSignificantDifference, _) => {
            "no significant difference on any metric".to_string()
        }
        (_, Some(line)) => format!("B is {}: {line}", verdict.word()),
        (_, None) => format!("B is {}", verdict.word()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: f64 = 1024.0;

    fn slope(outcome: Outcome, reason: &CheckReason) -> String {
        check_line(&CheckFacts {
            metric: "alloc.allocated",
            key: "k",
            kind: BudgetKind::Slope,
            limit: KIB,
            limit_text: "1 KiB/iter",
            outcome,
            reason,
            estimate: 41.3 * KIB,
            lo: 40.9 * KIB,
            hi: 41.8 * KIB,
            confidence: 0.99,
            sensitivity: 0.45 * KIB,
            more: Some(120),
            shape: "leak",
            sessions: 0,
            checkpoints: 0,
            envelope: None,
            unit: ValueUnit::Bytes,
            x_unit: XUnit::Iteration,
        })
    }

    #[test]
    fn slope_lines_carry_estimate_interval_budget_and_why() {
        assert_eq!(
            slope(Outcome::Fail, &CheckReason::Decided),
            "alloc.allocated grows 41.3 KiB/iter (99% CI 40.9–41.8 KiB/iter) > budget 1 KiB/iter: leak"
        );
        assert!(
            slope(Outcome::Pass, &CheckReason::Decided).ends_with("ok (sensitivity ±461 B/iter)")
        );
        assert!(
            slope(Outcome::Undecided, &CheckReason::Straddles)
                .ends_with("undecided, about 120 more iterations would decide")
        );
        assert!(
            slope(Outcome::Undecided, &CheckReason::TooFewPoints { points: 3 }).ends_with(
                "undecided, only 3 points after warm-up: run about 120 more iterations to decide"
            )
        );
        assert_eq!(
            slope(
                Outcome::Undecided,
                &CheckReason::UnitMismatch {
                    series: XUnit::Second
                }
            ),
            "k = 1 KiB/iter cannot apply: the alloc.allocated series is per second (use a rate per second)"
        );
    }

    #[test]
    fn a_forecast_says_when_the_limit_is_reached_with_its_interval() {
        use crate::model::{Crossing, Forecast, MemoryLimit};
        let mut f = Forecast {
            limit: MemoryLimit {
                bytes: 480.0 * (1u64 << 30) as f64,
                source: "memory.max".into(),
            },
            from: 600.0,
            crossing: Crossing::In {
                estimate: 3.5 * 3600.0,
                earliest: 3.2 * 3600.0,
                latest: 3.9 * 3600.0,
            },
            confidence: 0.99,
        };
        assert_eq!(
            forecast_line(&f, XUnit::Second),
            "at this rate it reaches the 480 GiB limit (memory.max) in 3.5 h (99% CI 3.2 h–3.9 h)"
        );
        f.crossing = Crossing::In {
            estimate: 1234.4,
            earliest: 1100.0,
            latest: 1400.0,
        };
        assert!(
            forecast_line(&f, XUnit::Iteration)
                .ends_with("in 1234 iterations (99% CI 1100 iterations–1400 iterations)")
        );
        f.crossing = Crossing::Reached;
        assert_eq!(
            forecast_line(&f, XUnit::Second),
            "it is past the 480 GiB limit (memory.max) already"
        );
    }

    #[test]
    fn a_process_role_names_its_processes_and_how_one_grows() {
        let role = crate::model::ProcessRole {
            command: "python3 -c 'import x\nx.work()'".into(),
            depth: 1,
            pids: (100..108).collect(),
            at_once: 4,
            slope: 3.4 * 1048576.0,
            lo: 3.3 * 1048576.0,
            hi: 3.5 * 1048576.0,
            confidence: 0.99,
            shape: "leak".into(),
        };
        assert_eq!(
            process_line(&role),
            "8 × python3 -c 'import x x.work()' (pids 100, 101, 102, 103, 104, … 8 in all; depth 1) each grow 3.4 MiB/s (99% CI 3.3 MiB/s–3.5 MiB/s): leak"
        );
        let top = crate::model::ProcessRole {
            pids: vec![99],
            depth: 0,
            slope: 0.0,
            lo: -10.0,
            hi: 10.0,
            shape: "flat".into(),
            ..role
        };
        assert!(
            process_line(&top).starts_with(
                "python3 -c 'import x x.work()' (pid 99, top of the tree) grows 0 B/s"
            ),
            "{}",
            process_line(&top)
        );
    }

    #[test]
    fn retained_lines_count_sessions() {
        let facts = CheckFacts {
            metric: "rss",
            key: "k",
            kind: BudgetKind::Retained,
            limit: 1.5 * KIB * KIB,
            limit_text: "1.5 MiB",
            outcome: Outcome::Fail,
            reason: &CheckReason::Decided,
            estimate: 2.0 * KIB * KIB,
            lo: 2.0 * KIB * KIB,
            hi: 2.0 * KIB * KIB,
            confidence: 0.99,
            sensitivity: 0.0,
            more: None,
            shape: "leak",
            sessions: 3,
            checkpoints: 0,
            envelope: None,
            unit: ValueUnit::Bytes,
            x_unit: XUnit::Iteration,
        };
        assert_eq!(
            check_line(&facts),
            "rss retained 2 MiB over 3 sessions > budget 1.5 MiB: leak across sessions"
        );
        let none = CheckFacts {
            reason: &CheckReason::NoSessions,
            outcome: Outcome::Undecided,
            ..facts
        };
        assert_eq!(
            check_line(&none),
            "rss has no session boundaries (or one session): retained budget 1.5 MiB undecided"
        );
    }
}
