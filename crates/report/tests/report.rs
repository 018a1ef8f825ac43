//! End-to-end checks of the report writers on a realistic 500-point run and
//! on degenerate inputs.

mod common;

use std::fs;

use leakcheck_report::*;
use leakcheck_vocab::fmt;

const MIB: f64 = 1024.0 * 1024.0;

/// Decodes a PNG and returns (width, height, pixel bytes).
fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG data");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// A minimal well-formedness check: every opened tag is closed in order.
/// Returns the number of elements seen.
fn check_xml(text: &str) -> usize {
    let mut stack: Vec<String> = Vec::new();
    let mut elements = 0;
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("unterminated tag") + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        assert!(!tag.contains('<'), "'<' inside a tag: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().unwrap_or_else(|| panic!("stray </{name}>"));
            assert_eq!(open, name.trim(), "mismatched close tag");
        } else {
            elements += 1;
            let name = tag.split_whitespace().next().unwrap().trim_end_matches('/');
            if !tag.ends_with('/') {
                stack.push(name.to_string());
            }
        }
    }
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
    elements
}

fn attr(text: &str, name: &str) -> usize {
    let key = format!("{name}=\"");
    let start = text.find(&key).unwrap_or_else(|| panic!("no {name}")) + key.len();
    let end = text[start..].find('"').unwrap() + start;
    text[start..end].parse().unwrap()
}

fn entries() -> Vec<GateEntry> {
    vec![
        GateEntry {
            rel_dir: "loader-loop-leaky".into(),
            report: common::leaky_report(500),
        },
        GateEntry {
            rel_dir: "abort-at-300".into(),
            report: common::crashed_report(),
        },
    ]
}

#[test]
fn scenario_files_are_written_and_readable() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("loader-loop-leaky");
    let report = common::leaky_report(500);
    let written = write_scenario(&out, &report).unwrap();
    assert_eq!(written.len(), 4);
    for name in SCENARIO_FILES {
        let p = out.join(name);
        assert!(p.is_file(), "{} missing", p.display());
        assert!(fs::metadata(&p).unwrap().len() > 0, "{name} is empty");
    }
    let leftovers: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // PNG: decodes, has the advertised size, and is not blank.
    let (w, h, pixels) = decode_png(&fs::read(out.join("memory.png")).unwrap());
    assert_eq!((w, h), image_size(&report));
    assert_eq!((w, h), (1280, 96 + 2 * 360));
    let non_white = pixels.chunks(3).filter(|p| p != &[255, 255, 255]).count();
    assert!(non_white > 10_000, "only {non_white} drawn pixels");
    // The verdict badge is filled with the FAIL colour.
    let (r, g, b) = Overall::Fail.rgb();
    let badge = pixels.chunks(3).filter(|p| p == &[r, g, b]).count();
    assert!(badge > 500, "FAIL badge colour covers only {badge} pixels");

    // JSON: one point per line, and it round-trips exactly.
    let json = fs::read_to_string(out.join("summary.json")).unwrap();
    let first = report.metrics[0].points[0];
    assert!(json.contains(&format!("\n        [{:?}, {:?}],\n", first[0], first[1])));
    let back = read_summary(&out.join("summary.json")).unwrap();
    assert!(back == report, "summary.json did not round-trip exactly");
}

#[test]
fn svg_has_title_budget_and_one_path_per_series() {
    let report = common::leaky_report(500);
    let svg = render_svg(&report).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(check_xml(&svg) > 50);
    assert!(svg.contains(">\nFAIL\n<"), "verdict badge");
    assert!(svg.contains("loader-loop (leaky)"), "scenario in the title");
    assert!(svg.contains(&report.headline), "headline in the title");
    assert!(
        svg.contains("slope budget 4 KiB/iter (fail)"),
        "budget label"
    );
    assert!(svg.contains("warm-up (cut at iteration 50)"));
    assert!(svg.contains("session 2 (4 samples)"));
    // One polyline per data series (legend swatches have 2 points).
    let series: Vec<usize> = svg
        .split("<polyline")
        .skip(1)
        .filter(|p| p.contains("stroke=\"#1F77B4\""))
        .map(|p| {
            let pts = &p[p.find("points=\"").unwrap() + 8..];
            pts[..pts.find('"').unwrap()].split_whitespace().count()
        })
        .filter(|&n| n > 2)
        .collect();
    assert_eq!(series, vec![500, 500]);
    // Fit lines: one per metric with a fit.
    let fits = svg
        .split("<polyline")
        .filter(|p| p.contains("stroke=\"#E66100\""))
        .count();
    assert_eq!(fits, 2 * 2, "fit line + legend swatch per panel");
}

