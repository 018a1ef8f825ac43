//! `leakcheck run SCENARIO` and `leakcheck run -- COMMAND`.

use std::path::Path;
use std::time::Duration;

use leakcheck_judge::apply_budget_overrides;
use leakcheck_runner::config::{parse_duration_flag, parse_size_flag};
use leakcheck_runner::{ScenarioConfig, Settings, load_config};

use super::{RunRequest, parse_budget_args, run_scenario};
use crate::cli::RunArgs;
use crate::error::{CliError, ExitStatus};

pub fn execute(args: RunArgs) -> Result<ExitStatus, CliError> {
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
    }
    if let Some(text) = &args.no_progress_timeout {
        scenario.settings.no_progress_timeout = parse_duration_flag("--no-progress-timeout", text)?;
    }
    apply_budget_overrides(&mut scenario.budgets, overrides);

    let result = run_scenario(
        &scenario,
        RunRequest {
            config_path: &config_path,
            variant: args.variant.as_deref(),
            iterations: args.iterations,
            out_root: &args.out,
        },
    )?;
    Ok(result.status)
}

/// `leakcheck run -- CMD`: the config's defaults when there is a config file, no budgets
/// but the command line's, and no hang detection unless asked for (a command that never
/// marks makes no progress marks by design).
fn ad_hoc_scenario(args: &RunArgs) -> Result<(ScenarioConfig, std::path::PathBuf), CliError> {
    let defaults = if args.config.config.exists() {
        load_config(&args.config.config)?.defaults
    } else {
        Settings::default()
    };
    let name = match &args.name {
        Some(name) => name.clone(),
        None => Path::new(&args.command[0])
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "command".to_string()),
    };
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(CliError::Usage(format!(
            "invalid --name {name:?}: expected a plain folder name (no `/`, not starting with `.`)"
        )));
    }
    let mut scenario = ScenarioConfig::from_command(&name, args.command.clone(), &defaults);
    scenario.settings.no_progress_timeout = Duration::ZERO;
    Ok((scenario, args.config.config.clone()))
}
