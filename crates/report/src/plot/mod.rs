//! `memory.svg` and `memory.png`: one panel per metric, stacked.
//!
//! Each panel shows the samples, the fitted line over the steady state with
//! the confidence band of its slope (a bow-tie pivoting on the fit's centre),
//! the budget lines, the warm-up shaded and the session boundaries; for a
//! retained budget, the checkpoints it was judged on and its interval instead
//! of the fit when no slope was judged. The
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

use leakcheck_vocab::fmt;

use crate::ReportError;
use crate::model::ScenarioReport;
use crate::typeset::Typeset;

mod axis;
mod overlay;
mod panel;

pub use overlay::{ComparePng, CompareSvg};

use axis::{min_max, padded};
use panel::draw_panel;

/// Width of both images, pixels.
pub const WIDTH: u32 = 1280;
const TITLE_H: u32 = 96;
const PANEL_H: u32 = 360;
const LEGEND_W: u32 = 300;
/// More panels than this are not drawn (the image would reach gigabytes);
/// the title says how many were left out.
pub const MAX_PANELS: usize = 24;

const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

const DATA: RGBColor = RGBColor(31, 119, 180);
const FIT: RGBColor = RGBColor(230, 97, 0);
const BUDGET: RGBColor = RGBColor(200, 30, 30);
const CEILING: RGBColor = RGBColor(106, 27, 154);
const CHECKPOINT: RGBColor = RGBColor(0, 121, 107);
/// A churning series' troughs and peaks.
const TROUGHS: RGBColor = RGBColor(46, 125, 50);
const PEAKS: RGBColor = RGBColor(230, 97, 0);
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
    encode_png(&rgb, w, h, "memory.png")
}

/// An RGB buffer as PNG bytes.
fn encode_png(rgb: &[u8], w: u32, h: u32, what: &str) -> Result<Vec<u8>, ReportError> {
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
        writer.write_image_data(rgb)?;
        writer.finish()
    };
    encode(&mut out).map_err(|e| DrawErr(e.to_string()).into_report(what))?;
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
    run.push(fmt::seconds(r.duration_s));
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

/// The x range shared by all panels (so they line up): every metric's
/// data, its judged checkpoints, the sessions and the warm-up cuts.
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
                .chain(m.checkpoints.iter().map(|c| c.x))
        })
        .chain(r.sessions.iter().map(|s| s.x));
    let checkpoints = min_max(
        r.metrics
            .iter()
            .flat_map(|m| m.checkpoints.iter().map(|c| c.x)),
    );
    match (min_max(xs), checkpoints) {
        // A checkpoint at an edge (before the first mark) gets room for its marker.
        (Some((a, b)), Some((cl, ch))) if b > a => {
            let room = (b - a) * 0.01;
            (a.min(cl - room), b.max(ch + room))
        }
        (Some((a, b)), _) if b > a => (a, b),
        (Some((a, _)), _) => padded(a, a),
        (None, _) => {
            let d = if r.duration_s.is_finite() && r.duration_s > 0.0 {
                r.duration_s
            } else {
                1.0
            };
            (0.0, d)
        }
    }
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