#[test]
fn summary_markdown_has_the_table_and_the_status() {
    let report = common::leaky_report(500);
    let md = scenario_markdown(&report);
    assert!(md.starts_with("# ❌ FAIL · loader-loop (leaky)"), "{md}");
    let fit = report.metrics[0].fit.as_ref().unwrap();
    let row = format!(
        "| alloc.allocated | leak | slope | {} | 95% CI: {} … {} | 4 KiB/iter | ❌ fail |",
        fmt::rate(fit.slope, ValueUnit::Bytes, XUnit::Iteration),
        fmt::rate(fit.slope_lo, ValueUnit::Bytes, XUnit::Iteration),
        fmt::rate(fit.slope_hi, ValueUnit::Bytes, XUnit::Iteration),
    );
    assert!(md.contains(&row), "missing row {row}\n{md}");
    assert!(md.contains("run: completed (exit code 0)"));
    assert!(md.contains("- ❌ fail alloc.allocated: alloc.allocated grows"));

    let crashed = scenario_markdown(&common::crashed_report());
    assert!(
        crashed.contains("crashed at iteration 300 (signal 6)"),
        "{crashed}"
    );
}

#[test]
fn junit_counts_tests_failures_errors_and_skips() {
    let entries = entries();
    let xml = junit_xml(&entries);
    check_xml(&xml);
    let budgets: Vec<Outcome> = entries
        .iter()
        .flat_map(|e| e.report.metrics.iter())
        .flat_map(|m| m.budgets.iter().map(|b| b.outcome))
        .collect();
    assert_eq!(budgets.len(), 4);
    assert_eq!(budgets[0], Outcome::Fail, "36 KiB/iter against 4 KiB/iter");
    let count = |o| budgets.iter().filter(|b| **b == o).count();
    assert_eq!(
        attr(&xml, "tests"),
        2 + budgets.len(),
        "a run case per scenario"
    );
    assert_eq!(attr(&xml, "failures"), count(Outcome::Fail));
    assert_eq!(attr(&xml, "errors"), 1, "the crashed scenario");
    assert_eq!(attr(&xml, "skipped"), count(Outcome::Undecided));
    assert_eq!(xml.matches("<testcase ").count(), 2 + budgets.len());
    assert!(xml.contains("<testsuite name=\"leakcheck\""));
    assert!(xml.contains(
        "<error type=\"incomplete\" message=\"crashed at iteration 300 (signal 6): SIGABRT\">"
    ));
    let line = xml_escape(&entries[0].report.metrics[0].budgets[0].line);
    assert!(xml.contains(&format!("<failure type=\"budget\" message=\"{line}\">")));
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[test]
fn a_ceiling_kill_is_a_junit_failure_and_is_drawn() {
    let mut report = common::leaky_report(200);
    report.status = RunEnding {
        termination: Some(Termination::CeilingExceeded {
            ceiling: 180 * 1024 * 1024,
            peak: 181 * 1024 * 1024,
        }),
        last_iteration: Some(200),
        message: None,
    };
    report.ceiling_bytes = Some(180.0 * MIB);
    report.verdict = Overall::Incomplete;
    let entries = [GateEntry {
        rel_dir: "x".into(),
        report: report.clone(),
    }];
    let xml = junit_xml(&entries);
    assert_eq!(attr(&xml, "errors"), 0);
    assert!(
        xml.contains("<failure type=\"ceiling\" message=\"ceiling 180 MiB exceeded, peak 181 MiB")
    );
    let svg = render_svg(&report).unwrap();
    assert!(
        svg.contains("\nceiling 180 MiB\n"),
        "ceiling line in the legend"
    );
    assert!(svg.contains("peak 18"), "peak marker in the legend");
    assert!(svg.contains("stroke=\"#6A1B9A\""), "ceiling line drawn");
}

#[test]
fn html_and_markdown_escape_hostile_names() {
    let mut entries = entries();
    entries[0].report.scenario = "<script>alert('x')</script>".into();
    entries[0].report.headline = "a & b <b>bold</b> | pipe".into();
    entries[0].rel_dir = "dir with space/<x>".into();
    let html = index_html(&entries);
    check_xml(
        &html
            .replace("<!DOCTYPE html>", "")
            .replace("<meta charset=\"utf-8\">", ""),
    );
    assert!(!html.contains("<script>"), "unescaped script tag");
    assert!(html.contains("&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;"));
    assert!(html.contains("a &amp; b &lt;b&gt;bold&lt;/b&gt; | pipe"));
    assert!(html.contains("href=\"dir%20with%20space/%3Cx%3E/memory.svg\""));
    assert!(html.contains("<img src=\"abort-at-300/memory.svg\""));
    for f in ["memory.png", "summary.md", "summary.json", "samples.jsonl"] {
        assert!(
            html.contains(&format!("href=\"abort-at-300/{f}\"")),
            "{f} link"
        );
    }
    let md = gate_markdown(&entries);
    assert!(!md.contains("<script>"));
    assert!(md.contains("a &amp; b &lt;b&gt;bold&lt;/b&gt; \\| pipe"));
    let xml = junit_xml(&entries);
    assert!(!xml.contains("<script>"));
    let svg = render_svg(&entries[0].report).unwrap();
    assert!(!svg.contains("<script>"));
}

#[test]
fn gate_files_and_step_summary() {
    let dir = tempfile::tempdir().unwrap();
    let step = dir.path().join("step_summary.md");
    fs::write(&step, "previous step\n").unwrap();
    let entries = entries();
    let written = write_gate(dir.path(), &entries, Some(&step)).unwrap();
    assert_eq!(written.len(), 4);
    for name in ["junit.xml", "summary.md", "index.html"] {
        assert!(dir.path().join(name).is_file(), "{name} missing");
    }
    let summary = fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(summary.starts_with("# leakcheck gate: 1 failed, 1 did not complete\n"));
    assert!(summary.contains("## ❌ FAIL · loader-loop (leaky)"));
    assert!(summary.contains("## ⛔ INCOMPLETE · abort-at-300"));
    let step_text = fs::read_to_string(&step).unwrap();
    assert_eq!(step_text, format!("previous step\n{summary}"));
}

#[test]
fn bad_paths_fail_early_and_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    fs::write(&file, "x").unwrap();
    let report = common::leaky_report(10);

    let err = write_scenario(&file.join("sub"), &report).unwrap_err();
    assert!(matches!(err, ReportError::Write { .. }));
    assert!(err.to_string().contains("plain-file"), "{err}");

    // A bad step-summary path fails before any gate file is written.
    let root = dir.path().join("reports");
    let err = write_gate(&root, &entries(), Some(&file.join("nope.md"))).unwrap_err();
    assert!(err.to_string().contains("nope.md"), "{err}");
    assert!(!root.join("junit.xml").exists());
}

