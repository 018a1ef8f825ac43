//! `memory.svg` and `memory.png`: one panel per metric, stacked.
//!
//! Each panel shows the samples, the fitted line over the steady state with
//! the confidence band of its slope (a bow-tie pivoting on the fit's centre),
//! the budget lines, the warm-up shaded and the session boundaries. The
//! legend sits in its own column to the right so it never hides data.
//!
//! Everything drawn is clipped to the axis ranges here, because plotters
//! draws elements outside the plotting area instead of clipping them.
//! PNG text needs a font: the embedded DejaVu Sans is registered once as
//! `sans-serif` (plotters' `ab_glyph` backend panics without one).

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::ReportError;
use crate::model::{BudgetKind, MetricReport, ScenarioReport, ValueUnit, XAxis};
use crate::typeset::Typeset;
use crate::units;

/// Width of both images, pixels.
pub const WIDTH: u32 = 1280;
const TITLE_H: u32 = 96;
const PANEL_H: u32 = 360;
const LEGEND_W: u32 = 300;
/// More panels than this are not drawn (the image would reach gigabytes);
/// the title says how many were left out.
pub const MAX_PANELS: usize = 24;

const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

const DATA: RGBColor = RGBColor(31, 119, 180);
const FIT: RGBColor = RGBColor(230, 97, 0);
const BUDGET: RGBColor = RGBColor(200, 30, 30);
const CEILING: RGBColor = RGBColor(106, 27, 154);
const SESSION: RGBColor = RGBColor(90, 90, 90);
const WARMUP: RGBColor = RGBColor(120, 120, 120);
const INK: RGBColor = RGBColor(33, 33, 33);
const MUTED: RGBColor = RGBColor(97, 97, 97);

/// Registers the embedded font with plotters once (used for text layout in
/// both formats) and returns it for the PNG's own text drawing.
fn ensure_font() -> Result<ab_glyph::FontRef<'static>, ReportError> {
    static FONT_REF: OnceLock<Option<ab_glyph::FontRef<'static>>> = OnceLock::new();
    FONT_REF
        .get_or_init(|| {
            register_font(FONT, FontStyle::Normal, FONT_BYTES).ok()?;
            ab_glyph::FontRef::try_from_slice(FONT_BYTES).ok()
        })
        .clone()
        .ok_or_else(|| ReportError::Render {
            what: "embedded font".into(),
            message: "DejaVuSans.ttf could not be parsed".into(),
        })
}

/// Pixel size of the images for this report.
pub fn image_size(report: &ScenarioReport) -> (u32, u32) {
    let panels = report.metrics.len().clamp(1, MAX_PANELS) as u32;
    (WIDTH, TITLE_H + PANEL_H * panels)
}

/// Renders the plot as an SVG document.
pub fn render_svg(report: &ScenarioReport) -> Result<String, ReportError> {
    ensure_font()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, image_size(report)).into_drawing_area();
        draw(&root, report).map_err(|e| e.into_report("memory.svg"))?;
        root.present()
            .map_err(|e| DrawErr(e.to_string()).into_report("memory.svg"))?;
    }
    Ok(out)
}

/// Renders the plot as a PNG file (RGB, 8 bit).
pub fn render_png(report: &ScenarioReport) -> Result<Vec<u8>, ReportError> {
    let font = ensure_font()?;
    let (w, h) = image_size(report);
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let backend = Typeset {
            inner: BitMapBackend::with_buffer(&mut rgb, (w, h)),
            font,
        };
        let root = backend.into_drawing_area();
        draw(&root, report).map_err(|e| e.into_report("memory.png"))?;
        root.present()
            .map_err(|e| DrawErr(e.to_string()).into_report("memory.png"))?;
    }
    let mut out = Vec::with_capacity(rgb.len() / 8);
    let encode = |out: &mut Vec<u8>| -> Result<(), png::EncodingError> {
        let mut enc = png::Encoder::new(out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        // Fast deflate + Paeth: ~2 ms and half the size of the default Sub
        // filter; the default deflate level costs ~40 ms for ~40 % less.
        enc.set_compression(png::Compression::Fast);
        enc.set_filter(png::FilterType::Paeth);
        let mut writer = enc.write_header()?;
        writer.write_image_data(&rgb)?;
        writer.finish()
    };
    encode(&mut out).map_err(|e| DrawErr(e.to_string()).into_report("memory.png"))?;
    Ok(out)
}

/// A drawing failure, carried as text (plotters' errors are generic over
/// the backend).
#[derive(Debug)]
struct DrawErr(String);

