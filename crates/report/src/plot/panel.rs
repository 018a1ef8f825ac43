//! One metric's panel: the samples, the fitted line with the confidence band of its slope
//! (a bow-tie pivoting on the fit's centre), the budget lines, the warm-up shaded, the
//! session boundaries, and the legend in its own column.
//!
//! A metric whose retained budget was judged on levels (checkpoints, or session starts)
//! shows those: the levels as markers, the first one as a dashed baseline, the retained
//! estimate with its interval as a band above it, and the budget as a line over the first
//! level. The slope fit is then drawn only when a slope or growth budget was judged on it.
//!
//! [`Panel::prepare`] turns the metric into what is drawn, in axis units; the `draw_*`
//! steps then draw it layer by layer, each adding its legend rows.

use leakcheck_vocab::{BudgetKind, Envelope, ValueUnit, XUnit, fmt};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::axis::{axis_scale, min_max, padded, tick_formatter};
use super::{
    Area, BUDGET, CEILING, CHECKPOINT, DATA, DrawErr, FIT, INK, LEGEND_W, MUTED, PEAKS, SESSION,
    TROUGHS, WARMUP, fit_text, font,
};
use crate::model::{BudgetCheck, FitLine, LevelKind, MetricReport, ScenarioReport};
use crate::words;

pub(super) type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// What one panel draws, with y already in the axis unit (`scale` bytes or counts each).
struct Panel<'m> {
    /// Finite samples, y scaled.
    pts: Vec<(f64, f64)>,
    /// Samples left out for a non-finite coordinate.
    skipped: usize,
    xlo: f64,
    xhi: f64,
    ylo: f64,
    yhi: f64,
    scale: f64,
    suffix: &'static str,
    /// The steady state the fit covers.
    fit_from: f64,
    fit_to: f64,
    /// The fitted line (scaled) and the fit it came from.
    fit: Option<(&'m FitLine, Line)>,
    /// Where budget lines start: on the fit, else the first steady point (scaled).
    anchor: Option<(f64, f64)>,
    /// The ceiling drawn on this panel, bytes.
    ceiling: Option<f64>,
    /// Horizontal reference lines (scaled).
    hlines: Vec<HLine>,
    /// The levels the retained budgets were judged on, when they were (scaled).
    retained: Option<Retained<'m>>,
}

/// A horizontal reference line: a peak, growth or retained budget, or the ceiling.
struct HLine {
    y: f64,
    /// Where it starts (a retained budget at its first level); the left edge otherwise.
    from_x: Option<f64>,
    colour: RGBColor,
    text: String,
}

/// What retained memory was judged on: the levels and the checks judged on them.
struct Retained<'m> {
    /// `(x, level)` of each checkpoint (session start), in order, never empty.
    levels: Vec<(f64, f64)>,
    kind: LevelKind,
    /// The fewest and the most readings a level is the median of.
    readings: (usize, usize),
    checks: Vec<&'m BudgetCheck>,
}

impl Retained<'_> {
    fn first(&self) -> (f64, f64) {
        self.levels[0]
    }

    fn last(&self) -> (f64, f64) {
        self.levels[self.levels.len() - 1]
    }

    /// `[estimate, lo, hi]` of each check as levels: the first level plus the retained
    /// memory (unscaled when the levels are).
    fn bands(&self, scale: f64) -> impl Iterator<Item = [f64; 3]> + '_ {
        let y0 = self.first().1;
        self.checks
            .iter()
            .map(move |c| [c.estimate, c.lo, c.hi].map(|v| y0 + v / scale))
    }
}

