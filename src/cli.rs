//! Command-line arguments. Plain clap types; commands turn them into library calls.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use leakcheck_settings::Attribute;

/// Memory-profiling and leak-regression gate: runs a workload, samples its memory from
/// inside and outside, fits growth slopes with confidence bounds and checks them against budgets.
///
/// Exit codes: 0 pass, 1 a memory budget failed (or the memory ceiling was crossed),
/// 2 usage or config error, 3 the scenario did not complete (crash, signal, timeout, hang),
/// 4 undecided (the run was too short or too noisy to tell), 5 a scenario's build command
/// failed, 6 leakcheck's own machinery failed (a pipe or thread it could not create).
#[derive(Debug, Parser)]
#[command(name = "leakcheck", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one scenario of the config, or any command given after `--`, and report on its memory.
    Run(Box<RunArgs>),
    /// Watch a process that is already running (and its descendants), judge its memory
    /// as a run's, and write the same reports; it is never stopped, signalled or slowed.
    Watch(Box<WatchArgs>),
    /// Run the scenarios of the config as a CI leak gate and write the gate's reports.
    Gate(GateArgs),
    /// Re-analyse a samples.jsonl offline and re-render its report.
    Report(ReportArgs),
    /// List the scenarios of the config with their variants and budgets.
    List(ListArgs),
    /// Compare two runs (A the reference): did the fix work, did B regress?
    ///
    /// Exit codes: 0 B is not significantly worse than A on any metric, 1 it is, 2 usage
    /// error, 4 undecided (a run too short for a fit).
    Compare(CompareArgs),
    /// Join the outputs of `gate --partition` shards into one junit.xml, summary.md,
    /// index.html and exit code.
    Merge(MergeArgs),
}

impl Command {
    /// The output flags of a subcommand that judges (`run`, `watch`, `gate`, `report`,
    /// `merge`).
    pub fn outputs(&self) -> Option<&OutputArgs> {
        match self {
            Command::Run(a) => Some(&a.outputs),
            Command::Watch(a) => Some(&a.outputs),
            Command::Gate(a) => Some(&a.outputs),
            Command::Report(a) => Some(&a.outputs),
            Command::Merge(a) => Some(&a.outputs),
            Command::List(_) | Command::Compare(_) => None,
        }
    }
}

/// Where the scenarios are described.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The scenario file.
    #[arg(long, value_name = "FILE", default_value = "leakcheck.toml")]
    pub config: PathBuf,
}

/// The outputs a judging subcommand may add (validated once before it runs, written
/// once after, by `commands::Outputs`).
#[derive(Debug, Clone, Default, Args)]
pub struct OutputArgs {
    /// Also write the results as OpenMetrics text (slopes, peaks, outcomes; `# EOF`
    /// terminated) to FILE, e.g. for node-exporter's textfile collector.
    #[arg(long, value_name = "FILE")]
    pub openmetrics: Option<PathBuf>,
}

/// Whether an attribution pass ("where it grows") follows the run.
#[derive(Debug, Args)]
pub struct AttributeArg {
    /// Run an attribution pass after the run and add its allocation sites to the report:
    /// `--attribute` alone is `always`; `on-failure` and `never` too (default: the
    /// config's `attribute`, else never). It never changes the verdict.
    #[arg(long, value_name = "WHEN", num_args = 0..=1, default_missing_value = "always", value_parser = parse_attribute)]
    pub attribute: Option<Attribute>,
}

fn parse_attribute(text: &str) -> Result<Attribute, String> {
    Attribute::parse(text).ok_or_else(|| format!("expected {}", Attribute::FORMS))
}