#[test]
fn read_summary_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let err = read_summary(&missing).unwrap_err();
    assert!(matches!(err, ReportError::Read { .. }));
    assert!(err.to_string().contains("missing.json"), "{err}");

    let garbage = dir.path().join("garbage.json");
    fs::write(&garbage, "{not json").unwrap();
    let err = read_summary(&garbage).unwrap_err();
    assert!(matches!(err, ReportError::Parse { .. }));
    assert!(err.to_string().contains("garbage.json"), "{err}");

    let future = dir.path().join("future.json");
    let mut v = serde_json::to_value(common::leaky_report(5)).unwrap();
    v["schema_version"] = (SCHEMA_VERSION + 1).into();
    fs::write(&future, v.to_string()).unwrap();
    let err = read_summary(&future).unwrap_err();
    let want = format!(
        "future.json has schema_version {}, expected {SCHEMA_VERSION}",
        SCHEMA_VERSION + 1
    );
    assert!(err.to_string().contains(&want), "{err}");

    let wrong_field = dir.path().join("wrong.json");
    let mut v = serde_json::to_value(common::leaky_report(5)).unwrap();
    v["verdict"] = "maybe".into();
    fs::write(&wrong_field, v.to_string()).unwrap();
    let err = read_summary(&wrong_field).unwrap_err();
    assert!(err.to_string().contains("wrong.json"), "{err}");
    assert!(err.to_string().contains("maybe"), "{err}");
}