impl<'m> Panel<'m> {
    fn prepare(m: &'m MetricReport, r: &ScenarioReport, (xlo, xhi): (f64, f64)) -> Panel<'m> {
        let pts: Vec<(f64, f64)> = m
            .points
            .iter()
            .filter(|p| p[0].is_finite() && p[1].is_finite())
            .map(|p| (p[0], p[1]))
            .collect();
        let skipped = m.points.len() - pts.len();
        let data_x = min_max(pts.iter().map(|p| p.0));
        let fit_from = m
            .warmup_end_x
            .filter(|w| w.is_finite())
            .map_or(data_x.map_or(xlo, |d| d.0), |w| {
                w.max(data_x.map_or(xlo, |d| d.0))
            });
        let fit_to = data_x.map_or(xhi, |d| d.1);
        let retained = judged_levels(m);
        // The fit is shown unless what was judged is retained memory alone (a fit through
        // a step function is not what a retained budget says) or the envelopes of a
        // churning series, which are drawn instead.
        let show_fit = m.envelopes.is_empty()
            && (retained.is_none()
                || m.budgets
                    .iter()
                    .any(|b| matches!(b.kind, BudgetKind::Slope | BudgetKind::Growth)));
        let fit = m.fit.as_ref().filter(|_| show_fit).and_then(|f| {
            let ok = [f.x_center, f.y_center, f.slope, f.slope_lo, f.slope_hi]
                .iter()
                .all(|v| v.is_finite());
            let line = Line {
                x0: f.x_center,
                y0: f.y_center,
                slope: f.slope,
            };
            ok.then_some((f, line))
        });
        let anchor = match (&fit, pts.iter().find(|p| p.0 >= fit_from)) {
            (Some((_, l)), _) => Some((fit_from, l.at(fit_from))),
            (None, Some(p)) => Some(*p),
            (None, None) => None,
        };
        let ceiling = r.ceiling_bytes.filter(|c| {
            c.is_finite()
                && m.unit == ValueUnit::Bytes
                && r.ceiling_metric.as_ref().is_none_or(|n| *n == m.name)
        });
        let hlines = reference_lines(m, anchor, ceiling, retained.as_ref());
        let fit_ys = fit.iter().flat_map(|(_, l)| [l.at(fit_from), l.at(fit_to)]);
        let judged_ys = retained.iter().flat_map(|r| {
            r.levels
                .iter()
                .map(|l| l.1)
                .chain(r.bands(1.0).flatten())
                .collect::<Vec<_>>()
        });
        let core = min_max(pts.iter().map(|p| p.1).chain(fit_ys).chain(judged_ys));
        // Where each slope budget line would end over the steady state.
        let slope_ends: Vec<f64> = anchor
            .map(|(x0, y0)| {
                m.budgets
                    .iter()
                    .filter(|b| b.kind == BudgetKind::Slope && b.limit.is_finite())
                    .map(|b| y0 + b.limit * (fit_to.max(x0) - x0))
                    .collect()
            })
            .unwrap_or_default();
        let (ylo, yhi) = y_range(core, &hlines, &slope_ends);

        // From here on y is in the axis unit (e.g. MiB) so ticks are round.
        let (scale, suffix) = axis_scale(ylo, yhi, m.unit);
        let scaled = |l: Line| Line {
            x0: l.x0,
            y0: l.y0 / scale,
            slope: l.slope / scale,
        };
        Panel {
            pts: pts.iter().map(|&(x, y)| (x, y / scale)).collect(),
            skipped,
            xlo,
            xhi,
            ylo: ylo / scale,
            yhi: yhi / scale,
            scale,
            suffix,
            fit_from,
            fit_to,
            fit: fit.map(|(f, l)| (f, scaled(l))),
            anchor: anchor.map(|(x, y)| (x, y / scale)),
            ceiling,
            hlines: hlines
                .into_iter()
                .map(|h| HLine {
                    y: h.y / scale,
                    ..h
                })
                .collect(),
            retained: retained.map(|r| Retained {
                levels: r.levels.iter().map(|&(x, y)| (x, y / scale)).collect(),
                ..r
            }),
        }
    }
}

/// The levels and checks of the retained budgets judged on levels; `None` when the metric
/// has no retained budget or no finite level.
fn judged_levels(m: &MetricReport) -> Option<Retained<'_>> {
    let checks: Vec<&BudgetCheck> = m
        .budgets
        .iter()
        .filter(|b| b.kind == BudgetKind::Retained)
        .collect();
    let judged: Vec<_> = m
        .checkpoints
        .iter()
        .filter(|c| c.x.is_finite() && c.level.is_finite())
        .collect();
    if checks.is_empty() || judged.is_empty() {
        return None;
    }
    let readings = judged.iter().map(|c| c.readings);
    Some(Retained {
        levels: judged.iter().map(|c| (c.x, c.level)).collect(),
        kind: judged[0].kind,
        readings: (
            readings.clone().min().unwrap_or(0),
            readings.max().unwrap_or(0),
        ),
        checks,
    })
}

/// Peak, growth and retained budgets and the ceiling as horizontal lines (bytes,
/// unscaled). A retained budget is a line only over levels it was judged on: the first
/// level plus the budget, from the first level on.
fn reference_lines(
    m: &MetricReport,
    anchor: Option<(f64, f64)>,
    ceiling: Option<f64>,
    retained: Option<&Retained<'_>>,
) -> Vec<HLine> {
    let mut hlines = Vec::new();
    for b in &m.budgets {
        let (y, from_x, over) = match (b.kind, anchor, retained) {
            (BudgetKind::Peak, _, _) => (b.limit, None, ""),
            (BudgetKind::Growth, Some((_, y0)), _) => (y0 + b.limit, None, ""),
            (BudgetKind::Retained, _, Some(r)) => {
                let (x0, y0) = r.first();
                let over = match r.kind {
                    LevelKind::Checkpoint => " over the first checkpoint",
                    LevelKind::SessionStart => " over the first session start",
                };
                (y0 + b.limit, Some(x0), over)
            }
            // A slope has no level to draw; growth and retained lines need their anchor.
            (BudgetKind::Slope, _, _)
            | (BudgetKind::Growth, None, _)
            | (BudgetKind::Retained, _, None) => continue,
        };
        if y.is_finite() {
            let text = format!(
                "{} budget {}{over} ({})",
                b.kind.as_str(),
                b.limit_text,
                b.outcome.word()
            );
            hlines.push(HLine {
                y,
                from_x,
                colour: BUDGET,
                text,
            });
        }
    }
    if let Some(c) = ceiling {
        hlines.push(HLine {
            y: c,
            from_x: None,
            colour: CEILING,
            text: format!("ceiling {}", fmt::bytes(c)),
        });
    }
    hlines
}