impl DrawErr {
    fn into_report(self, what: &str) -> ReportError {
        ReportError::Render {
            what: what.to_string(),
            message: self.0,
        }
    }
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawErr {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        DrawErr(e.to_string())
    }
}

type Area<DB> = DrawingArea<DB, Shift>;

fn font(size: f64) -> TextStyle<'static> {
    (FONT, size).into_font().color(&INK)
}

fn draw<DB: DrawingBackend>(root: &Area<DB>, r: &ScenarioReport) -> Result<(), DrawErr> {
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(TITLE_H);
    draw_title(&title, r)?;
    if r.metrics.is_empty() {
        let (w, h) = body.dim_in_pixel();
        let msg = "no metrics were recorded for this run";
        let style = font(20.0).color(&MUTED);
        let (tw, _) = body.estimate_text_size(msg, &style)?;
        body.draw(&Text::new(
            msg,
            ((w as i32 - tw as i32) / 2, h as i32 / 2 - 10),
            style,
        ))?;
        return Ok(());
    }
    let x_range = shared_x_range(r);
    for (panel, metric) in body
        .split_evenly((r.metrics.len().min(MAX_PANELS), 1))
        .iter()
        .zip(&r.metrics)
    {
        draw_panel(panel, metric, r, x_range)?;
    }
    Ok(())
}

/// Shortens `text` with an ellipsis until it fits `max_w` pixels.
fn fit_text<DB: DrawingBackend>(
    area: &Area<DB>,
    text: &str,
    style: &TextStyle,
    max_w: u32,
) -> Result<String, DrawErr> {
    if area.estimate_text_size(text, style)?.0 <= max_w {
        return Ok(text.to_string());
    }
    let chars: Vec<char> = text.chars().collect();
    let (mut lo, mut hi) = (0usize, chars.len());
    // Binary search on the number of kept characters.
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let candidate: String = chars[..mid].iter().collect::<String>() + "…";
        if area.estimate_text_size(&candidate, style)?.0 <= max_w {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(chars[..lo]
        .iter()
        .collect::<String>()
        .trim_end()
        .to_string()
        + "…")
}

fn draw_title<DB: DrawingBackend>(area: &Area<DB>, r: &ScenarioReport) -> Result<(), DrawErr> {
    let (w, _) = area.dim_in_pixel();
    let max_w = w - 40;
    let (cr, cg, cb) = r.verdict.rgb();
    let verdict_colour = RGBColor(cr, cg, cb);

    // Verdict badge, then the scenario name.
    let badge_style = font(22.0).color(&WHITE);
    let word = r.verdict.word();
    let (bw, _) = area.estimate_text_size(word, &badge_style)?;
    area.draw(&Rectangle::new(
        [(20, 12), (20 + bw as i32 + 20, 44)],
        verdict_colour.filled(),
    ))?;
    area.draw(&Text::new(word, (30, 17), badge_style))?;

    let name = match &r.variant {
        Some(v) => format!("{} ({v})", r.scenario),
        None => r.scenario.clone(),
    };
    let name_style = font(24.0);
    let name_x = 20 + bw as i32 + 36;
    let name = fit_text(
        area,
        &name,
        &name_style,
        max_w.saturating_sub(name_x as u32),
    )?;
    area.draw(&Text::new(name, (name_x, 15), name_style))?;

    let headline_style = font(17.0);
    let headline = fit_text(area, &r.headline, &headline_style, max_w)?;
    area.draw(&Text::new(headline, (20, 54), headline_style))?;

    let mut run = vec![r.status.describe()];
    if let Some(n) = r.iterations {
        run.push(format!("{n} iterations"));
    }
    run.push(units::seconds(r.duration_s));
    if r.metrics.len() > MAX_PANELS {
        run.push(format!(
            "{} more metrics not drawn",
            r.metrics.len() - MAX_PANELS
        ));
    }
    let status_style = font(14.0).color(&MUTED);
    let status = fit_text(area, &run.join("  ·  "), &status_style, max_w)?;
    area.draw(&Text::new(status, (20, 77), status_style))?;
    area.draw(&PathElement::new(
        vec![
            (20, TITLE_H as i32 - 2),
            (w as i32 - 20, TITLE_H as i32 - 2),
        ],
        RGBColor(200, 200, 200).stroke_width(1),
    ))?;
    Ok(())
}

/// `lo..hi` widened by 5 % each side (or by 1 unit when empty), finite.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let pad = hi * 0.05 - lo * 0.05; // no overflow even at ±f64::MAX
    let pad = if pad > 0.0 {
        pad
    } else {
        (lo.abs() * 0.05).max(1.0)
    };
    let lo2 = lo - pad;
    let hi2 = hi + pad;
    (
        if lo2.is_finite() { lo2 } else { lo },
        if hi2.is_finite() { hi2 } else { hi },
    )
}

fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// A straight line `y = y0 + slope * (x - x0)` drawn over `xa..xb`.
#[derive(Clone, Copy)]
struct Line {
    x0: f64,
    y0: f64,
    slope: f64,
}

impl Line {
    fn at(&self, x: f64) -> f64 {
        self.y0 + self.slope * (x - self.x0)
    }

    /// The part of the line over `xa..xb` inside `ylo..yhi`, if any.
    fn clip(&self, xa: f64, xb: f64, ylo: f64, yhi: f64) -> Option<[(f64, f64); 2]> {
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
enum Swatch {
    Line(RGBColor, u32),
    Fill(RGBAColor),
    Marker(RGBColor),
    None,
}

struct Legend {
    rows: Vec<(Swatch, String)>,
}

impl Legend {
    fn push(&mut self, swatch: Swatch, text: impl Into<String>) {
        self.rows.push((swatch, text.into()));
    }
}

/// The x range shared by all panels (so they line up): every metric's
/// data, the sessions and the warm-up cuts.
fn shared_x_range(r: &ScenarioReport) -> (f64, f64) {
    let xs = r
        .metrics
        .iter()
        .flat_map(|m| {
            m.points
                .iter()
                .filter(|p| p[1].is_finite())
                .map(|p| p[0])
                .chain(m.warmup_end_x)
        })
        .chain(r.sessions.iter().map(|s| s.x));
    match min_max(xs) {
        Some((a, b)) if b > a => (a, b),
        Some((a, _)) => padded(a, a),
        None => {
            let d = if r.duration_s.is_finite() && r.duration_s > 0.0 {
                r.duration_s
            } else {
                1.0
            };
            (0.0, d)
        }
    }
}

fn draw_panel<DB: DrawingBackend>(
    panel: &Area<DB>,
    m: &MetricReport,
    r: &ScenarioReport,
    x_range: (f64, f64),
) -> Result<(), DrawErr> {
    let (pw, _) = panel.dim_in_pixel();
    let (plot_area, legend_area) = panel.split_horizontally(pw - LEGEND_W);
    let unit = m.unit;
    let pts: Vec<(f64, f64)> = m
        .points
        .iter()
        .filter(|p| p[0].is_finite() && p[1].is_finite())
        .map(|p| (p[0], p[1]))
        .collect();
    let skipped = m.points.len() - pts.len();
    let data_x = min_max(pts.iter().map(|p| p.0));

    let (xlo, xhi) = x_range;

    // The steady state the fit covers.
    let fit_from = m
        .warmup_end_x
        .filter(|w| w.is_finite())
        .map_or(data_x.map_or(xlo, |d| d.0), |w| {
            w.max(data_x.map_or(xlo, |d| d.0))
        });
    let fit_to = data_x.map_or(xhi, |d| d.1);
    let fit = m.fit.as_ref().and_then(|f| {
        let l = Line {
            x0: f.x_center,
            y0: f.y_center,
            slope: f.slope,
        };
        let ok = [f.x_center, f.y_center, f.slope, f.slope_lo, f.slope_hi]
            .iter()
            .all(|v| v.is_finite());
        ok.then_some((f, l))
    });
    // Where budget lines start: on the fit, else the first steady point.
    let anchor = match (&fit, pts.iter().find(|p| p.0 >= fit_from)) {
        (Some((_, l)), _) => Some((fit_from, l.at(fit_from))),
        (None, Some(p)) => Some(*p),
        (None, None) => None,
    };

    let ceiling = r.ceiling_bytes.filter(|c| {
        c.is_finite()
            && unit == ValueUnit::Bytes
            && r.ceiling_metric.as_ref().is_none_or(|n| *n == m.name)
    });
    // Horizontal reference lines: (value, colour, legend text).
    let mut hlines: Vec<(f64, RGBColor, String)> = Vec::new();
    for b in &m.budgets {
        let y = match (b.kind, anchor) {
            (BudgetKind::Peak, _) => b.limit,
            (BudgetKind::Growth, Some((_, y0))) => y0 + b.limit,
            _ => continue,
        };
        if y.is_finite() {
            hlines.push((
                y,
                BUDGET,
                format!(
                    "{} budget {} ({})",
                    b.kind.name(),
                    b.limit_text,
                    b.outcome.word()
                ),
            ));
        }
    }
    if let Some(c) = ceiling {
        hlines.push((c, CEILING, format!("ceiling {}", units::bytes(c))));
    }

    // y range: the data and the fit; reference lines only when they do not
    // squash the data (a far-away limit is named in the legend instead).
    let fit_ys = fit.iter().flat_map(|(_, l)| [l.at(fit_from), l.at(fit_to)]);
    let core = min_max(pts.iter().map(|p| p.1).chain(fit_ys.clone()));
    let (ylo, yhi) = {
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
    };

    // From here on y is in the axis unit (e.g. MiB) so ticks are round.
    let (scale, suffix) = units::axis_scale(ylo, yhi, unit);
    let (ylo, yhi) = (ylo / scale, yhi / scale);
    let pts: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| (x, y / scale)).collect();
    let fit = fit.map(|(f, l)| {
        let scaled = Line {
            x0: l.x0,
            y0: l.y0 / scale,
            slope: l.slope / scale,
        };
        (f, scaled)
    });
    let anchor = anchor.map(|(x, y)| (x, y / scale));
    let hlines: Vec<(f64, RGBColor, String)> = hlines
        .into_iter()
        .map(|(y, c, t)| (y / scale, c, t))
        .collect();

    let caption = format!(
        "{}  ·  {}  ·  peak {}",
        m.name,
        m.shape,
        units::value(m.peak, unit)
    );
    let caption_style = font(17.0);
    let caption = fit_text(&plot_area, &caption, &caption_style, pw - LEGEND_W - 40)?;
    let mut chart = ChartBuilder::on(&plot_area)
        .margin_top(8)
        .margin_left(12)
        .margin_right(16)
        .margin_bottom(6)
        .caption(caption, caption_style)
        .x_label_area_size(46)
        .y_label_area_size(96)
        .build_cartesian_2d(xlo..xhi, ylo..yhi)?;

    let y_fmt = units::tick_formatter(ylo, yhi, 7, suffix);
    let x_fmt = units::tick_formatter(xlo, xhi, 10, "");
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
        .x_desc(r.x_unit.caption())
        .y_label_formatter(&y_fmt)
        .x_label_formatter(&x_fmt)
        .draw()?;

    let mut legend = Legend { rows: Vec::new() };

    // Warm-up: shaded from the left edge to the cut.
    if let Some(w) = m.warmup_end_x.filter(|w| w.is_finite() && *w > xlo) {
        let w = w.min(xhi);
        let shade = WARMUP.mix(0.12);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(xlo, ylo), (w, yhi)],
            shade.filled(),
        )))?;
        legend.push(
            Swatch::Fill(shade),
            match r.x_unit {
                XAxis::Iteration => format!("warm-up (cut at iteration {})", units::count(w)),
                XAxis::Second => format!("warm-up (cut at {})", units::seconds(w)),
            },
        );
    }

    // Confidence band of the slope, then the data, then the lines on top.
    if let Some((f, line)) = &fit {
        let band = band_polygon(
            f.slope_lo / scale,
            f.slope_hi / scale,
            line,
            fit_from,
            fit_to,
            ylo,
            yhi,
        );
        if band.len() >= 3 {
            let fill = FIT.mix(0.18);
            chart.draw_series(std::iter::once(Polygon::new(band, fill.filled())))?;
            legend.push(
                Swatch::Fill(fill),
                format!(
                    "{:.0}% CI {} … {}",
                    f.confidence * 100.0,
                    units::rate(f.slope_lo, unit, r.x_unit),
                    units::rate(f.slope_hi, unit, r.x_unit)
                ),
            );
        }
    }

    // The fit under the data, so a tight fit does not hide the samples.
    let mut fit_legend = None;
    if let Some((f, line)) = &fit {
        if let Some(seg) = line.clip(fit_from, fit_to, ylo, yhi) {
            chart.draw_series(LineSeries::new(seg, FIT.stroke_width(2)))?;
        }
        fit_legend = Some((
            Swatch::Line(FIT, 2),
            format!("fit {}", units::rate(f.slope, unit, r.x_unit)),
        ));
    }

    if !pts.is_empty() {
        let (px_lo, _) = chart.backend_coord(&(xlo, yhi));
        let (px_hi, _) = chart.backend_coord(&(xhi, yhi));
        let columns = (px_hi - px_lo).max(1) as usize;
        let drawn = decimate(&pts, xlo, xhi, columns);
        chart.draw_series(LineSeries::new(drawn, DATA.stroke_width(1)))?;
        if pts.len() == 1 {
            chart.draw_series(std::iter::once(Circle::new(pts[0], 3, DATA.filled())))?;
        }
    }
    let plural = if pts.len() == 1 { "" } else { "s" };
    let mut samples = format!("{} ({} sample{plural}", m.name, pts.len());
    if skipped > 0 {
        samples.push_str(&format!(", {skipped} non-finite skipped"));
    }
    samples.push(')');
    legend.push(Swatch::Line(DATA, 2), samples);

    legend.rows.extend(fit_legend);

    // Slope budgets: the budget's slope through the fit's start point.
    for b in m.budgets.iter().filter(|b| b.kind == BudgetKind::Slope) {
        let text = format!("slope budget {} ({})", b.limit_text, b.outcome.word());
        match anchor {
            Some((x0, y0)) if b.limit.is_finite() => {
                let l = Line {
                    x0,
                    y0,
                    slope: b.limit / scale,
                };
                if let Some(seg) = l.clip(x0, fit_to.max(x0), ylo, yhi) {
                    chart.draw_series(LineSeries::new(seg, BUDGET.stroke_width(2)))?;
                }
                legend.push(Swatch::Line(BUDGET, 2), text);
            }
            _ => legend.push(Swatch::None, text),
        }
    }
    for (y, colour, text) in &hlines {
        if (ylo..=yhi).contains(y) {
            chart.draw_series(LineSeries::new(
                [(xlo, *y), (xhi, *y)],
                colour.stroke_width(2),
            ))?;
            legend.push(Swatch::Line(*colour, 2), text.clone());
        } else {
            legend.push(Swatch::None, format!("{text}, off-scale"));
        }
    }
    // Other budgets (retained) and their outcomes are listed, not drawn.
    for b in m.budgets.iter().filter(|b| b.kind == BudgetKind::Retained) {
        legend.push(
            Swatch::None,
            format!("retained budget {} ({})", b.limit_text, b.outcome.word()),
        );
    }
    if ceiling.is_some()
        && let Some(peak) = pts.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))
    {
        chart.draw_series(std::iter::once(Circle::new(peak, 5, CEILING.filled())))?;
        legend.push(
            Swatch::Marker(CEILING),
            format!("peak {}", units::value(peak.1 * scale, unit)),
        );
    }

    draw_sessions(&chart, r, xlo, xhi, ylo, yhi)?;
    if !r.sessions.is_empty() {
        legend.push(Swatch::Line(SESSION, 1), "session boundary");
    }
    if pts.is_empty() {
        let msg = "no samples";
        let style = font(18.0).color(&MUTED);
        let (tw, th) = plot_area.estimate_text_size(msg, &style)?;
        chart.plotting_area().draw(
            &(EmptyElement::at(((xlo + xhi) / 2.0, (ylo + yhi) / 2.0))
                + Text::new(msg, (-(tw as i32) / 2, -(th as i32) / 2), style)),
        )?;
    }
    draw_legend(&legend_area, &legend)
}