#[test]
fn nan_numbers_survive_a_json_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut report = common::leaky_report(20);
    report.metrics[0].peak = f64::NAN;
    report.metrics[0].points[3] = [3.0, f64::NAN];
    report.duration_s = f64::INFINITY;
    write_scenario(dir.path(), &report).unwrap();
    let back = read_summary(&dir.path().join("summary.json")).unwrap();
    assert!(back.metrics[0].peak.is_nan());
    assert!(back.metrics[0].points[3][1].is_nan());
    assert!(back.duration_s.is_nan(), "infinity is written as null");
    assert_eq!(back.metrics[0].points[4], report.metrics[0].points[4]);
}

/// Renders both formats and checks the PNG decodes at the right size.
fn renders(report: &ScenarioReport, what: &str) {
    let svg = render_svg(report).unwrap_or_else(|e| panic!("{what}: {e}"));
    check_xml(&svg);
    let png = render_png(report).unwrap_or_else(|e| panic!("{what}: {e}"));
    let (w, h, _) = decode_png(&png);
    assert_eq!((w, h), image_size(report), "{what}");
}

#[test]
fn degenerate_inputs_render_without_panic() {
    let base = common::leaky_report(500);
    let mut cases: Vec<(&str, ScenarioReport)> = Vec::new();

    let mut r = base.clone();
    r.metrics.clear();
    cases.push(("no metrics", r));

    let mut r = common::leaky_report(0);
    r.metrics.iter_mut().for_each(|m| m.peak = f64::NAN);
    cases.push(("0 points", r));

    cases.push(("1 point", common::leaky_report(1)));
    cases.push(("2 points", common::leaky_report(2)));

    let mut r = base.clone();
    r.metrics.iter_mut().for_each(|m| m.fit = None);
    cases.push(("no fit", r));

    let mut r = base.clone();
    for m in &mut r.metrics {
        for (i, p) in m.points.iter_mut().enumerate() {
            p[1] = 1e300 * (1.0 + i as f64);
        }
        m.peak = f64::MAX;
    }
    cases.push(("huge values", r));

    let mut r = base.clone();
    for m in &mut r.metrics {
        m.points[0] = [f64::NAN, 1.0];
        m.points[1] = [2.0, f64::INFINITY];
        m.points[2] = [f64::NEG_INFINITY, f64::NAN];
        m.points[3] = [-f64::MAX, f64::MAX];
    }
    cases.push(("non-finite and extreme points", r));

    let mut r = base.clone();
    for m in &mut r.metrics {
        m.points.iter_mut().for_each(|p| p[1] = 42.0);
        if let Some(f) = m.fit.as_mut() {
            f.slope = f64::INFINITY;
            f.slope_lo = f64::NAN;
        }
    }
    cases.push(("constant series, broken fit", r));

    let mut r = base.clone();
    r.sessions.push(SessionMarker {
        x: 1e9,
        label: "far away".into(),
    });
    r.sessions.push(SessionMarker {
        x: f64::NAN,
        label: String::new(),
    });
    for i in 0..30 {
        r.sessions.push(SessionMarker {
            x: 100.0 + i as f64,
            label: format!("crowded session {i} with a rather long label"),
        });
    }
    r.metrics[0].warmup_end_x = Some(1e12);
    r.metrics[1].warmup_end_x = Some(-5.0);
    cases.push(("sessions and warm-up out of range", r));

    let mut r = base.clone();
    r.scenario = "x".repeat(500);
    r.headline = "é ü 漢字 🦀 ".repeat(60);
    r.metrics[0].name = "n".repeat(300);
    r.metrics[0].budgets[0].limit = f64::NAN;
    r.metrics[0].unit = ValueUnit::Count;
    r.x_unit = XUnit::Second;
    cases.push(("long and unusual text, NaN budget", r));

    let mut r = base.clone();
    r.metrics = (0..12)
        .map(|i| common::metric(&format!("m{i}"), 50, 1e6, 10.0, 1e3, 5, i + 1))
        .collect();
    cases.push(("many panels", r));

    let mut r = base.clone();
    r.metrics = (0..1000)
        .map(|i| common::metric(&format!("m{i}"), 3, 1e6, 10.0, 1e3, 0, i + 1))
        .collect();
    assert_eq!(image_size(&r), (1280, 96 + 360 * 24), "capped at 24 panels");
    cases.push(("1000 metrics", r));

    let retained = common::retained_report();
    let mut r = retained.clone();
    r.metrics[0].checkpoints.truncate(1);
    r.metrics[0].budgets[0].outcome = Outcome::Fail;
    cases.push(("one checkpoint, retained failed", r));

    let mut r = retained.clone();
    r.metrics[0].checkpoints[0].level = f64::NAN;
    r.metrics[0].checkpoints[1].x = f64::INFINITY;
    cases.push(("non-finite checkpoints", r));

    let mut r = retained.clone();
    let c = &mut r.metrics[0].budgets[0];
    (c.estimate, c.lo, c.hi, c.limit) = (f64::NAN, f64::NAN, f64::NAN, 1e300);
    c.outcome = Outcome::Undecided;
    r.metrics[0].checkpoints[1].level = -1e300;
    r.metrics[0].fit = None;
    cases.push(("NaN retained, far-away levels and budget", r));

    let mut r = retained.clone();
    r.metrics[0].checkpoints = (0..500)
        .map(|i| CheckpointLevel {
            x: i as f64 * 0.4,
            level: 20.0 * MIB + i as f64 * 1024.0,
            readings: 1 + i % 3,
            kind: LevelKind::SessionStart,
            label: None,
        })
        .collect();
    cases.push(("many session starts", r));

    for (what, report) in &cases {
        renders(report, what);
    }
}