/// How far a slope budget line may stretch the y range past the data, as a share of the
/// data's span (the data keeps about two thirds of the height).
const SLOPE_REACH: f64 = 0.4;

/// The y range: the data, the fit and the judged levels (`core`); reference lines only
/// when they do not squash the data (a far-away limit is named in the legend instead);
/// and room for slope budget lines (`slope_ends`: where each would end) to show their
/// slope, at most [`SLOPE_REACH`] of the data's span past it (the rest is clipped).
fn y_range(core: Option<(f64, f64)>, hlines: &[HLine], slope_ends: &[f64]) -> (f64, f64) {
    let (clo, chi) = core.unwrap_or_else(|| {
        min_max(hlines.iter().map(|h| h.y)).map_or((0.0, 1.0), |(a, b)| (a.min(0.0), b))
    });
    let span = (chi - clo).max(chi.abs() * 0.05);
    let near = hlines
        .iter()
        .map(|h| h.y)
        .filter(|y| *y <= chi + 2.0 * span && *y >= clo - 2.0 * span);
    // Of the data's own span here (a flat series at a high level keeps its detail).
    let reach = SLOPE_REACH * if chi > clo { chi - clo } else { span };
    let slopes = slope_ends.iter().map(|y| y.clamp(clo - reach, chi + reach));
    let (lo, hi) = min_max([clo, chi].into_iter().chain(near).chain(slopes)).unwrap_or((clo, chi));
    padded(lo, hi)
}

pub(super) fn draw_panel<DB: DrawingBackend>(
    panel: &Area<DB>,
    m: &MetricReport,
    r: &ScenarioReport,
    x_range: (f64, f64),
) -> Result<(), DrawErr> {
    let (pw, _) = panel.dim_in_pixel();
    let (plot_area, legend_area) = panel.split_horizontally(pw - LEGEND_W);
    let p = Panel::prepare(m, r, x_range);

    let caption = format!(
        "{}  ·  {}  ·  peak {}",
        m.name,
        m.shape,
        fmt::value(m.peak, m.unit)
    );
    let mut chart = chart_on(
        &plot_area,
        &caption,
        (p.xlo, p.xhi),
        (p.ylo, p.yhi),
        p.suffix,
        r.x_unit,
    )?;

    let mut legend = Legend { rows: Vec::new() };
    draw_warmup(&mut chart, &p, m, r.x_unit, &mut legend)?;
    draw_fit_and_data(&mut chart, &p, m, r.x_unit, &mut legend)?;
    draw_envelopes(&mut chart, &p, m, r.x_unit, &mut legend)?;
    draw_retained(&mut chart, &p, m, &mut legend)?;
    draw_budgets(&mut chart, &p, m, r.x_unit, &mut legend)?;
    draw_sessions(&chart, r, p.xlo, p.xhi, p.ylo, p.yhi)?;
    if !r.sessions.is_empty() {
        legend.push(Swatch::Line(SESSION, 1), "session boundary");
    }
    if p.pts.is_empty() {
        let msg = "no samples";
        let style = font(18.0).color(&MUTED);
        let (tw, th) = plot_area.estimate_text_size(msg, &style)?;
        chart.plotting_area().draw(
            &(EmptyElement::at(((p.xlo + p.xhi) / 2.0, (p.ylo + p.yhi) / 2.0))
                + Text::new(msg, (-(tw as i32) / 2, -(th as i32) / 2), style)),
        )?;
    }
    draw_legend(&legend_area, &legend)
}

