//! `leakcheck run SCENARIO` and `leakcheck run -- COMMAND`.

use std::path::Path;
use std::time::Duration;

use leakcheck_judge::apply_budget_overrides;
use leakcheck_settings::{
    ScenarioConfig, Settings, load_config, parse_duration_flag, parse_size_flag,
};
use leakcheck_vocab::names;

use super::{LengthRequest, RunRequest, parse_budget_args, run_scenario};
use crate::cli::RunArgs;
use crate::error::{CliError, ExitStatus};
use crate::output::tell;

pub fn execute(
    args: RunArgs,
    judged: &mut Vec<leakcheck_report::GateEntry>,
) -> Result<ExitStatus, CliError> {
    let overrides = parse_budget_args(&args.budgets.budgets)?;
    let (mut scenario, config_path) = match (&args.scenario, args.command.is_empty()) {
        (Some(_), false) => {
            return Err(CliError::Usage(
                "give a scenario name or a command after `--`, not both".to_string(),
            ));
        }
        (None, true) => {
            return Err(CliError::Usage(
                "nothing to run: give a scenario name (see `leakcheck list`) or a command after `--`"
                    .to_string(),
            ));
        }
        (Some(name), true) => {
            let config = load_config(&args.config.config)?;
            (config.scenario(name)?.clone(), config.path.clone())
        }
        (None, false) => ad_hoc_scenario(&args)?,
    };

    if let Some(text) = &args.ceiling {
        scenario.settings.ceiling = Some(parse_size_flag("--ceiling", text)?);
    }
    if let Some(text) = &args.timeout {
        scenario.settings.timeout = parse_duration_flag("--timeout", text)?;
        if scenario.settings.timeout.is_zero() {
            return Err(CliError::Usage(format!(
                "invalid --timeout {text:?}: expected a duration above zero, e.g. \"90s\""
            )));
        }
    }
    if let Some(text) = &args.no_progress_timeout {
        scenario.settings.no_progress_timeout = parse_duration_flag("--no-progress-timeout", text)?;
    }
    if args.pss {
        scenario.settings.pss = true;
    }
    apply_budget_overrides(&mut scenario.budgets, overrides);

    let result = run_scenario(
        &scenario,
        RunRequest {
            config_path: &config_path,
            variant: args.variant.as_deref(),
            length: length_request(&args)?,
            out_root: &args.out,
            attribute: args.attribute.attribute,
            limit: args.limit.as_deref(),
        },
    )?;
    let status = result.status;
    judged.extend(super::single_entry(result.report));
    Ok(status)
}

/// The length flags, read.
fn length_request(args: &RunArgs) -> Result<LengthRequest, CliError> {
    let duration = |flag: &'static str, text: &Option<String>| {
        text.as_deref()
            .map(|text| positive_duration(flag, text))
            .transpose()
    };
    let count = |flag: &str, n: Option<u64>| -> Result<Option<u64>, CliError> {
        match n {
            Some(0) => Err(CliError::Usage(format!(
                "invalid {flag} 0: expected a whole number above zero"
            ))),
            n => Ok(n),
        }
    };
    Ok(LengthRequest {
        iterations: count("--iterations", args.iterations)?,
        min_iterations: count("--min-iterations", args.min_iterations)?,
        max_iterations: count("--max-iterations", args.max_iterations)?,
        min_duration: duration("--min-duration", &args.min_duration)?,
        max_duration: duration("--max-duration", &args.max_duration)?,
    })
}

/// A duration flag that must be above zero.
pub(super) fn positive_duration(flag: &'static str, text: &str) -> Result<Duration, CliError> {
    let d = parse_duration_flag(flag, text)?;
    if d.is_zero() {
        return Err(CliError::Usage(format!(
            "invalid {flag} {text:?}: expected a duration above zero, e.g. \"30s\""
        )));
    }
    Ok(d)
}

/// `leakcheck run -- CMD`: the config's defaults when there is a config file, no budgets
/// but the command line's, and no hang detection unless asked for (a command that never
/// marks makes no progress marks by design).
fn ad_hoc_scenario(args: &RunArgs) -> Result<(ScenarioConfig, std::path::PathBuf), CliError> {
    if args.iterations.is_some() {
        return Err(CliError::Usage(
            "--iterations is passed to a scenario through its `iterations_arg`; a command after \
             `--` takes its own arguments (write the count into the command)"
                .to_string(),
        ));
    }
    let defaults = command_defaults(&args.config.config, "the command runs")?;
    let name = report_name("--name", args.name.as_deref(), &args.command[0])?;
    let mut scenario = ScenarioConfig::from_command(&name, args.command.clone(), &defaults);
    scenario.settings.no_progress_timeout = Duration::ZERO;
    Ok((scenario, args.config.config.clone()))
}

/// The settings a command outside the config gets: the config's `[defaults]` when there is
/// a config file (said on stderr: an unnoticed `[defaults] timeout` would silently end a
/// run), else the built-in ones.
pub(super) fn command_defaults(config: &Path, what: &str) -> Result<Settings, CliError> {
    if !config.exists() {
        return Ok(Settings::default());
    }
    tell!(
        "note: {what} with the [defaults] of {} (pass --config to choose another)",
        config.display()
    );
    Ok(load_config(config)?.defaults)
}

/// The report folder's name: the one given with `flag`, else [`default_name`] of
/// `program`; refused unless plain.
pub(super) fn report_name(
    flag: &str,
    given: Option<&str>,
    program: &str,
) -> Result<String, CliError> {
    let name = given.map_or_else(|| default_name(program), str::to_string);
    if !names::is_plain_name(&name) {
        return Err(CliError::Usage(format!(
            "invalid {flag} {name:?}: expected {}",
            names::NAME_FORMS
        )));
    }
    Ok(name)
}

/// The report folder of a command without `--name`: its program's file name made a plain
/// name ([`names::is_plain_name`]): without the leading dots that would hide the folder
/// (`.hidden.sh` → `hidden.sh`), other characters as `_`, cut to the longest name.
fn default_name(program: &str) -> String {
    let file = Path::new(program)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let plain: String = file
        .trim_start_matches('.')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(names::MAX_NAME_LEN)
        .collect();
    if plain.is_empty() {
        "command".to_string()
    } else {
        plain
    }
}
