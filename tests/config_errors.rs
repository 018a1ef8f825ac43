//! End-to-end: every config mistake exits 2 and names the file, the key and the value.

mod util;

use leakcheck_vocab::exit_code;
use util::{leakcheck, temp_config};

fn assert_config_error(toml: &str, args: &[&str], expected: &[&str]) {
    let dir = temp_config(toml);
    let out = leakcheck(dir.path(), args);
    out.assert_exit_code(exit_code::USAGE);
    let text = out.all_output();
    assert!(
        text.contains("leakcheck.toml"),
        "the file is not named:\n{text}"
    );
    for needle in expected {
        assert!(text.contains(needle), "`{needle}` is not in:\n{text}");
    }
}

const GOOD: &str = "[scenarios.demo]\ncommand = [\"true\"]\n";

#[test]
fn toml_syntax_error() {
    assert_config_error(
        "[scenarios.demo\ncommand = [\"true\"]\n",
        &["gate"],
        &["leakcheck.toml:1:", "invalid TOML"],
    );
}

#[test]
fn unknown_key_is_named_with_its_dotted_path() {
    assert_config_error(
        "[scenarios.demo]\ncommand = [\"true\"]\ntimout = \"5s\"\n",
        &["gate"],
        &["scenarios.demo.timout"],
    );
}

#[test]
fn bad_unit_names_key_and_value() {
    assert_config_error(
        "[scenarios.demo]\ncommand = [\"true\"]\n[scenarios.demo.budgets]\nrss = { slope = \"4 KB/iteration\" }\n",
        &["gate"],
        &["scenarios.demo.budgets.rss.slope", "4 KB/iteration"],
    );
}

#[test]
fn missing_command() {
    assert_config_error(
        "[scenarios.demo]\niterations = 10\n",
        &["gate"],
        &["scenarios.demo", "command"],
    );
}

#[test]
fn unknown_scenario_lists_the_known_ones() {
    assert_config_error(GOOD, &["run", "nosuch"], &["nosuch", "demo"]);
}

#[test]
fn bad_budget_on_the_command_line_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = leakcheck(
        dir.path(),
        &["run", "--budget", "rss.slope=fast", "--", "true"],
    );
    out.assert_exit_code(exit_code::USAGE);
    assert!(out.all_output().contains("fast"), "{}", out.all_output());
}

#[test]
fn a_size_budget_on_a_count_metric_names_the_mix_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = leakcheck(
        dir.path(),
        &["run", "--budget", "py.blocks.growth=10MiB", "--", "true"],
    );
    out.assert_exit_code(exit_code::USAGE);
    let text = out.all_output();
    assert!(text.contains("\"MiB\" is a size unit"), "{text}");
    assert!(text.contains("10k"), "the accepted forms are named: {text}");
}

#[test]
fn an_attribution_table_without_its_length_flag_and_a_bad_attribute_are_named() {
    assert_config_error(
        "[scenarios.a]\ncommand = [\"true\"]\n[scenarios.a.attribution]\ncommand = [\"true\"]\n",
        &["list"],
        &["scenarios.a.attribution.length_arg", "--iterations"],
    );
    assert_config_error(
        "[defaults]\nattribute = \"sometimes\"\n[scenarios.a]\ncommand = [\"true\"]\n",
        &["list"],
        &["defaults.attribute", "sometimes", "on-failure"],
    );
    assert_config_error(
        "[scenarios.a]\ncommand = [\"true\"]\n[scenarios.a.attribution]\ncommand = [\"true\"]\nlength_arg = \"-n\"\nlengths = [120, 60]\n",
        &["list"],
        &["scenarios.a.attribution.lengths", "shorter first"],
    );
}

#[test]
fn a_bad_ratchet_names_its_key_value_and_the_forms() {
    assert_config_error(
        "[defaults]\nratchet = \"a lot\"\n[scenarios.demo]\ncommand = [\"true\"]\n",
        &["gate"],
        &["defaults.ratchet", "a lot", "25%"],
    );
    assert_config_error(
        "[scenarios.demo]\ncommand = [\"true\"]\n[scenarios.demo.budgets]\nrss = { slope = \"4 KiB/iter\", ratchet = \"-5%\" }\n",
        &["gate"],
        &["scenarios.demo.budgets.rss.ratchet", "-5%"],
    );
}