/// A panel's chart: its caption (shortened to fit), the axes with round ticks (y in the
/// axis unit `suffix`), and the light grid every panel shares.
pub(super) fn chart_on<'a, DB: DrawingBackend>(
    plot_area: &'a Area<DB>,
    caption: &str,
    (xlo, xhi): (f64, f64),
    (ylo, yhi): (f64, f64),
    suffix: &str,
    x_unit: XUnit,
) -> Result<Chart<'a, DB>, DrawErr> {
    let (pw, _) = plot_area.dim_in_pixel();
    let caption_style = font(17.0);
    let caption = fit_text(plot_area, caption, &caption_style, pw.saturating_sub(40))?;
    let mut chart = ChartBuilder::on(plot_area)
        .margin_top(8)
        .margin_left(12)
        .margin_right(16)
        .margin_bottom(6)
        .caption(caption, caption_style)
        .x_label_area_size(46)
        .y_label_area_size(96)
        .build_cartesian_2d(xlo..xhi, ylo..yhi)?;
    let y_fmt = tick_formatter(ylo, yhi, 7, suffix);
    let x_fmt = tick_formatter(xlo, xhi, 10, "");
    chart
        .configure_mesh()
        .max_light_lines(2)
        .light_line_style(RGBColor(243, 243, 243))
        .bold_line_style(RGBColor(215, 215, 215))
        .axis_style(RGBColor(120, 120, 120))
        .x_labels(10)
        .y_labels(7)
        .label_style(font(13.0).color(&MUTED))
        .axis_desc_style(font(14.0))
        .x_desc(x_unit.caption())
        .y_label_formatter(&y_fmt)
        .x_label_formatter(&x_fmt)
        .draw()?;
    Ok(chart)
}

/// Warm-up: shaded from the left edge to the cut.
fn draw_warmup<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    p: &Panel<'_>,
    m: &MetricReport,
    x_unit: XUnit,
    legend: &mut Legend,
) -> Result<(), DrawErr> {
    if let Some(w) = m.warmup_end_x.filter(|w| w.is_finite() && *w > p.xlo) {
        let w = w.min(p.xhi);
        let shade = WARMUP.mix(0.12);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(p.xlo, p.ylo), (w, p.yhi)],
            shade.filled(),
        )))?;
        legend.push(
            Swatch::Fill(shade),
            match x_unit {
                XUnit::Iteration => format!("warm-up (cut at iteration {})", fmt::count(w)),
                XUnit::Second => format!("warm-up (cut at {})", fmt::seconds(w)),
            },
        );
    }
    Ok(())
}

/// The slope's confidence band, then the fit under the data (so a tight fit does not
/// hide the samples), then the samples.
fn draw_fit_and_data<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    p: &Panel<'_>,
    m: &MetricReport,
    x_unit: XUnit,
    legend: &mut Legend,
) -> Result<(), DrawErr> {
    let unit = m.unit;
    let mut fit_legend = None;
    if let Some((f, line)) = &p.fit {
        let (lo, hi) = (f.slope_lo / p.scale, f.slope_hi / p.scale);
        let band = band_polygon(lo, hi, line, p.fit_from, p.fit_to, p.ylo, p.yhi);
        if band.len() >= 3 {
            let fill = FIT.mix(0.18);
            chart.draw_series(std::iter::once(Polygon::new(band, fill.filled())))?;
            legend.push(
                Swatch::Fill(fill),
                format!(
                    "{}% CI {} … {}",
                    fmt::percent(f.confidence),
                    fmt::rate(f.slope_lo, unit, x_unit),
                    fmt::rate(f.slope_hi, unit, x_unit)
                ),
            );
        }
        if let Some(seg) = line.clip(p.fit_from, p.fit_to, p.ylo, p.yhi) {
            chart.draw_series(LineSeries::new(seg, FIT.stroke_width(2)))?;
        }
        fit_legend = Some((
            Swatch::Line(FIT, 2),
            format!("fit {}", fmt::rate(f.slope, unit, x_unit)),
        ));
    }
    if !p.pts.is_empty() {
        let (px_lo, _) = chart.backend_coord(&(p.xlo, p.yhi));
        let (px_hi, _) = chart.backend_coord(&(p.xhi, p.yhi));
        let columns = (px_hi - px_lo).max(1) as usize;
        let drawn = decimate(&p.pts, p.xlo, p.xhi, columns);
        chart.draw_series(LineSeries::new(drawn, DATA.stroke_width(1)))?;
        if p.pts.len() == 1 {
            chart.draw_series(std::iter::once(Circle::new(p.pts[0], 3, DATA.filled())))?;
        }
    }
    let plural = if p.pts.len() == 1 { "" } else { "s" };
    let mut samples = format!("{} ({} sample{plural}", m.name, p.pts.len());
    if p.skipped > 0 {
        samples.push_str(&format!(", {} non-finite skipped", p.skipped));
    }
    samples.push(')');
    legend.push(Swatch::Line(DATA, 2), samples);
    legend.rows.extend(fit_legend);
    Ok(())
}

