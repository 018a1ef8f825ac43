//! `leakcheck list`: the scenarios of the config, their variants and budgets.

use leakcheck_runner::load_config;

use crate::cli::ListArgs;
use crate::error::{CliError, ExitStatus};

pub fn execute(args: ListArgs) -> Result<ExitStatus, CliError> {
    let config = load_config(&args.config.config)?;
    for s in &config.scenarios {
        println!("{}", s.name);
        if let Some(d) = &s.description {
            println!("  {d}");
        }
        println!("  command: {}", s.command.join(" "));
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
            println!("  variants: {}", variants.join(", "));
        }
        if let Some(n) = s.iterations {
            println!("  iterations: {n}");
        }
        for b in &s.budgets {
            println!(
                "  budget: {} {} = {}",
                b.metric,
                b.budget.kind.as_str(),
                b.budget.limit
            );
        }
    }
    Ok(ExitStatus::Pass)
}