#[test]
fn long_runs_are_decimated_to_the_pixel_columns() {
    // 100k samples with one spike: the polyline shrinks to a few points per
    // pixel column and the spike survives.
    let mut report = common::leaky_report(100_000);
    report.metrics.truncate(1);
    let m = &mut report.metrics[0];
    m.points[54_321][1] = 500.0 * MIB;
    m.peak = 500.0 * MIB;
    let svg = render_svg(&report).unwrap();
    let series: Vec<&str> = svg
        .split("<polyline")
        .skip(1)
        .filter(|p| p.contains("stroke=\"#1F77B4\""))
        .map(|p| {
            let pts = &p[p.find("points=\"").unwrap() + 8..];
            &pts[..pts.find('"').unwrap()]
        })
        .filter(|pts| pts.split_whitespace().count() > 2)
        .collect();
    assert_eq!(series.len(), 1);
    let n = series[0].split_whitespace().count();
    assert!(n <= 4 * 1280 && n > 1000, "{n} points drawn");
    // The spike is the smallest y pixel in the series.
    let min_y = series[0]
        .split_whitespace()
        .map(|p| p.split(',').nth(1).unwrap().parse::<i32>().unwrap())
        .min()
        .unwrap();
    assert!(min_y < 200, "spike drawn near the top, got y = {min_y}");
    assert!(svg.contains("(100000 samples)"));
}

#[test]
fn rendering_is_deterministic() {
    let report = common::leaky_report(300);
    assert_eq!(render_svg(&report).unwrap(), render_svg(&report).unwrap());
    assert_eq!(render_png(&report).unwrap(), render_png(&report).unwrap());
}

#[test]
fn junit_case_names_stay_stable_when_estimates_change() {
    let names = |n: usize| -> Vec<String> {
        let entries = [GateEntry {
            rel_dir: "x".into(),
            report: common::leaky_report(n),
        }];
        let xml = junit_xml(&entries);
        check_xml(&xml);
        xml.split("name=\"")
            .skip(3) // the two suite names and the run case come first
            .map(|s| s.split('"').next().unwrap().to_string())
            .collect()
    };
    let (short, long) = (names(120), names(500));
    assert_eq!(short, long, "a new estimate must not make a new test");
    assert!(long.iter().all(|n| !n.contains("estimate")), "{long:?}");
    let xml = junit_xml(&[GateEntry {
        rel_dir: "x".into(),
        report: common::leaky_report(500),
    }]);
    assert!(
        xml.contains("<system-out>estimate "),
        "the estimate moved to system-out: {xml}"
    );
}