/// A churning series' envelopes: each period's trough (peak) as a dot and the line through
/// them over their span, with the slope and its interval in the legend.
fn draw_envelopes<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    p: &Panel<'_>,
    m: &MetricReport,
    x_unit: XUnit,
    legend: &mut Legend,
) -> Result<(), DrawErr> {
    for e in &m.envelopes {
        let colour = match e.envelope {
            Envelope::Lower => TROUGHS,
            Envelope::Upper | Envelope::Mean => PEAKS,
        };
        let dots: Vec<(f64, f64)> = e
            .points
            .iter()
            .map(|&[x, y]| (x, y / p.scale))
            .filter(|&(x, y)| x.is_finite() && y.is_finite())
            .collect();
        chart.draw_series(dots.iter().map(|&d| Circle::new(d, 3, colour.filled())))?;
        let line = Line {
            x0: 0.0,
            y0: e.intercept / p.scale,
            slope: e.slope / p.scale,
        };
        if let (Some(first), Some(last)) = (dots.first(), dots.last())
            && let Some(seg) = line.clip(first.0, last.0, p.ylo, p.yhi)
        {
            chart.draw_series(LineSeries::new(seg, colour.stroke_width(2)))?;
        }
        legend.push(
            Swatch::Line(colour, 2),
            format!(
                "{} {} ({} … {}), {} periods of {}",
                e.envelope.name(),
                fmt::rate(e.slope, m.unit, x_unit),
                fmt::rate(e.slope_lo, m.unit, x_unit),
                fmt::rate(e.slope_hi, m.unit, x_unit),
                dots.len(),
                crate::words::length_text(e.period, x_unit)
            ),
        );
    }
    Ok(())
}

/// What was judged for a retained budget on levels: the first level as a dashed baseline,
/// each check's retained estimate with its interval as a band over it (at least a few
/// pixels high, so a tight interval still shows), and the levels as markers on top.
fn draw_retained<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    p: &Panel<'_>,
    m: &MetricReport,
    legend: &mut Legend,
) -> Result<(), DrawErr> {
    let Some(r) = &p.retained else {
        return Ok(());
    };
    let ((x0, y0), (x1, _)) = (r.first(), r.last());
    let inside = |y: f64| (p.ylo..=p.yhi).contains(&y);
    // Value per pixel on the y axis, for the band's least height.
    let (_, top) = chart.backend_coord(&(p.xlo, p.yhi));
    let (_, bottom) = chart.backend_coord(&(p.xlo, p.ylo));
    let per_px = (p.yhi - p.ylo) / f64::from((bottom - top).max(1));
    let band = CHECKPOINT.mix(0.25);
    let (what, first) = match r.kind {
        LevelKind::Checkpoint => ("checkpoint", "first checkpoint"),
        LevelKind::SessionStart => ("session start", "first session start"),
    };
    let n = r.levels.len();
    let plural = if n == 1 { "" } else { "s" };
    let readings = match r.readings {
        (1, 1) => "1 reading".to_string(),
        (a, b) if a == b => format!("{a} readings"),
        (a, b) => format!("{a}–{b} readings"),
    };
    let each = if n == 1 { "" } else { " each" };
    let text = match r.kind {
        LevelKind::Checkpoint => format!("{n} {what}{plural}, median of {readings}{each}"),
        LevelKind::SessionStart => {
            let samples = match r.readings.1 {
                1 => "its first sample".to_string(),
                k => format!("the first {k} samples"),
            };
            format!("{n} {what}{plural}, median of {samples}{each}")
        }
    };
    legend.push(Swatch::Diamond(CHECKPOINT), text);
    if x1 > x0 && inside(y0) {
        chart.draw_series(DashedLineSeries::new(
            [(x0, y0), (x1, y0)],
            6,
            4,
            CHECKPOINT.stroke_width(1),
        ))?;
    }
    legend.push(
        Swatch::Dashed(CHECKPOINT),
        format!("{first} {}", fmt::value(y0 * p.scale, m.unit)),
    );
    let confidence = m
        .fit
        .as_ref()
        .map(|f| f.confidence)
        .or(m.retained_per_session.as_ref().map(|s| s.confidence))
        .unwrap_or(f64::NAN);
    for (c, [est, lo, hi]) in r.checks.iter().zip(r.bands(p.scale)) {
        if est.is_finite() {
            let (lo, hi) = (lo.min(est - 2.5 * per_px), hi.max(est + 2.5 * per_px));
            let (lo, hi) = (lo.clamp(p.ylo, p.yhi), hi.clamp(p.ylo, p.yhi));
            // A single level (x0 == x1) still gets a band a few pixels wide.
            let (xa, xb) = if x1 > x0 {
                (x0, x1)
            } else {
                let w = (p.xhi - p.xlo) / 200.0;
                (x0 - w, x0 + w)
            };
            if hi > lo {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(xa, lo), (xb, hi)],
                    band.filled(),
                )))?;
            }
            if inside(est) {
                chart.draw_series(LineSeries::new(
                    [(xa, est), (xb, est)],
                    CHECKPOINT.stroke_width(2),
                ))?;
            }
        }
        legend.push(
            Swatch::Fill(band),
            words::retained_legend(c, m.unit, confidence),
        );
    }
    if let Some(s) = &m.retained_per_session {
        let v = |x| fmt::value(x, m.unit);
        legend.push(
            Swatch::None,
            format!(
                "per session {} ({}% CI {} … {})",
                v(s.slope),
                fmt::percent(s.confidence),
                v(s.lo),
                v(s.hi)
            ),
        );
    }
    // Markers last, over the data: a white rim, then the marker.
    let area = chart.plotting_area();
    for &(x, y) in r.levels.iter().filter(|l| inside(l.1)) {
        for (radius, colour) in [(7, WHITE), (5, CHECKPOINT)] {
            area.draw(
                &(EmptyElement::at((x, y)) + Polygon::new(diamond(radius), colour.filled())),
            )?;
        }
    }
    Ok(())
}

