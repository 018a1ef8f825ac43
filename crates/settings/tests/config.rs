//! `leakcheck.toml` parsing: a full good file, and every error kind with its file,
//! line, dotted key and value in the message.

use std::path::Path;
use std::time::Duration;

use leakcheck_settings::{Config, ConfigError};

const FILE: &str = "/repo/leakcheck.toml";

const GOOD: &str = r#"
[defaults]
timeout = "120s"
no_progress_timeout = "30s"
rss_interval = "50ms"
gpu_interval = "1s"
confidence = 0.99
warmup = "auto"

[scenarios.loader-loop]
description = "the loader"
command = ["target/release/loader-loop", "--seed", "7"]
build = ["cargo", "build", "--release", "-p", "loader-loop"]
iterations = 500
iterations_arg = "--iterations"
ceiling = "2 GiB"
default_variant = "fixed"
env = { RUST_LOG = "warn" }

[scenarios.loader-loop.variants]
fixed = ["--variant", "fixed"]
leaky = ["--variant", "leaky"]

[scenarios.loader-loop.budgets]
"alloc.allocated" = { slope = "16 KiB/iter", growth = "8 MiB" }
rss = { slope = "64 KiB/iter", peak = "1 GiB" }

[scenarios.any]
command = ["python3", "train.py"]
timeout = "2min"
no_progress_timeout = "off"
warmup = "10%"
pss = true
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_str(text, Path::new(FILE))
}

fn error(text: &str) -> String {
    let err = parse(text).expect_err("config should be rejected");
    err.to_string()
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "message {message:?} should mention {part:?}"
        );
    }
}

#[test]
fn a_full_config_parses_with_defaults_applied() {
    let config = parse(GOOD).unwrap();
    assert_eq!(config.defaults.timeout, Duration::from_secs(120));
    assert_eq!(config.scenarios.len(), 2);

    let s = config.scenario("loader-loop").unwrap();
    assert_eq!(s.description.as_deref(), Some("the loader"));
    assert_eq!(s.iterations, Some(500));
    assert_eq!(s.settings.ceiling, Some(2 << 30));
    assert_eq!(s.settings.timeout, Duration::from_secs(120));
    assert_eq!(s.settings.no_progress_timeout, Duration::from_secs(30));
    assert_eq!(s.settings.rss_interval, Duration::from_millis(50));
    assert_eq!(s.settings.gpu_interval, Duration::from_secs(1));
    assert_eq!(s.settings.confidence, 0.99);
    assert_eq!(s.env.get("RUST_LOG").map(String::as_str), Some("warn"));
    assert_eq!(s.variants["leaky"], ["--variant", "leaky"]);
    let keys: Vec<(&str, &str)> = s
        .budgets
        .iter()
        .map(|b| (b.metric.as_str(), b.key.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            (
                "alloc.allocated",
                "scenarios.loader-loop.budgets.\"alloc.allocated\".slope"
            ),
            (
                "alloc.allocated",
                "scenarios.loader-loop.budgets.\"alloc.allocated\".growth"
            ),
            ("rss", "scenarios.loader-loop.budgets.rss.slope"),
            ("rss", "scenarios.loader-loop.budgets.rss.peak"),
        ]
    );

    // argv: program resolved against the config's directory, default variant, iterations.
    let file = Path::new(FILE);
    assert_eq!(
        s.argv(file, None, None).unwrap(),
        [
            "/repo/target/release/loader-loop",
            "--seed",
            "7",
            "--variant",
            "fixed",
            "--iterations",
            "500"
        ]
    );
    assert_eq!(
        s.argv(file, Some("leaky"), Some(20)).unwrap()[3..],
        ["--variant", "leaky", "--iterations", "20"]
    );
    let spec = s
        .run_spec(file, Some("leaky"), None, Path::new("/out"))
        .unwrap();
    assert_eq!(spec.no_progress_timeout, Some(Duration::from_secs(30)));
    assert_eq!(spec.ceiling, Some(2 << 30));
    assert_eq!(spec.cwd.as_deref(), Some(Path::new("/repo")));
    assert_eq!(spec.env, [("RUST_LOG".to_owned(), "warn".to_owned())]);
    assert_eq!(
        s.build_argv().unwrap(),
        ["cargo", "build", "--release", "-p", "loader-loop"]
    );

    let any = config.scenario("any").unwrap();
    assert_eq!(any.settings.timeout, Duration::from_secs(120));
    assert_eq!(any.settings.no_progress_timeout, Duration::ZERO);
    assert!(any.settings.pss);
    let spec = any.run_spec(file, None, None, Path::new("/out")).unwrap();
    assert_eq!(
        spec.no_progress_timeout, None,
        "\"off\" disables hang detection"
    );
    assert_eq!(
        spec.argv,
        ["python3", "train.py"],
        "PATH programs stay as written"
    );
}

