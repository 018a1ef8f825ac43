//! How long a run goes: the length flags and the scenario's `iterations`/`duration`
//! turned into the sequential plan the judge looks by.

use std::time::Duration;

use leakcheck_judge::LookPlan;
use leakcheck_settings::ScenarioConfig;
use leakcheck_vocab::XUnit;

use crate::error::CliError;

/// The length asked for on the command line (each overrides the scenario's).
#[derive(Debug, Clone, Copy, Default)]
pub struct LengthRequest {
    /// `--iterations N`: exactly N (minimum and maximum).
    pub iterations: Option<u64>,
    pub min_iterations: Option<u64>,
    pub max_iterations: Option<u64>,
    pub min_duration: Option<Duration>,
    pub max_duration: Option<Duration>,
}

/// The plan the run is judged by, or `None` when the run has no known maximum (it is then
/// judged once, at its end). Iterations win over durations in the config; on the command
/// line asking for both is an error.
pub fn look_plan(
    scenario: &ScenarioConfig,
    asked: &LengthRequest,
) -> Result<Option<LookPlan>, CliError> {
    let iteration_flags = asked
        .iterations
        .or(asked.min_iterations)
        .or(asked.max_iterations);
    let duration_flags = asked.min_duration.or(asked.max_duration);
    if iteration_flags.is_some() && duration_flags.is_some() {
        return Err(CliError::Usage(
            "give the run's length in iterations (--min-iterations/--max-iterations) or in time (--min-duration/--max-duration), not both".to_string(),
        ));
    }
    let confidence = scenario.settings.confidence;
    let max_iterations =
        asked
            .max_iterations
            .or(asked.iterations)
            .or(if duration_flags.is_some() {
                None
            } else {
                scenario.iterations
            });
    if let Some(max) = max_iterations {
        let min = asked
            .min_iterations
            .or(asked.iterations)
            .or(scenario
                .min_iterations
                .filter(|_| asked.max_iterations.is_none()))
            .unwrap_or(max);
        if min > max {
            return Err(min_above_max(
                "--min-iterations",
                &min.to_string(),
                &max.to_string(),
            ));
        }
        return Ok(Some(LookPlan {
            unit: XUnit::Iteration,
            min: min as f64,
            max: max as f64,
            confidence,
        }));
    }
    if asked.min_iterations.is_some() {
        return Err(CliError::Usage(
            "--min-iterations needs a maximum: give --max-iterations too (the run is stopped there, decided or not)".to_string(),
        ));
    }
    let Some(max) = asked.max_duration.or(scenario.max_duration) else {
        if asked.min_duration.is_some() {
            return Err(CliError::Usage(
                "--min-duration needs a maximum: give --max-duration too (the run is stopped there, decided or not)".to_string(),
            ));
        }
        return Ok(None);
    };
    let min = asked.min_duration.or(scenario.min_duration).unwrap_or(max);
    if min > max {
        return Err(min_above_max(
            "--min-duration",
            &format!("{min:?}"),
            &format!("{max:?}"),
        ));
    }
    Ok(Some(LookPlan {
        unit: XUnit::Second,
        min: min.as_secs_f64(),
        max: max.as_secs_f64(),
        confidence,
    }))
}

fn min_above_max(flag: &str, min: &str, max: &str) -> CliError {
    CliError::Usage(format!(
        "invalid {flag} {min}: it is above the maximum ({max}); expected a minimum at most the maximum"
    ))
}