/// The bug: the table rounded a look's confidence to whole percent, so a fit the check
/// line called "99.93% CI" appeared in the same summary as "100% CI".
#[test]
fn summary_table_confidence_matches_the_check_line_not_rounded_to_100_percent() {
    let mut report = common::leaky_report(500);
    report.metrics[0].fit.as_mut().unwrap().confidence = 0.9993;
    let md = scenario_markdown(&report);
    assert!(md.contains("| 99.93% CI: "), "{md}");
    assert!(!md.contains("100% CI"), "{md}");
}

/// A failing scenario's allocation sites: a table in its summary, the top one in the
/// gate's summary, and the same table in index.html.
#[test]
fn where_it_grows_is_in_every_summary_of_a_failing_scenario() {
    let mut report = common::leaky_report(500);
    report.attribution = Some(leakcheck_report::Attribution {
        method: "dhat".into(),
        passes: Vec::new(),
        per: "iteration".into(),
        metric: Some("alloc.allocated".into()),
        measured: Some(2048.0),
        sites: vec![leakcheck_report::AttributionSite {
            location: "workloads/volume-loader/src/image.rs:488".into(),
            function: "read_padded".into(),
            bytes_per_iter: 1536.0,
            share: 0.75,
            stack: vec!["workloads/volume-loader/src/image.rs:488 in read_padded".into()],
        }],
        unavailable: None,
    });
    let md = scenario_markdown(&report);
    assert!(md.contains("## Where it grows"), "{md}");
    assert!(
        md.contains(
            "| 1 | `workloads/volume-loader/src/image.rs:488` | read\\_padded | +1.5 KiB/iter | 75% |"
        ),
        "{md}"
    );
    assert!(
        md.contains(
            "the top 1 site adds +1.5 KiB/iter, 75% of alloc.allocated's measured +2 KiB/iter"
        ),
        "{md}"
    );
    let entries = [GateEntry {
        rel_dir: "loader-loop".into(),
        report,
    }];
    let gate = gate_markdown(&entries);
    assert!(
        gate.contains("Where the failing scenarios grow:\n\n- loader-loop (leaky): workloads/volume-loader/src/image.rs:488 (read\\_padded) +1.5 KiB/iter, 75%"),
        "{gate}"
    );
    let html = leakcheck_report::index_html(&entries);
    assert!(html.contains("<h3>Where it grows</h3>"), "{html}");
    assert!(
        html.contains("<code>workloads/volume-loader/src/image.rs:488</code>"),
        "{html}"
    );
}

/// Where the legend column starts (the images are 1280 px wide, the legend 300 px): a
/// line left of it is in a plot, not a legend swatch.
const LEGEND_LEFT: f64 = 980.0;

