//! `leakcheck list`: the scenarios of the config, their variants and budgets.

use leakcheck_settings::load_config;
use leakcheck_vocab::fmt;

use crate::cli::ListArgs;
use crate::error::{CliError, ExitStatus};
use crate::output::say;

pub fn execute(args: ListArgs) -> Result<ExitStatus, CliError> {
    let config = load_config(&args.config.config)?;
    for s in &config.scenarios {
        say!("{}", s.name);
        if let Some(d) = &s.description {
            say!("  {}", printable(d));
        }
        say!("  command: {}", printable(&s.command.join(" ")));
        if !s.variants.is_empty() {
            let variants: Vec<String> = s
                .variants
                .keys()
                .map(|v| {
                    if s.default_variant.as_deref() == Some(v) {
                        format!("{v} (default)")
                    } else {
                        v.clone()
                    }
                })
                .collect();
            say!("  variants: {}", variants.join(", "));
        }
        match (s.min_iterations, s.iterations) {
            (Some(min), Some(max)) if min != max => {
                say!("  iterations: {min} to {max} (stopped when decided)");
            }
            (_, Some(n)) => say!("  iterations: {n}"),
            _ => {}
        }
        match (s.min_duration, s.max_duration) {
            (Some(min), Some(max)) if min != max => say!(
                "  duration: {} to {} (stopped when decided)",
                fmt::duration(min),
                fmt::duration(max)
            ),
            (_, Some(max)) => say!("  duration: {}", fmt::duration(max)),
            _ => {}
        }
        for b in &s.budgets {
            say!(
                "  budget: {} {} = {}",
                b.metric,
                b.budget.kind.as_str(),
                b.budget.limit_text()
            );
        }
    }
    Ok(ExitStatus::Pass)
}

/// A config's text for a terminal: control characters (an escape sequence in a
/// description would restyle or clear the user's terminal) shown escaped.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let shown: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            shown
        })
        .collect()
}
