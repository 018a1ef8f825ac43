//! One metric's panel: the samples, the fitted line with the confidence band of its slope
//! (a bow-tie pivoting on the fit's centre), the budget lines, the warm-up shaded, the
//! session boundaries, and the legend in its own column.
//!
//! [`Panel::prepare`] turns the metric into what is drawn, in axis units; the `draw_*`
//! steps then draw it layer by layer, each adding its legend rows.

use leakcheck_vocab::{BudgetKind, ValueUnit, XUnit, fmt};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::axis::{axis_scale, min_max, padded, tick_formatter};
use super::{
    Area, BUDGET, CEILING, DATA, DrawErr, FIT, INK, LEGEND_W, MUTED, SESSION, WARMUP, fit_text,
    font,
};
use crate::model::{FitLine, MetricReport, ScenarioReport};

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
    /// Horizontal reference lines (scaled): value, colour, legend text.
    hlines: Vec<(f64, RGBColor, String)>,
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
        let fit = m.fit.as_ref().and_then(|f| {
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
        let hlines = reference_lines(m, anchor, ceiling);
        let fit_ys = fit.iter().flat_map(|(_, l)| [l.at(fit_from), l.at(fit_to)]);
        let core = min_max(pts.iter().map(|p| p.1).chain(fit_ys));
        let (ylo, yhi) = y_range(core, &hlines);

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
                .map(|(y, c, t)| (y / scale, c, t))
                .collect(),
        }
    }
}

/// Peak and growth budgets and the ceiling as horizontal lines (bytes, unscaled).
fn reference_lines(
    m: &MetricReport,
    anchor: Option<(f64, f64)>,
    ceiling: Option<f64>,
) -> Vec<(f64, RGBColor, String)> {
    let mut hlines = Vec::new();
    for b in &m.budgets {
        let y = match (b.kind, anchor) {
            (BudgetKind::Peak, _) => b.limit,
            (BudgetKind::Growth, Some((_, y0))) => y0 + b.limit,
            _ => continue,
        };
        if y.is_finite() {
            let text = format!(
                "{} budget {} ({})",
                b.kind.as_str(),
                b.limit_text,
                b.outcome.word()
            );
            hlines.push((y, BUDGET, text));
        }
    }
    if let Some(c) = ceiling {
        hlines.push((c, CEILING, format!("ceiling {}", fmt::bytes(c))));
    }
    hlines
}

/// The y range: the data and the fit (`core`); reference lines only when they do not
/// squash the data (a far-away limit is named in the legend instead).
fn y_range(core: Option<(f64, f64)>, hlines: &[(f64, RGBColor, String)]) -> (f64, f64) {
    let (clo, chi) = core.unwrap_or_else(|| {
        min_max(hlines.iter().map(|h| h.0)).map_or((0.0, 1.0), |(a, b)| (a.min(0.0), b))
    });
    let span = (chi - clo).max(chi.abs() * 0.05);
    let near = hlines
        .iter()
        .map(|h| h.0)
        .filter(|y| *y <= chi + 2.0 * span && *y >= clo - 2.0 * span);
    let (lo, hi) = min_max([clo, chi].into_iter().chain(near)).unwrap_or((clo, chi));
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
    draw_budgets(&mut chart, &p, m, &mut legend)?;
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

/// Slope budgets through the fit's start point, the horizontal reference lines, the
/// retained budgets (listed, not drawn) and the peak when a ceiling is shown.
fn draw_budgets<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    p: &Panel<'_>,
    m: &MetricReport,
    legend: &mut Legend,
) -> Result<(), DrawErr> {
    for b in m.budgets.iter().filter(|b| b.kind == BudgetKind::Slope) {
        let text = format!("slope budget {} ({})", b.limit_text, b.outcome.word());
        match p.anchor {
            Some((x0, y0)) if b.limit.is_finite() => {
                let l = Line {
                    x0,
                    y0,
                    slope: b.limit / p.scale,
                };
                if let Some(seg) = l.clip(x0, p.fit_to.max(x0), p.ylo, p.yhi) {
                    chart.draw_series(LineSeries::new(seg, BUDGET.stroke_width(2)))?;
                }
                legend.push(Swatch::Line(BUDGET, 2), text);
            }
            _ => legend.push(Swatch::None, text),
        }
    }
    for (y, colour, text) in &p.hlines {
        if (p.ylo..=p.yhi).contains(y) {
            chart.draw_series(LineSeries::new(
                [(p.xlo, *y), (p.xhi, *y)],
                colour.stroke_width(2),
            ))?;
            legend.push(Swatch::Line(*colour, 2), text.clone());
        } else {
            legend.push(Swatch::None, format!("{text}, off-scale"));
        }
    }
    for b in m.budgets.iter().filter(|b| b.kind == BudgetKind::Retained) {
        legend.push(
            Swatch::None,
            format!("retained budget {} ({})", b.limit_text, b.outcome.word()),
        );
    }
    if p.ceiling.is_some()
        && let Some(peak) = p.pts.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))
    {
        chart.draw_series(std::iter::once(Circle::new(peak, 5, CEILING.filled())))?;
        legend.push(
            Swatch::Marker(CEILING),
            format!("peak {}", fmt::value(peak.1 * p.scale, m.unit)),
        );
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
    Fill(RGBAColor),
    Marker(RGBColor),
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
            Swatch::None => {}
        }
        let text = fit_text(area, text, &style, max_w)?;
        area.draw(&Text::new(text, (text_x, y), style.clone()))?;
        y += 22;
    }
    Ok(())
}
