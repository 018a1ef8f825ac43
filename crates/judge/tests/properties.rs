//! Properties of what the judge reads from outside, as proptests in the normal suite
//! (the cargo-fuzz targets `judging_file` and `samples_reader` push the same further):
//! a `judging.json` the validator accepts judges any run without panicking, and one it
//! refuses is an error (the CLI's exit 2, `tests/trust.rs`); samples lines of any shape,
//! with the non-numbers Python writes, judge without panicking by every kind of budget.

use std::path::Path;

use leakcheck_judge::{Judging, JudgingError, RunFacts, judge};
use leakcheck_records::{ALL_METRICS, Timeline, read_run_from};
use proptest::prelude::*;

/// A small marking run with outside samples around the marks.
fn timeline(marks: u64) -> Timeline {
    let mut text = String::new();
    for i in 0..marks {
        text.push_str(&format!(
            "{{\"type\":\"mark\",\"iteration\":{i},\"t_s\":{},\"rss\":{}}}\n{{\"type\":\"tree\",\"t_s\":{},\"rss\":1,\"rss_tree\":{},\"pids\":1}}\n",
            0.1 + i as f64 * 0.01,
            (1u64 << 20) + i * 4096,
            0.095 + i as f64 * 0.02,
            (2u64 << 20) + i * 8192
        ));
    }
    read_run_from(text.as_bytes(), Path::new("t.jsonl"))
        .map_or_else(|_| Timeline::default(), |r| r.timeline)
}

fn facts(timeline: &Timeline) -> RunFacts<'_> {
    RunFacts {
        timeline,
        termination: None,
        reason: None,
        wall_s: 1.0,
        samples_file: String::new(),
    }
}

/// A JSON number, as a text: ordinary, edge and absurd.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (-1e6f64..1e7).prop_map(|v| v.to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("1e308".to_string()),
        Just("0.5".to_string()),
        Just("0.99".to_string()),
        Just("7".to_string()),
        Just("\"x\"".to_string()),
        Just("null".to_string()),
    ]
}

fn metric() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(ALL_METRICS.to_vec()).prop_map(str::to_string),
        Just("foo.bar".to_string()),
        Just("rss.swap".to_string()),
        Just(String::new()),
    ]
}

/// One budget: a kind with a rate or a size, sometimes mismatched.
fn budget() -> impl Strategy<Value = String> {
    (
        metric(),
        proptest::sample::select(vec!["slope", "growth", "peak", "retained", "sideways"]),
        any::<bool>(),
        number(),
        proptest::sample::select(vec!["iteration", "second"]),
        proptest::sample::select(vec!["", ",\"unit\":\"count\"", ",\"unit\":\"bytes\""]),
    )
        .prop_map(|(metric, kind, rate, amount, per, unit)| {
            let limit = if rate {
                format!("{{\"rate\":{{\"bytes\":{amount},\"per\":\"{per}\"}}}}")
            } else {
                format!("{{\"bytes\":{amount}}}")
            };
            format!(
                "{{\"metric\":\"{metric}\",\"budget\":{{\"kind\":\"{kind}\",\"limit\":{limit}{unit}}},\"key\":\"k\"}}"
            )
        })
}

fn judging_text() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(budget(), 0..4),
        number(),
        prop_oneof![
            Just("\"auto\"".to_string()),
            number().prop_map(|n| format!("{{\"count\":{n}}}")),
            number().prop_map(|n| format!("{{\"fraction\":{n}}}")),
            number().prop_map(|n| format!("{{\"until_x\":{n}}}")),
        ],
        proptest::option::of((number(), number(), number(), any::<bool>())),
        proptest::sample::select(vec!["1", "2", "0", "3"]),
    )
        .prop_map(|(budgets, confidence, warmup, plan, version)| {
            let plan = plan.map_or(String::new(), |(min, max, conf, time)| {
                let unit = if time { "second" } else { "iteration" };
                format!(
                    ",\"plan\":{{\"unit\":\"{unit}\",\"min\":{min},\"max\":{max},\"confidence\":{conf}}}"
                )
            });
            format!(
                "{{\"version\":{version},\"scenario\":\"s\",\"variant\":null,\"argv\":[],\"iterations\":null,\"budgets\":[{}],\"warmup\":{warmup},\"confidence\":{confidence},\"ceiling\":null{plan}}}",
                budgets.join(",")
            )
        })
}