/// The corners of a diamond `r` pixels from its centre to each corner.
fn diamond(r: i32) -> Vec<(i32, i32)> {
    vec![(0, -r), (r, 0), (0, r), (-r, 0)]
}

/// Slope budgets through the fit's start point, the horizontal reference lines, the
/// retained budgets not drawn (listed) and the peak when a ceiling is shown.
fn draw_budgets<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    p: &Panel<'_>,
    m: &MetricReport,
    x_unit: XUnit,
    legend: &mut Legend,
) -> Result<(), DrawErr> {
    for b in m.budgets.iter().filter(|b| b.kind == BudgetKind::Slope) {
        let mut text = format!("slope budget {} ({})", b.limit_text, b.outcome.word());
        match p.anchor {
            Some((x0, y0)) if b.limit.is_finite() => {
                let l = Line {
                    x0,
                    y0,
                    slope: b.limit / p.scale,
                };
                let to = p.fit_to.max(x0);
                if let Some(seg) = l.clip(x0, to, p.ylo, p.yhi) {
                    chart.draw_series(LineSeries::new(seg, BUDGET.stroke_width(2)))?;
                    // Steeper than the chart has room for: say where it leaves.
                    let end = seg[1].0;
                    if end < to - (p.xhi - p.xlo) * 1e-3 {
                        text.push_str(&match x_unit {
                            XUnit::Iteration => {
                                format!(
                                    ", off the chart after iteration {}",
                                    fmt::count(end.round())
                                )
                            }
                            XUnit::Second => {
                                format!(", off the chart after {}", fmt::seconds(end))
                            }
                        });
                    }
                }
                legend.push(Swatch::Line(BUDGET, 2), text);
            }
            _ => legend.push(Swatch::None, text),
        }
    }
    for h in &p.hlines {
        if (p.ylo..=p.yhi).contains(&h.y) {
            let from = h.from_x.map_or(p.xlo, |x| x.clamp(p.xlo, p.xhi));
            chart.draw_series(LineSeries::new(
                [(from, h.y), (p.xhi, h.y)],
                h.colour.stroke_width(2),
            ))?;
            legend.push(Swatch::Line(h.colour, 2), h.text.clone());
        } else {
            legend.push(Swatch::None, format!("{}, off-scale", h.text));
        }
    }
    if p.retained.is_none() {
        for b in m.budgets.iter().filter(|b| b.kind == BudgetKind::Retained) {
            legend.push(
                Swatch::None,
                format!("retained budget {} ({})", b.limit_text, b.outcome.word()),
            );
        }
    }
    if p.ceiling.is_some()
        && let Some(peak) = p.pts.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))
    {
        chart.draw_series(std::iter::once(Circle::new(peak, 5, CEILING.filled())))?;
        let plotted = peak.1 * p.scale;
        // The metric's peak counts samples the iteration axis cannot place (before the
        // first mark, after the last): say so rather than show two different peaks.
        let text = if m.peak.is_finite() && m.peak > plotted * (1.0 + 1e-9) {
            format!(
                "highest plotted {} (peak {} outside the marked iterations)",
                fmt::value(plotted, m.unit),
                fmt::value(m.peak, m.unit)
            )
        } else {
            format!("peak {}", fmt::value(plotted, m.unit))
        };
        legend.push(Swatch::Marker(CEILING), text);
    }
    Ok(())
}

/// A straight line `y = y0 + slope * (x - x0)` drawn over `xa..xb`.
#[derive(Clone, Copy)]
pub(super) struct Line {
    pub(super) x0: f64,
    pub(super) y0: f64,
    pub(super) slope: f64,
}

impl Line {
    pub(super) fn at(&self, x: f64) -> f64 {
        self.y0 + self.slope * (x - self.x0)
    }