/// M4 decimation: with far more points than pixel columns, keep per column
/// only the first, last, lowest and highest point. The drawn line is then
/// pixel-identical in shape (every spike survives) while long runs stay
/// small in the SVG and fast in the PNG.
fn decimate(pts: &[(f64, f64)], xlo: f64, xhi: f64, columns: usize) -> Vec<(f64, f64)> {
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
fn band_polygon(
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
    chart: &ChartContext<
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
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

fn draw_legend<DB: DrawingBackend>(area: &Area<DB>, legend: &Legend) -> Result<(), DrawErr> {
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

/// `memory.svg`.
#[derive(Debug, Clone, Copy)]
pub struct PlotSvg;

impl crate::Export<ScenarioReport> for PlotSvg {
    fn file_name(&self) -> &'static str {
        "memory.svg"
    }
    fn render(&self, input: &ScenarioReport) -> Result<Vec<u8>, ReportError> {
        render_svg(input).map(String::into_bytes)
    }
}

/// `memory.png`.
#[derive(Debug, Clone, Copy)]
pub struct PlotPng;

impl crate::Export<ScenarioReport> for PlotPng {
    fn file_name(&self) -> &'static str {
        "memory.png"
    }
    fn render(&self, input: &ScenarioReport) -> Result<Vec<u8>, ReportError> {
        render_png(input)
    }
}
