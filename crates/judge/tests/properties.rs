//! Properties of what the judge reads from outside, as proptests in the normal suite
//! (the cargo-fuzz targets `judging_file` and `samples_reader` push the same further):
//! a `judging.json` the validator accepts judges any run without panicking, and one it
//! refuses is an error (the CLI's exit 2, `tests/trust.rs`); wire lines of any shape, with
//! the non-numbers Python writes, and samples files judge without panicking by every kind
//! of budget.

use std::path::Path;

use leakcheck_judge::{Judging, JudgingError, RunFacts, judge};
use leakcheck_probe::wire::{Decoder, Message};
use leakcheck_records::{
    ALL_METRICS, CheckpointRecord, MarkRecord, Record, SessionRecord, Timeline, read_run_from,
};
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
        Just("7".to_string()),
        Just("\"x\"".to_string()),
        Just("null".to_string()),
    ]
}

/// Mostly a valid value from `valid`, sometimes anything from `odd`: each file then has
/// about one fault or none, so both the accepted and the refused side get exercised.
fn mostly<S: Strategy<Value = String> + 'static>(
    valid: S,
    odd: impl Strategy<Value = String> + 'static,
) -> BoxedStrategy<String> {
    prop_oneof![12 => valid, 1 => odd].boxed()
}

fn metric() -> impl Strategy<Value = String> {
    mostly(
        proptest::sample::select(ALL_METRICS.to_vec()).prop_map(str::to_string),
        proptest::sample::select(vec!["foo.bar", "rss.swap", ""]).prop_map(str::to_string),
    )
}

/// One budget: a kind with its own quantity and unit, sometimes mismatched.
fn budget() -> impl Strategy<Value = String> {
    (
        metric(),
        mostly(
            proptest::sample::select(vec!["slope", "growth", "peak", "retained"])
                .prop_map(str::to_string),
            Just("sideways".to_string()),
        ),
        prop_oneof![12 => Just(false), 1 => Just(true)],
        mostly((0.0f64..1e9).prop_map(|v| v.to_string()), number()),
        proptest::sample::select(vec!["iteration", "second"]),
        prop_oneof![12 => Just(false), 1 => Just(true)],
    )
        .prop_map(|(metric, kind, swap_quantity, amount, per, wrong_unit)| {
            let rate = (kind == "slope") != swap_quantity;
            let limit = if rate {
                format!("{{\"rate\":{{\"bytes\":{amount},\"per\":\"{per}\"}}}}")
            } else {
                format!("{{\"bytes\":{amount}}}")
            };
            let counts = ALL_METRICS.contains(&metric.as_str())
                && leakcheck_records::unit_of(&metric) == leakcheck_vocab::ValueUnit::Count;
            let unit = if counts != wrong_unit { ",\"unit\":\"count\"" } else { "" };
            format!(
                "{{\"metric\":\"{metric}\",\"budget\":{{\"kind\":\"{kind}\",\"limit\":{limit}{unit}}},\"key\":\"k\"}}"
            )
        })
}

