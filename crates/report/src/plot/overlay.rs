//! `compare.svg` and `compare.png`: one panel per compared metric, both runs' samples on
//! it, each with its fitted line and the confidence band of its slope, in its own colour.
//! Samples are drawn at their own x (iteration or second), so two runs of different
//! lengths overlay from the start.

use leakcheck_vocab::{XUnit, fmt};
use plotters::prelude::*;

use super::axis::{axis_scale, min_max, padded};
use super::panel::{Legend, Line, Swatch, band_polygon, chart_on, decimate, draw_legend};
use super::{Area, DrawErr, LEGEND_W, MUTED, TITLE_H, WIDTH, fit_text, font};
use crate::ReportError;
use crate::model::{CompareReport, ComparedRun, MetricReport};
use crate::typeset::Typeset;

const RUN_A: RGBColor = RGBColor(31, 119, 180);
const RUN_B: RGBColor = RGBColor(214, 39, 40);
const PANEL_H: u32 = 360;

/// Pixel size of the overlay.
pub fn overlay_size(c: &CompareReport) -> (u32, u32) {
    let panels = c.metrics.len().clamp(1, super::MAX_PANELS) as u32;
    (WIDTH, TITLE_H + PANEL_H * panels)
}

/// The overlay as an SVG document.
pub fn render_overlay_svg(c: &CompareReport) -> Result<String, ReportError> {
    super::ensure_font()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, overlay_size(c)).into_drawing_area();
        draw(&root, c).map_err(|e| e.into_report("compare.svg"))?;
        root.present()
            .map_err(|e| DrawErr(e.to_string()).into_report("compare.svg"))?;
    }
    Ok(out)
}

/// The overlay as a PNG file.
pub fn render_overlay_png(c: &CompareReport) -> Result<Vec<u8>, ReportError> {
    let font = super::ensure_font()?;
    let (w, h) = overlay_size(c);
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let backend = Typeset {
            inner: BitMapBackend::with_buffer(&mut rgb, (w, h)),
            font,
        };
        let root = backend.into_drawing_area();
        draw(&root, c).map_err(|e| e.into_report("compare.png"))?;
        root.present()
            .map_err(|e| DrawErr(e.to_string()).into_report("compare.png"))?;
    }
    super::encode_png(&rgb, w, h, "compare.png")
}

fn draw<DB: DrawingBackend>(root: &Area<DB>, c: &CompareReport) -> Result<(), DrawErr> {
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(TITLE_H);
    let (w, _) = title.dim_in_pixel();
    let head = format!("compare: {}", c.verdict.word());
    title.draw(&Text::new(head, (20, 12), font(24.0)))?;
    let style = font(16.0);
    let headline = fit_text(&title, &c.headline, &style, w - 40)?;
    title.draw(&Text::new(headline, (20, 46), style))?;
    let runs = format!("A: {}   ·   B: {}", c.a.label(), c.b.label());
    let style = font(14.0).color(&MUTED);
    let runs = fit_text(&title, &runs, &style, w - 40)?;
    title.draw(&Text::new(runs, (20, 72), style))?;
    if c.metrics.is_empty() {
        body.draw(&Text::new(
            "no metric is in both runs",
            (40, 40),
            font(20.0).color(&MUTED),
        ))?;
        return Ok(());
    }
    let shown = c.metrics.len().min(super::MAX_PANELS);
    for (panel, m) in body.split_evenly((shown, 1)).iter().zip(&c.metrics) {
        let a = c.a.report.metrics.iter().find(|r| r.name == m.name);
        let b = c.b.report.metrics.iter().find(|r| r.name == m.name);
        let caption = format!("{}  ·  {}", m.name, m.verdict.word());
        draw_panel(
            panel,
            &caption,
            [(&c.a, a, RUN_A, "A"), (&c.b, b, RUN_B, "B")],
        )?;
    }
    Ok(())
}

type Side<'a> = (&'a ComparedRun, Option<&'a MetricReport>, RGBColor, &'a str);