#[test]
fn toml_syntax_errors_name_file_line_and_column() {
    let msg = error("[scenarios.a]\ncommand = [\"x\"\nfoo = 1\n");
    assert_mentions(&msg, &[FILE, "invalid TOML"]);
    assert!(
        msg.starts_with(&format!("{FILE}:2:")) || msg.starts_with(&format!("{FILE}:3:")),
        "{msg}"
    );
}

#[test]
fn unknown_keys_are_reported_with_their_dotted_path_and_the_accepted_keys() {
    let msg = error("[defaults]\ntimeout = \"1s\"\ntimeuot = \"2s\"\n");
    assert_mentions(
        &msg,
        &[
            &format!("{FILE}:3:1"),
            "`defaults.timeuot`",
            "timeout, no_progress_timeout",
        ],
    );

    let msg = error("[scenario.a]\ncommand = [\"x\"]\n");
    assert_mentions(&msg, &["`scenario`", "defaults, scenarios"]);

    let msg = error(
        "[scenarios.loader-loop]\ncommand = [\"x\"]\n[scenarios.loader-loop.budgets]\nrss = { slop = \"1 MiB/iter\" }\n",
    );
    assert_mentions(
        &msg,
        &[
            &format!("{FILE}:4:9"),
            "`scenarios.loader-loop.budgets.rss.slop`",
            "slope, growth, peak, retained",
        ],
    );

    let msg = error("[scenarios.a]\ncommand = [\"x\"]\niteratons = 5\n");
    assert_mentions(&msg, &["`scenarios.a.iteratons`", "iterations_arg"]);
}

#[test]
fn unknown_metrics_list_the_known_ones() {
    let msg = error(
        "[scenarios.a]\ncommand = [\"x\"]\nbudgets = { \"rss.treee\" = { peak = \"1 GiB\" } }\n",
    );
    assert_mentions(
        &msg,
        &[
            FILE,
            "\"rss.treee\"",
            "scenarios.a.budgets.\"rss.treee\"",
            "rss, rss.tree, pss.tree, alloc.allocated",
            "gpu.device",
        ],
    );
}

#[test]
fn bad_units_quote_the_value_and_list_the_units() {
    let msg = error("[scenarios.a]\ncommand = [\"x\"]\ntimeout = \"30 parsecs\"\n");
    assert_mentions(
        &msg,
        &[
            &format!("{FILE}:3:11"),
            "`scenarios.a.timeout`",
            "\"30 parsecs\"",
            "ms, s, min, h",
        ],
    );

    let msg = error("[defaults]\nrss_interval = 50\n");
    assert_mentions(
        &msg,
        &["`defaults.rss_interval`", "50", "a duration with a unit"],
    );

    let msg = error("[scenarios.a]\ncommand = [\"x\"]\nceiling = \"2 gigs\"\n");
    assert_mentions(&msg, &["`scenarios.a.ceiling`", "\"2 gigs\"", "GiB"]);

    let msg = error("[defaults]\nconfidence = 1.5\n");
    assert_mentions(&msg, &["`defaults.confidence`", "1.5", "between 0 and 1"]);

    let msg = error("[defaults]\nwarmup = \"sometimes\"\n");
    assert_mentions(&msg, &["`defaults.warmup`", "\"sometimes\"", "\"auto\""]);

    let msg = error("[scenarios.a]\ncommand = [\"x\"]\niterations = -5\n");
    assert_mentions(&msg, &["`scenarios.a.iterations`", "-5", "above zero"]);
}

#[test]
fn bad_budget_values_name_the_key_and_the_value() {
    let msg = error(
        "[scenarios.a]\ncommand = [\"x\"]\n[scenarios.a.budgets]\nrss = { slope = \"lots\" }\n",
    );
    assert_mentions(
        &msg,
        &[
            &format!("{FILE}:4:17"),
            "`scenarios.a.budgets.rss.slope`",
            "\"lots\"",
        ],
    );
}

#[test]
fn a_missing_or_empty_command_is_an_error() {
    let msg = error("[scenarios.a]\niterations = 5\n");
    assert_mentions(&msg, &[FILE, "missing key `scenarios.a.command`"]);

    let msg = error("[scenarios.a]\ncommand = []\n");
    assert_mentions(
        &msg,
        &["`scenarios.a.command`", "a program and its arguments"],
    );

    let msg = error("[scenarios.a]\ncommand = \"python3 train.py\"\n");
    assert_mentions(
        &msg,
        &[
            "`scenarios.a.command`",
            "\"python3 train.py\"",
            "array of strings",
        ],
    );
}

