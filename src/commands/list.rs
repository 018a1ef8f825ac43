//! `leakcheck list`: the scenarios of the config, their variants and budgets.

use leakcheck_runner::load_config;

use crate::cli::ListArgs;
use crate::error::{CliError, ExitStatus};
use crate::output::say;

pub fn execute(args: ListArgs) -> Result<ExitStatus, CliError> {
    let config = load_config(&args.config.config)?;
    for s in &config.scenarios {
        say!("{}", s.name);
        if let Some(d) = &s.description {
            say!("  {d}");
        }
        say!("  command: {}", s.command.join(" "));
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
        if let Some(n) = s.iterations {
            say!("  iterations: {n}");
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