fn draw_panel<DB: DrawingBackend>(
    panel: &Area<DB>,
    caption: &str,
    sides: [Side<'_>; 2],
) -> Result<(), DrawErr> {
    let (pw, _) = panel.dim_in_pixel();
    let (plot_area, legend_area) = panel.split_horizontally(pw - LEGEND_W);
    let points = |m: Option<&MetricReport>| -> Vec<(f64, f64)> {
        m.map(|m| {
            m.points
                .iter()
                .filter(|p| p[0].is_finite() && p[1].is_finite())
                .map(|p| (p[0], p[1]))
                .collect()
        })
        .unwrap_or_default()
    };
    let pts = [points(sides[0].1), points(sides[1].1)];
    let all = || pts.iter().flatten();
    let (xlo, xhi) = match min_max(all().map(|p| p.0)) {
        Some((a, b)) if b > a => (a, b),
        Some((a, _)) => padded(a, a),
        None => (0.0, 1.0),
    };
    let (ylo, yhi) = min_max(all().map(|p| p.1))
        .map(|(a, b)| padded(a, b))
        .unwrap_or((0.0, 1.0));
    let unit = sides
        .iter()
        .find_map(|s| s.1.map(|m| m.unit))
        .unwrap_or_default();
    let (scale, suffix) = axis_scale(ylo, yhi, unit);
    let (ylo, yhi) = (ylo / scale, yhi / scale);
    let x_unit = sides[0].0.x_unit;
    let mut chart = chart_on(&plot_area, caption, (xlo, xhi), (ylo, yhi), suffix, x_unit)?;
    let mut legend = Legend { rows: Vec::new() };
    let (px_lo, _) = chart.backend_coord(&(xlo, yhi));
    let (px_hi, _) = chart.backend_coord(&(xhi, yhi));
    let columns = (px_hi - px_lo).max(1) as usize;
    for ((run, m, colour, label), pts) in sides.iter().zip(&pts) {
        let scaled: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| (x, y / scale)).collect();
        chart.draw_series(LineSeries::new(
            decimate(&scaled, xlo, xhi, columns),
            colour.mix(0.55).stroke_width(1),
        ))?;
        legend.push(
            Swatch::Line(*colour, 2),
            format!("{label}: {} ({} samples)", run.label(), pts.len()),
        );
        let Some(m) = m else { continue };
        draw_fit(
            &mut chart,
            m,
            pts,
            scale,
            (ylo, yhi),
            *colour,
            x_unit,
            &mut legend,
        )?;
    }
    draw_legend(&legend_area, &legend)
}

/// A run's fitted line over its steady state and the bow-tie of its slope's interval.
#[allow(clippy::too_many_arguments)]
fn draw_fit<DB: DrawingBackend>(
    chart: &mut super::panel::Chart<'_, DB>,
    m: &MetricReport,
    pts: &[(f64, f64)],
    scale: f64,
    (ylo, yhi): (f64, f64),
    colour: RGBColor,
    x_unit: XUnit,
    legend: &mut Legend,
) -> Result<(), DrawErr> {
    let Some(f) = m.fit.as_ref().filter(|f| {
        [f.x_center, f.y_center, f.slope, f.slope_lo, f.slope_hi]
            .iter()
            .all(|v| v.is_finite())
    }) else {
        return Ok(());
    };
    let Some((first, last)) = min_max(pts.iter().map(|p| p.0)) else {
        return Ok(());
    };
    let from = m
        .warmup_end_x
        .filter(|w| w.is_finite())
        .map_or(first, |w| w.max(first));
    let line = Line {
        x0: f.x_center,
        y0: f.y_center / scale,
        slope: f.slope / scale,
    };
    let band = band_polygon(
        f.slope_lo / scale,
        f.slope_hi / scale,
        &line,
        from,
        last,
        ylo,
        yhi,
    );
    if band.len() >= 3 {
        chart.draw_series(std::iter::once(Polygon::new(
            band,
            colour.mix(0.16).filled(),
        )))?;
    }
    if let Some(seg) = line.clip(from, last, ylo, yhi) {
        chart.draw_series(LineSeries::new(seg, colour.stroke_width(2)))?;
    }
    legend.push(
        Swatch::Fill(colour.mix(0.16)),
        format!(
            "fit {} ({}% CI {} … {})",
            fmt::rate(f.slope, m.unit, x_unit),
            fmt::percent(f.confidence),
            fmt::rate(f.slope_lo, m.unit, x_unit),
            fmt::rate(f.slope_hi, m.unit, x_unit)
        ),
    );
    Ok(())
}

/// `compare.svg`.
#[derive(Debug, Clone, Copy)]
pub struct CompareSvg;

impl crate::Export<CompareReport> for CompareSvg {
    fn file_name(&self) -> &'static str {
        "compare.svg"
    }
    fn render(&self, input: &CompareReport) -> Result<Vec<u8>, ReportError> {
        render_overlay_svg(input).map(String::into_bytes)
    }
}

/// `compare.png`.
#[derive(Debug, Clone, Copy)]
pub struct ComparePng;

impl crate::Export<CompareReport> for ComparePng {
    fn file_name(&self) -> &'static str {
        "compare.png"
    }
    fn render(&self, input: &CompareReport) -> Result<Vec<u8>, ReportError> {
        render_overlay_png(input)
    }
}