/// Budgets given on the command line, on top of (or instead of) the config's.
#[derive(Debug, Args)]
pub struct BudgetArgs {
    /// A budget as METRIC.KIND=VALUE, e.g. `rss.slope=1MiB/s`, `alloc.allocated.growth=8MiB`
    /// (kinds: slope, growth, peak, retained). Repeatable; replaces the config's budget of that
    /// metric and kind.
    #[arg(long = "budget", value_name = "METRIC.KIND=VALUE")]
    pub budgets: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario to run (see `leakcheck list`); omit it and give a command after `--` instead.
    pub scenario: Option<String>,
    /// Which variant of the scenario to run (e.g. leaky, fixed).
    #[arg(long)]
    pub variant: Option<String>,
    /// Number of iterations, passed to the scenario through its `iterations_arg`.
    #[arg(long, value_name = "N")]
    pub iterations: Option<u64>,
    /// Run until decided, but at least N iterations before a pass (a failure may stop
    /// the run sooner).
    #[arg(long, value_name = "N")]
    pub min_iterations: Option<u64>,
    /// Stop after N iterations, decided or not (a scenario is started with N through its
    /// `iterations_arg`).
    #[arg(long, value_name = "N")]
    pub max_iterations: Option<u64>,
    /// Judge by time (for programs that do not mark): at least this long before a pass.
    #[arg(long, value_name = "DURATION")]
    pub min_duration: Option<String>,
    /// Judge by time, and stop the run after this long, decided or not.
    #[arg(long, value_name = "DURATION")]
    pub max_duration: Option<String>,
    /// Output folder; the scenario's files go to OUT/<name>/.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    /// Name for an ad-hoc command's reports (default: the program's file name).
    #[arg(long)]
    pub name: Option<String>,
    /// Kill the run when the process tree's RSS crosses this size (e.g. `2GiB`).
    #[arg(long, value_name = "SIZE")]
    pub ceiling: Option<String>,
    /// The memory the program may use, for the forecast of when a growing metric reaches
    /// it (default: its cgroup's limit, else the machine's MemAvailable).
    #[arg(long, value_name = "SIZE")]
    pub limit: Option<String>,
    /// Overall time limit (e.g. `90s`, `5min`).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Kill the run when no iteration is marked for this long (marking programs only).
    #[arg(long, value_name = "DURATION")]
    pub no_progress_timeout: Option<String>,
    /// Also sample the PSS of the process tree (once a second; needed for `pss.tree`
    /// budgets).
    #[arg(long)]
    pub pss: bool,
    #[command(flatten)]
    pub attribute: AttributeArg,
    #[command(flatten)]
    pub outputs: OutputArgs,
    #[command(flatten)]
    pub budgets: BudgetArgs,
    #[command(flatten)]
    pub config: ConfigArg,
    /// Any program to run and gate from the outside: `leakcheck run --budget rss.slope=1MiB/s -- python3 train.py`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The pid of the process to watch; its descendants are followed as they come and go.
    #[arg(value_name = "PID", required_unless_present_any = ["pattern", "cgroup"])]
    pub pid: Option<u32>,
    /// Pick the process by its command line instead: a regular expression matched as
    /// `pgrep -f` does. A job and the workers it forked are one match; matches in separate
    /// trees are refused and listed.
    #[arg(long = "name", value_name = "PATTERN", conflicts_with_all = ["pid", "cgroup"])]
    pub pattern: Option<String>,
    /// Watch a cgroup instead (a container, a systemd unit, a pod): its memory files give
    /// `cgroup.current`, `cgroup.anon` and `cgroup.file` (page cache apart from anonymous
    /// memory), and the tree of its oldest process the `rss.*` metrics.
    #[arg(long, value_name = "PATH", conflicts_with = "pid")]
    pub cgroup: Option<PathBuf>,
    /// When the watch ends: `decided` (as soon as every budget is decided), or after a
    /// duration (`30min`, `2h`). Without it, when the process exits or on Ctrl-C; the
    /// report is written however it ends.
    #[arg(long, value_name = "decided|DURATION")]
    pub until: Option<String>,
    /// A pass needs a watch at least this long (default 60s).
    #[arg(long, value_name = "DURATION")]
    pub min_duration: Option<String>,
    /// How often the process tree is sampled (default 100ms).
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// The memory the job may use, for the forecast of when a growing metric reaches it
    /// (default: its cgroup's limit, else the machine's MemAvailable plus what it holds).
    #[arg(long, value_name = "SIZE")]
    pub limit: Option<String>,
    /// Output folder; the watch's files go to OUT/<label>/.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    /// Name for the watch's reports (default: the program's file name).
    #[arg(long)]
    pub label: Option<String>,
    /// Also sample the PSS of the process tree (once a second; needed for `pss.tree`
    /// budgets; readable for processes of the same user, or with `CAP_SYS_PTRACE`).
    #[arg(long)]
    pub pss: bool,
    #[command(flatten)]
    pub outputs: OutputArgs,
    #[command(flatten)]
    pub budgets: BudgetArgs,
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// Run only these scenarios (repeatable).
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,
    /// Run this variant of every scenario instead of its default one (e.g. `leaky`, to check
    /// that the gate catches the known bugs).
    #[arg(long)]
    pub variant: Option<String>,
    /// Output folder for the reports.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    /// Also check each scenario against this baseline file (JSON, committed beside
    /// leakcheck.toml): a budgeted quantity significantly worse than its baseline by more
    /// than the `ratchet` tolerance fails, even within budget.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write this run's results into the --baseline file (other scenarios' entries are
    /// kept) instead of checking against it.
    #[arg(long, requires = "baseline")]
    pub update_baseline: bool,
    /// Run only shard K of N (`K/N` or `count:K/N`: every N-th scenario in config order;
    /// `hash:K/N`: by a hash of the name), for a CI matrix; join the shards with `merge`.
    #[arg(long, value_name = "K/N")]
    pub partition: Option<String>,
    #[command(flatten)]
    pub attribute: AttributeArg,
    #[command(flatten)]
    pub outputs: OutputArgs,
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The reference run: a run folder (with samples.jsonl) or a samples.jsonl.
    pub a: PathBuf,
    /// The run compared with it.
    pub b: PathBuf,
    /// How much worse counts: a percentage of A's value (`25%`) or an amount in the
    /// metric's unit (`4KiB/iter` for slopes, `8MiB` for growth and retained). Default 0.
    #[arg(long, value_name = "AMOUNT", default_value = "0%")]
    pub tolerance: String,
    /// Confidence of every difference's interval.
    #[arg(long, value_name = "LEVEL", default_value_t = 0.99)]
    pub confidence: f64,
    /// Where compare.md, compare.json and compare.svg/.png go.
    #[arg(long, value_name = "DIR", default_value = "reports/compare")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' output folders (each the --out of one `gate --partition K/N`).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Where the merged reports go (the scenarios' folders are copied there).
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    #[command(flatten)]
    pub outputs: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A samples.jsonl written by `leakcheck run` or `leakcheck gate`.
    pub samples: PathBuf,
    /// Where to write the report (default: the folder of the samples file).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub outputs: OutputArgs,
    #[command(flatten)]
    pub budgets: BudgetArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub config: ConfigArg,
}