#[test]
fn unknown_scenarios_and_variants_list_the_known_ones() {
    let config = parse(GOOD).unwrap();
    let err = config.scenario("loader-lop").unwrap_err();
    assert_mentions(
        &err.to_string(),
        &[FILE, "\"loader-lop\"", "loader-loop, any"],
    );

    let s = config.scenario("loader-loop").unwrap();
    let err = s.argv(Path::new(FILE), Some("leakier"), None).unwrap_err();
    assert_mentions(&err.to_string(), &["\"leakier\"", "fixed, leaky"]);

    let any = config.scenario("any").unwrap();
    let err = any.argv(Path::new(FILE), None, Some(10)).unwrap_err();
    assert_mentions(&err.to_string(), &["\"any\"", "iterations_arg"]);

    let msg = error("[scenarios.a]\ncommand = [\"x\"]\ndefault_variant = \"fast\"\n");
    assert_mentions(&msg, &["\"fast\"", "(none)"]);
}

#[test]
fn scenario_names_must_be_plain_directory_names() {
    let msg = error("[scenarios.\"../escape\"]\ncommand = [\"x\"]\n");
    assert_mentions(
        &msg,
        &[&format!("{FILE}:1:12"), "\"../escape\"", "report directory"],
    );
}

#[test]
fn a_missing_file_names_the_path() {
    let err =
        leakcheck_settings::load_config(Path::new("/nonexistent/leakcheck.toml")).unwrap_err();
    assert_mentions(&err.to_string(), &["/nonexistent/leakcheck.toml"]);
}

#[test]
fn unquoted_dotted_metric_names_get_a_hint_to_quote_them() {
    let cfg = |budgets: &str| {
        format!("[scenarios.s]\ncommand = [\"true\"]\n[scenarios.s.budgets]\n{budgets}\n")
    };
    let err = Config::from_str(
        &cfg("rss.tree = { slope = \"1 MiB/s\" }"),
        Path::new("l.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("quote its name: \"rss.tree\""), "{err}");
    let err = Config::from_str(
        &cfg("alloc.allocated = { slope = \"1 MiB/s\" }"),
        Path::new("l.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("must be quoted in TOML: \"alloc.allocated\""),
        "{err}"
    );
    let err = Config::from_str("[scenarios.s]\ncommand = [\"\"]\n", Path::new("l.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("[\"\"]"), "the array is shown: {err}");
}

#[test]
fn a_duplicate_key_is_named() {
    let err = Config::from_str(
        "[scenarios.s]\ncommand = [\"true\"]\ncommand = [\"false\"]\n",
        Path::new("l.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("l.toml:3:1: invalid TOML: duplicate key `command`"),
        "{err}"
    );
}

#[test]
fn run_lengths_take_a_minimum_and_a_maximum() {
    let config = parse(
        r#"
[scenarios.a]
command = ["a"]
iterations = { min = 200, max = 4000 }
iterations_arg = "--iterations"

[scenarios.b]
command = ["b"]
duration = { min = "4s", max = "30s" }
"#,
    )
    .unwrap();
    let a = config.scenario("a").unwrap();
    assert_eq!((a.min_iterations, a.iterations), (Some(200), Some(4000)));
    let b = config.scenario("b").unwrap();
    assert_eq!(
        (b.min_duration, b.max_duration),
        (Some(Duration::from_secs(4)), Some(Duration::from_secs(30)))
    );
    let scenario = |body: &str| format!("[scenarios.a]\ncommand = [\"a\"]\n{body}\n");
    assert_mentions(
        &error(&scenario("iterations = { min = 400, max = 300 }")),
        &["scenarios.a.iterations.min", "400", "at most the max (300)"],
    );
    // The values named, not "a table" (regression of the weak-message list).
    let reversed = error(&scenario("duration = { min = \"5s\", max = \"1s\" }"));
    assert_mentions(
        &reversed,
        &["scenarios.a.duration.min", "5s", "at most the max (1s)"],
    );
    assert!(!reversed.contains("a table"), "{reversed}");
    assert_mentions(
        &error(&scenario("iterations = { min = 400 }")),
        &["missing key `scenarios.a.iterations.max`"],
    );
    assert_mentions(
        &error(&scenario("duration = { max = \"0s\" }")),
        &["scenarios.a.duration.max", "above zero"],
    );
    assert_mentions(
        &error(&scenario("iterations = { least = 4 }")),
        &["unknown key `scenarios.a.iterations.least`", "min, max"],
    );
}