    /// The part of the line over `xa..xb` inside `ylo..yhi`, if any.
    pub(super) fn clip(&self, xa: f64, xb: f64, ylo: f64, yhi: f64) -> Option<[(f64, f64); 2]> {
        let (mut a, mut b) = (xa, xb);
        if self.slope == 0.0 || !self.slope.is_finite() {
            let y = self.y0;
            if !(ylo..=yhi).contains(&y) || !self.slope.is_finite() {
                return None;
            }
        } else {
            let x_lo = self.x0 + (ylo - self.y0) / self.slope;
            let x_hi = self.x0 + (yhi - self.y0) / self.slope;
            let (e0, e1) = if x_lo < x_hi {
                (x_lo, x_hi)
            } else {
                (x_hi, x_lo)
            };
            a = a.max(e0);
            b = b.min(e1);
        }
        let pts = [
            (a, self.at(a).clamp(ylo, yhi)),
            (b, self.at(b).clamp(ylo, yhi)),
        ];
        (a < b && pts.iter().all(|p| p.0.is_finite() && p.1.is_finite())).then_some(pts)
    }
}

/// One legend row: a swatch and a text.
pub(super) enum Swatch {
    Line(RGBColor, u32),
    /// A thin dashed line.
    Dashed(RGBColor),
    Fill(RGBAColor),
    Marker(RGBColor),
    /// A diamond (a checkpoint).
    Diamond(RGBColor),
    None,
}

pub(super) struct Legend {
    pub(super) rows: Vec<(Swatch, String)>,
}

impl Legend {
    pub(super) fn push(&mut self, swatch: Swatch, text: impl Into<String>) {
        self.rows.push((swatch, text.into()));
    }
}

/// M4 decimation: with far more points than pixel columns, keep per column
/// only the first, last, lowest and highest point. The drawn line is then
/// pixel-identical in shape (every spike survives) while long runs stay
/// small in the SVG and fast in the PNG.
pub(super) fn decimate(pts: &[(f64, f64)], xlo: f64, xhi: f64, columns: usize) -> Vec<(f64, f64)> {
    if pts.len() <= 4 * columns || xhi <= xlo {
        return pts.to_vec();
    }
    let column = |x: f64| (((x - xlo) / (xhi - xlo) * columns as f64) as usize).min(columns - 1);
    let mut out = Vec::with_capacity(4 * columns + 4);
    let mut start = 0;
    while start < pts.len() {
        let c = column(pts[start].0);
        let mut end = start + 1;
        while end < pts.len() && column(pts[end].0) == c {
            end += 1;
        }
        let run = &pts[start..end];
        let (mut lo, mut hi) = (0, 0);
        for (i, p) in run.iter().enumerate() {
            if p.1 < run[lo].1 {
                lo = i;
            }
            if p.1 > run[hi].1 {
                hi = i;
            }
        }
        let mut keep = [0, lo, hi, run.len() - 1];
        keep.sort_unstable();
        let mut last = usize::MAX;
        for i in keep {
            if i != last {
                out.push(run[i]);
                last = i;
            }
        }
        start = end;
    }
    out
}

/// Bow-tie of lines with slopes `lo..hi` through the fit's centre, over
/// `xa..xb`, each edge clamped to the y range.
pub(super) fn band_polygon(
    slope_lo: f64,
    slope_hi: f64,
    line: &Line,
    xa: f64,
    xb: f64,
    ylo: f64,
    yhi: f64,
) -> Vec<(f64, f64)> {
    // Written so NaN bounds also give an empty band.
    if xb.partial_cmp(&xa) != Some(std::cmp::Ordering::Greater) {
        return Vec::new();
    }
    const N: usize = 64;
    let mut xs: Vec<f64> = (0..=N)
        .map(|i| xa + (xb - xa) * i as f64 / N as f64)
        .collect();
    if line.x0 > xa && line.x0 < xb {
        xs.push(line.x0);
        xs.sort_by(f64::total_cmp);
    }
    let edge = |x: f64, s: f64| line.y0 + s * (x - line.x0);
    let upper = xs
        .iter()
        .map(|&x| (x, edge(x, slope_lo).max(edge(x, slope_hi)).clamp(ylo, yhi)));
    let lower = xs
        .iter()
        .rev()
        .map(|&x| (x, edge(x, slope_lo).min(edge(x, slope_hi)).clamp(ylo, yhi)));
    let poly: Vec<(f64, f64)> = upper.chain(lower).collect();
    if poly.iter().all(|p| p.1.is_finite()) {
        poly
    } else {
        Vec::new()
    }
}