fn judging_text() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(budget(), 0..4),
        mostly((0.51f64..0.9999).prop_map(|v| v.to_string()), number()),
        mostly(
            prop_oneof![
                Just("\"auto\"".to_string()),
                (0u32..50).prop_map(|n| format!("{{\"count\":{n}}}")),
                (0.0f64..0.9).prop_map(|f| format!("{{\"fraction\":{f}}}")),
                (0.0f64..100.0).prop_map(|x| format!("{{\"until_x\":{x}}}")),
            ],
            number().prop_map(|n| format!("{{\"fraction\":{n}}}")),
        ),
        proptest::option::of((
            mostly((0u32..400).prop_map(|v| v.to_string()), number()),
            (1u32..400),
            mostly((0.51f64..0.9999).prop_map(|v| v.to_string()), number()),
            any::<bool>(),
        )),
        mostly(
            proptest::sample::select(vec!["1", "2"]).prop_map(str::to_string),
            proptest::sample::select(vec!["0", "3"]).prop_map(str::to_string),
        ),
    )
        .prop_map(|(budgets, confidence, warmup, plan, version)| {
            let plan = plan.map_or(String::new(), |(min, extra, conf, time)| {
                let unit = if time { "second" } else { "iteration" };
                // The maximum is the minimum plus some, when the minimum is a number.
                let max = min.parse::<f64>().map_or(extra as f64, |m| m.abs() + extra as f64);
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
    let header = "{\"type\":\"run\",\"format\":1,\"version\":\"x\",\"scenario\":\"s\",\"argv\":[],\"started_unix\":0,\"pid\":1,\"rss_interval_s\":0.05,\"gpu_interval_s\":1,\"timeout_s\":1}";
    proptest::collection::vec(line, 0..120)
        .prop_map(move |lines| format!("{header}\n{}", lines.join("\n")))
}

/// Wire lines as a program writes them: marks with odd numbers (Python's bare `NaN`,
/// `Infinity`), stats, sessions, checkpoints, and garbage.
fn wire_text() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        (0u64..1 << 40).prop_map(|v| v.to_string()),
        Just("NaN".to_string()),
        Just("Infinity".to_string()),
        Just("-Infinity".to_string()),
        Just("1e300".to_string()),
        Just("-5".to_string()),
        Just("\"NaN\"".to_string()),
    ];
    let line = prop_oneof![
        6 => (0u64..400, 0u64..30_000_000_000, value.clone(), value.clone()).prop_map(|(i, t, rss, stat)| {
            format!(
                "{{\"type\":\"mark\",\"iteration\":{i},\"t_ns\":{t},\"rss_bytes\":{rss},\"stats\":{{\"py.blocks\":{stat},\"loss\":{stat}}}}}"
            )
        }),
        1 => (0u64..5, 0u64..30_000_000_000, value.clone()).prop_map(|(id, t, v)| {
            format!("{{\"type\":\"checkpoint\",\"id\":{id},\"label\":\"c NaN\",\"t_ns\":{t},\"rss_bytes\":{v}}}")
        }),
        1 => (0u64..5, 0u64..30_000_000_000).prop_map(|(id, t)| {
            format!("{{\"type\":\"session\",\"event\":\"start\",\"id\":{id},\"label\":\"Infinity\",\"t_ns\":{t}}}")
        }),
        1 => "\\PC{0,30}",
    ];
    proptest::collection::vec(line, 0..150).prop_map(|lines| lines.join("\n") + "\n")
}

/// The records the runner makes of decoded messages (`Observation::wire`), on the run's clock.
fn records_of(messages: Vec<Message>) -> Timeline {
    let mut t = Timeline::default();
    for m in messages {
        let record = match m {
            Message::Mark {
                iteration,
                t_ns,
                measured,
            } => Record::Mark(MarkRecord {
                iteration,
                t_s: t_ns as f64 / 1e9,
                measured,
            }),
            Message::Checkpoint {
                id,
                label,
                t_ns,
                measured,
            } => Record::Checkpoint(CheckpointRecord {
                id,
                label,
                t_s: t_ns as f64 / 1e9,
                measured,
            }),
            Message::Session {
                event,
                id,
                label,
                t_ns,
            } => Record::Session(SessionRecord {
                event,
                id,
                label,
                t_s: t_ns as f64 / 1e9,
                iteration: t.last_iteration(),
            }),
            _ => continue,
        };
        t.apply(&record);
    }
    t
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
    // A memory limit: every growing byte metric is forecast too.
    text.push_str("],\"limit\":{\"bytes\":1073741824,\"source\":\"test\"}");
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
    fn any_wire_line_the_decoder_accepts_judges_without_panicking(text in wire_text(), plan in any::<bool>()) {
        let mut decoder = Decoder::new();
        let mut messages = Vec::new();
        decoder.feed(text.as_bytes(), &mut messages);
        decoder.finish(&mut messages);
        // Every line is either a message or a counted problem, never lost silently.
        let stats = decoder.stats();
        prop_assert_eq!(stats.decoded as usize, messages.len());
        prop_assert!(stats.decoded <= stats.lines);
        let timeline = records_of(messages);
        let _ = judge(&every_budget(plan), &facts(&timeline));
    }

    #[test]
    fn any_samples_judge_without_panicking(text in samples_text(), plan in any::<bool>()) {
        if let Ok(run) = read_run_from(text.as_bytes(), Path::new("p.jsonl")) {
            let _ = judge(&every_budget(plan), &facts(&run.timeline));
        }
    }
}

/// Every generated judging file either is refused with a judging error (the CLI's exit
/// 2) or judges runs of several lengths without panicking; and the generator exercises
/// both sides (a property over files that are all refused would prove nothing).
#[test]
fn an_accepted_judging_file_judges_without_panicking() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = judging_text();
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..400u64 {
        let text = strategy.new_tree(&mut runner).unwrap().current();
        match Judging::parse(&text, Path::new("judging.json")) {
            Ok(judging) => {
                accepted += 1;
                let timeline = timeline(case % 90);
                let _ = judge(&judging, &facts(&timeline));
            }
            Err(e) => {
                refused += 1;
                assert!(
                    matches!(
                        e,
                        JudgingError::Parse { .. }
                            | JudgingError::Invalid { .. }
                            | JudgingError::NewerVersion { .. }
                    ),
                    "{e}"
                );
            }
        }
    }
    eprintln!("accepted {accepted}, refused {refused}");
    assert!(
        accepted >= 100 && refused >= 40,
        "accepted {accepted}, refused {refused}"
    );
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

/// A baseline that parses but cannot be used names the scenario and key (a string for a
/// number, `lo > hi`, `confidence: 7`); before, a string named neither and the others
/// were accepted.
#[test]
fn a_bad_baseline_entry_is_named_by_its_key() {
    use leakcheck_judge::Baseline;
    let with = |slope: &str| {
        format!(
            "{{\"format\":\"leakcheck-baseline\",\"version\":1,\"scenarios\":{{\"a\":{{\"variant\":null,\"iterations\":80,\"x_unit\":\"iteration\",\"cores\":2,\"leakcheck_version\":\"0.1.0\",\"metrics\":{{\"rss\":{{\"unit\":\"bytes\",\"slope\":{slope}}}}}}}}}}}"
        )
    };
    for (slope, named) in [
        (
            r#"{"estimate":"x","lo":1,"hi":2,"confidence":0.99}"#,
            "scenarios.a.metrics.rss",
        ),
        (
            r#"{"estimate":1,"lo":3,"hi":2,"confidence":0.99}"#,
            "scenarios.a.metrics.rss.slope",
        ),
        (
            r#"{"estimate":1,"lo":1,"hi":2,"confidence":7}"#,
            "scenarios.a.metrics.rss.slope",
        ),
    ] {
        let e = Baseline::parse(&with(slope), Path::new("b.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("`{named}`")), "{e}");
    }
    let good = with(r#"{"estimate":1.5,"lo":1,"hi":2,"confidence":0.99}"#);
    assert!(Baseline::parse(&good, Path::new("b.json")).is_ok());
}