/// The text of every `<text>` element, in drawing order, one space between them (a legend
/// entry wrapped over two lines reads as one).
fn svg_text(svg: &str) -> String {
    svg.split("<text")
        .skip(1)
        .map(|t| {
            let body = &t[t.find('>').unwrap() + 1..];
            body[..body.find("</text>").unwrap()].trim().to_string()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The points of every `<polyline>` stroked in `colour`, in pixels.
fn polylines(svg: &str, colour: &str) -> Vec<Vec<(f64, f64)>> {
    svg.split("<polyline")
        .skip(1)
        .map(|p| &p[..p.find("/>").unwrap()])
        .filter(|p| p.contains(&format!("stroke=\"{colour}\"")))
        .map(|p| {
            let pts = &p[p.find("points=\"").unwrap() + 8..];
            pts[..pts.find('"').unwrap()]
                .split_whitespace()
                .map(|xy| {
                    let (x, y) = xy.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        })
        .collect()
}

/// Issue "A plot that contradicts its verdict": the fixed retrain's plot drew a slope fit
/// with its band across a step function, while what was judged was the memory retained
/// between checkpoints. The plot must show the checkpoints, the retained estimate with its
/// interval and the retained budget, and no slope fit when no slope was judged.
#[test]
fn regression_a_plot_that_contradicts_its_verdict_draws_the_checkpoints_judged() {
    let report = common::retained_report();
    let svg = render_svg(&report).unwrap();
    check_xml(&svg);
    let text = svg_text(&svg);
    // What was judged: the checkpoints, and the retained interval against the budget.
    assert!(
        text.contains("2 checkpoints, median of 5 readings each"),
        "checkpoints in the legend: {text}"
    );
    assert!(
        text.contains("retained 6.87 MiB (99% CI 6.86–6.88 MiB) ≤ budget 16 MiB: ok"),
        "retained interval in the legend: {text}"
    );
    assert!(
        text.contains("retained budget 16 MiB over the first checkpoint (pass)"),
        "retained budget line in the legend: {text}"
    );
    // The checkpoints are drawn as markers (and one legend swatch).
    let markers = svg
        .split("<polygon")
        .skip(1)
        .filter(|p| p.contains("fill=\"#00796B\"") && p.contains("opacity=\"1\""))
        .count();
    assert_eq!(
        markers,
        2 + 1,
        "one marker per checkpoint, plus the legend's"
    );
    // The retained budget is a horizontal line in the plot (the other is the legend's).
    let budget: Vec<_> = polylines(&svg, "#C81E1E")
        .into_iter()
        .filter(|l| l[0].0 < LEGEND_LEFT)
        .collect();
    assert_eq!(budget.len(), 1, "{budget:?}");
    assert!(
        budget[0].iter().all(|p| p.1 == budget[0][0].1),
        "horizontal"
    );
    // Not what was judged: no slope fit, no slope band, no rate anywhere.
    assert!(polylines(&svg, "#E66100").is_empty(), "a fit line is drawn");
    assert!(!text.contains("fit "), "fit in the legend: {text}");
    assert!(!text.contains("/iter"), "a slope in the legend: {text}");
}

/// Slope budget lines are drawn inside the plotting area, and long enough to read their
/// slope against the data: a budget far steeper than flat data, and one that starts at
/// the top of falling data, used to leave the chart at once.
#[test]
fn slope_budget_lines_stay_inside_the_plotting_area_and_readable() {
    let flat = {
        let mut m = common::metric("rss.tree", 300, 64.0 * MIB, 0.0, 0.2 * MIB, 20, 5);
        let b = common::slope_budget(&m, 64.0 * 1024.0, "64 KiB/iter");
        m.budgets.push(b);
        m
    };
    let falling = {
        let mut m = common::metric(
            "rss.tree",
            300,
            64.0 * MIB,
            -8.0 * 1024.0,
            0.05 * MIB,
            20,
            9,
        );
        let b = common::slope_budget(&m, 16.0 * 1024.0, "16 KiB/iter");
        m.budgets.push(b);
        m
    };
    for (what, metric) in [("flat", flat), ("falling", falling)] {
        let mut report = common::crashed_report();
        report.metrics = vec![metric];
        report.sessions = vec![
            SessionMarker {
                x: 0.0,
                label: String::new(),
            },
            SessionMarker {
                x: 150.0,
                label: String::new(),
            },
        ];
        let svg = render_svg(&report).unwrap();
        // The plotting area: the session boundaries span its height, the samples its width.
        let sessions = polylines(&svg, "#5A5A5A");
        let (top, bottom) = (
            sessions[0][0].1.min(sessions[0][1].1),
            sessions[0][0].1.max(sessions[0][1].1),
        );
        let data = polylines(&svg, "#1F77B4")
            .into_iter()
            .max_by_key(|l| l.len())
            .unwrap();
        let left = data.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let right = data.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        let budget: Vec<_> = polylines(&svg, "#C81E1E")
            .into_iter()
            .filter(|l| l[0].0 < LEGEND_LEFT)
            .collect();
        assert_eq!(
            budget.len(),
            1,
            "{what}: one slope budget line drawn: {budget:?}"
        );
        for &(x, y) in &budget[0] {
            assert!(
                (left - 1.0..=right + 1.0).contains(&x) && (top - 1.0..=bottom + 1.0).contains(&y),
                "{what}: budget point ({x}, {y}) outside the plotting area x {left}..{right}, y {top}..{bottom}"
            );
        }
        let (a, b) = (budget[0][0], budget[0][budget[0].len() - 1]);
        let length = (b.0 - a.0).hypot(b.1 - a.1);
        assert!(
            length >= 60.0,
            "{what}: budget line only {length:.0} px long"
        );
        // The data keeps most of the height: the budget line does not squash it.
        let (data_top, data_bottom) = data
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(t, b), p| {
                (t.min(p.1), b.max(p.1))
            });
        assert!(
            data_bottom - data_top >= 0.6 * (bottom - top),
            "{what}: the data spans only {:.0} of {:.0} px",
            data_bottom - data_top,
            bottom - top
        );
    }
}