/// Samples lines: marks and tree samples with odd numbers, Python's bare non-numbers,
/// sessions, checkpoints and garbage.
fn samples_text() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        (0u64..1 << 40).prop_map(|v| v.to_string()),
        Just("NaN".to_string()),
        Just("-Infinity".to_string()),
        Just("1e300".to_string()),
        Just("-5".to_string()),
    ];
    let line = prop_oneof![
        (0u64..400, 0.0f64..30.0, value.clone(), value.clone()).prop_map(|(i, t, rss, stat)| {
            format!(
                "{{\"type\":\"mark\",\"iteration\":{i},\"t_s\":{t},\"rss\":{rss},\"stats\":{{\"py.blocks\":{stat}}}}}"
            )
        }),
        (0.0f64..30.0, value.clone(), 0u32..20).prop_map(|(t, v, pids)| {
            format!("{{\"type\":\"tree\",\"t_s\":{t},\"rss\":1,\"rss_tree\":{v},\"pss_tree\":{v},\"pids\":{pids}}}")
        }),
        (0u64..5, 0.0f64..30.0, value.clone()).prop_map(|(id, t, v)| {
            format!("{{\"type\":\"checkpoint\",\"id\":{id},\"label\":\"c\",\"t_s\":{t},\"rss\":{v}}}")
        }),
        (0u64..5, 0.0f64..30.0).prop_map(|(id, t)| {
            format!("{{\"type\":\"session\",\"event\":\"start\",\"id\":{id},\"label\":\"s\",\"t_s\":{t}}}")
        }),
        "\\PC{0,30}",
    ];
    proptest::collection::vec(line, 0..120).prop_map(|lines| lines.join("\n"))
}

/// A judging with a budget of every kind on every metric, with and without a plan.
fn every_budget(plan: bool) -> Judging {
    let mut text = String::from(
        "{\"scenario\":\"s\",\"variant\":null,\"argv\":[],\"iterations\":null,\"warmup\":\"auto\",\"confidence\":0.99,\"ceiling\":1048576,\"budgets\":[",
    );
    let mut budgets = Vec::new();
    for m in ALL_METRICS {
        let unit = if leakcheck_records::unit_of(m) == leakcheck_vocab::ValueUnit::Count {
            ",\"unit\":\"count\""
        } else {
            ""
        };
        budgets.push(format!("{{\"metric\":\"{m}\",\"budget\":{{\"kind\":\"slope\",\"limit\":{{\"rate\":{{\"bytes\":4096,\"per\":\"iteration\"}}}}{unit}}},\"key\":\"k\"}}"));
        for kind in ["growth", "peak", "retained"] {
            budgets.push(format!("{{\"metric\":\"{m}\",\"budget\":{{\"kind\":\"{kind}\",\"limit\":{{\"bytes\":1048576}}{unit}}},\"key\":\"k\"}}"));
        }
    }
    text.push_str(&budgets.join(","));
    text.push(']');
    if plan {
        text.push_str(
            ",\"plan\":{\"unit\":\"iteration\",\"min\":50,\"max\":300,\"confidence\":0.99}",
        );
    }
    text.push('}');
    Judging::parse(&text, Path::new("every.json")).expect("a valid judging")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn an_accepted_judging_file_judges_without_panicking(text in judging_text(), marks in 0u64..80) {
        match Judging::parse(&text, Path::new("judging.json")) {
            Ok(judging) => {
                let timeline = timeline(marks);
                let _ = judge(&judging, &facts(&timeline));
            }
            Err(e) => {
                let refused = matches!(
                    e,
                    JudgingError::Parse { .. } | JudgingError::Invalid { .. } | JudgingError::NewerVersion { .. }
                );
                prop_assert!(refused, "{}", e);
            }
        }
    }

    #[test]
    fn any_samples_judge_without_panicking(text in samples_text(), plan in any::<bool>()) {
        if let Ok(run) = read_run_from(text.as_bytes(), Path::new("p.jsonl")) {
            let _ = judge(&every_budget(plan), &facts(&run.timeline));
        }
    }
}

#[test]
fn the_validator_refuses_what_the_config_would() {
    let base = "{\"scenario\":\"s\",\"variant\":null,\"argv\":[],\"iterations\":null,\"warmup\":\"auto\",\"ceiling\":null";
    for (bad, field) in [
        (
            "\"confidence\":0.99,\"budgets\":[{\"metric\":\"foo.bar\",\"budget\":{\"kind\":\"peak\",\"limit\":{\"bytes\":1}},\"key\":\"k\"}]",
            "metric",
        ),
        (
            "\"confidence\":0.99,\"budgets\":[{\"metric\":\"rss\",\"budget\":{\"kind\":\"slope\",\"limit\":{\"bytes\":1}},\"key\":\"k\"}]",
            "limit",
        ),
        (
            "\"confidence\":0.99,\"budgets\":[{\"metric\":\"py.blocks\",\"budget\":{\"kind\":\"peak\",\"limit\":{\"bytes\":1}},\"key\":\"k\"}]",
            "unit",
        ),
        ("\"confidence\":7,\"budgets\":[]", "confidence"),
        (
            "\"confidence\":0.99,\"budgets\":[],\"plan\":{\"unit\":\"iteration\",\"min\":1000,\"max\":10,\"confidence\":0.99}",
            "plan.min",
        ),
    ] {
        let text = format!("{base},{bad}}}");
        let e = Judging::parse(&text, Path::new("j.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(field), "{field}: {e}");
    }
}