fn draw_sessions<DB: DrawingBackend>(
    chart: &Chart<'_, DB>,
    r: &ScenarioReport,
    xlo: f64,
    xhi: f64,
    ylo: f64,
    yhi: f64,
) -> Result<(), DrawErr> {
    let area = chart.plotting_area();
    let style = font(12.0).color(&INK);
    // Right edges of the last label in each row, to stagger close labels.
    let mut rows: Vec<i32> = Vec::new();
    for s in r
        .sessions
        .iter()
        .filter(|s| s.x.is_finite() && s.x >= xlo && s.x <= xhi)
    {
        area.draw(&PathElement::new(
            vec![(s.x, ylo), (s.x, yhi)],
            SESSION.mix(0.8).stroke_width(1),
        ))?;
        if s.label.is_empty() {
            continue;
        }
        let (px, _) = chart.backend_coord(&(s.x, yhi));
        let (right_edge, _) = chart.backend_coord(&(xhi, yhi));
        let label: String = s.label.chars().take(40).collect();
        let (tw, th) = area.estimate_text_size(&label, &style)?;
        let (tw, th) = (tw as i32, th as i32);
        // Flip to the left of the line near the right edge.
        let dx = if px + 4 + tw > right_edge {
            -(tw + 6)
        } else {
            4
        };
        // At most three rows so labels never bury the data; a label with
        // no room keeps its line but is left out.
        let row = match rows.iter().position(|&end| end + 4 < px + dx) {
            Some(i) => i,
            None if rows.len() < 3 => {
                rows.push(i32::MIN);
                rows.len() - 1
            }
            None => continue,
        };
        rows[row] = px + dx + tw;
        let dy = 4 + row as i32 * (th + 6);
        area.draw(
            &(EmptyElement::at((s.x, yhi))
                + Rectangle::new(
                    [(dx - 2, dy - 2), (dx + tw + 2, dy + th + 3)],
                    WHITE.mix(0.85).filled(),
                )
                + Text::new(label, (dx, dy), style.clone())),
        )?;
    }
    Ok(())
}

pub(super) fn draw_legend<DB: DrawingBackend>(
    area: &Area<DB>,
    legend: &Legend,
) -> Result<(), DrawErr> {
    let style = font(13.0);
    let (w, h) = area.dim_in_pixel();
    let text_x = 34;
    let max_w = w.saturating_sub(text_x as u32 + 12);
    let mut y = 44;
    for (swatch, text) in &legend.rows {
        if y + 18 > h as i32 {
            break;
        }
        let mid = y + 8;
        match swatch {
            Swatch::Line(c, width) => {
                area.draw(&PathElement::new(
                    vec![(6, mid), (26, mid)],
                    c.stroke_width(*width),
                ))?;
            }
            Swatch::Fill(c) => {
                area.draw(&Rectangle::new([(6, mid - 6), (26, mid + 6)], c.filled()))?;
            }
            Swatch::Marker(c) => {
                area.draw(&Circle::new((16, mid), 5, c.filled()))?;
            }
            Swatch::Dashed(c) => {
                for x in [6, 15, 24] {
                    area.draw(&PathElement::new(
                        vec![(x, mid), (x + 5, mid)],
                        c.stroke_width(1),
                    ))?;
                }
            }
            Swatch::Diamond(c) => {
                area.draw(&Polygon::new(
                    diamond(5)
                        .into_iter()
                        .map(|(dx, dy)| (16 + dx, mid + dy))
                        .collect::<Vec<_>>(),
                    c.filled(),
                ))?;
            }
            Swatch::None => {}
        }
        // A long entry wraps onto up to two more lines, the last shortened to fit.
        let lines = wrap(area, text, &style, max_w, 3)?;
        for (i, line) in lines.into_iter().enumerate() {
            if i > 0 {
                y += 17;
                if y + 18 > h as i32 {
                    break;
                }
            }
            area.draw(&Text::new(line, (text_x, y), style.clone()))?;
        }
        y += 22;
    }
    Ok(())
}

/// `text` in lines of at most `max_w` pixels, broken at spaces, at most `max_lines` (the
/// last shortened with an ellipsis when the rest does not fit).
fn wrap<DB: DrawingBackend>(
    area: &Area<DB>,
    text: &str,
    style: &TextStyle,
    max_w: u32,
    max_lines: usize,
) -> Result<Vec<String>, DrawErr> {
    let mut lines: Vec<String> = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if lines.len() + 1 == max_lines || area.estimate_text_size(rest, style)?.0 <= max_w {
            lines.push(fit_text(area, rest, style, max_w)?);
            break;
        }
        // The longest run of words that fits; a single word too long is cut.
        let mut cut = None;
        for (i, _) in rest.match_indices(' ') {
            if area.estimate_text_size(&rest[..i], style)?.0 > max_w {
                break;
            }
            cut = Some(i);
        }
        match cut {
            Some(i) => {
                lines.push(rest[..i].trim_end().to_string());
                rest = rest[i..].trim_start();
            }
            None => {
                lines.push(fit_text(area, rest, style, max_w)?);
                break;
            }
        }
    }
    Ok(lines)
}
