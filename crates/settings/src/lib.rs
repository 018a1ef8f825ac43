//! leakcheck-settings: `leakcheck.toml` and the flags that override it, parsed in one
//! place: the scenarios, how to run them (a [`RunSpec`] for the runner) and their memory
//! budgets (for the judge). The runner itself knows nothing of the file or of budgets.
//!
//! ```toml
//! [defaults]                      # every key optional; these are the built-in values
//! timeout = "10min"               # overall limit of one run
//! no_progress_timeout = "60s"     # no mark for this long = hung ("off" or "0s": no hang detection)
//! rss_interval = "5ms"            # the program's RSS; the tree every interval × its processes
//! gpu_interval = "1s"             # NVML sampling period
//! grace = "2s"                    # SIGTERM -> SIGKILL delay
//! confidence = 0.99               # confidence of the slope bounds, in (0, 1)
//! warmup = "auto"                 # "auto", a number of iterations ("50") or a share ("10%")
//! ceiling = "8 GiB"               # kill when rss.tree goes above it (default: none)
//! pss = false                     # also sample PSS of the tree
//! pss_interval = "1s"             # how often, when pss = true (it costs ~ms per GiB)
//!
//! [scenarios.loader-loop]
//! description = "500 training iterations over the CellMap-style loader"
//! command = ["target/release/loader-loop"]   # argv, never a shell
//! build = ["cargo", "build", "--release", "-p", "loader-loop"]  # optional, run once first
//! iterations = 500                 # or { min = 200, max = 4000 }: run until decided
//! iterations_arg = "--iterations"  # appended with the count (the maximum): --iterations 500
//! duration = { min = "4s", max = "30s" }  # judge by time instead (a program that never marks)
//! default_variant = "fixed"
//! env = { RUST_LOG = "warn" }
//! cwd = "."                        # default: the directory of this file
//! # timeout, no_progress_timeout, rss_interval, gpu_interval, grace, confidence,
//! # warmup, ceiling, pss and pss_interval override [defaults] per scenario.
//!
//! [scenarios.loader-loop.variants]      # extra arguments per variant
//! fixed = ["--variant", "fixed"]
//! leaky = ["--variant", "leaky"]
//!
//! [scenarios.loader-loop.budgets]       # metric -> { slope, growth, peak, retained }
//! "alloc.allocated" = { slope = "16 KiB/iter", growth = "8 MiB" }
//! rss = { slope = "64 KiB/iter", peak = "1 GiB" }
//! ```
//!
//! Durations take a unit (`ms`, `s`, `min`, `h`); sizes are `"512 MiB"`-style strings
//! or plain byte counts. Relative paths (`cwd`, and a `command`/`build` program that
//! contains a `/`) are relative to the directory of the file, so the config works
//! from any working directory. Budget values are parsed by
//! [`leakcheck_analysis::Budget::parse`].
//!
//! Every error names the file, the line and column, the dotted key
//! (`scenarios.loader-loop.budgets.rss.slop`) and the offending value, and says what
//! was expected (the accepted keys, the known metrics, the units).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use leakcheck_analysis::MetricBudget;
use leakcheck_analysis::{Budget, BudgetKind, Quantity, WarmUp};
use leakcheck_records::known_metrics;

use leakcheck_analysis::sequential::LookPlan;
use leakcheck_judge::{JUDGING_VERSION, Judging};
use leakcheck_runner::RunSpec;
use leakcheck_vocab::XUnit;

/// A loaded `leakcheck.toml`.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub defaults: Settings,
    /// In file order.
    pub scenarios: Vec<ScenarioConfig>,
}

/// How a run is watched and judged: `[defaults]`, and each scenario's own copy of it
/// with the scenario's overrides applied (also used for `leakcheck run -- CMD`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub timeout: Duration,
    /// `Duration::ZERO`: no hang detection.
    pub no_progress_timeout: Duration,
    pub rss_interval: Duration,
    pub gpu_interval: Duration,
    pub grace: Duration,
    pub confidence: f64,
    pub warmup: WarmUp,
    pub ceiling: Option<u64>,
    pub pss: bool,
    pub pss_interval: Duration,
    /// When an attribution pass runs after the judged run.
    pub attribute: Attribute,
    /// How much worse than its baseline a budgeted quantity may get (`gate --baseline`).
    pub ratchet: Ratchet,
}

/// A ratchet tolerance and how it was written (`25%`, `4 KiB/iter`).
#[derive(Debug, Clone, PartialEq)]
pub struct Ratchet {
    pub tolerance: leakcheck_analysis::Tolerance,
    pub text: String,
}

impl Ratchet {
    /// The forms errors list.
    pub const FORMS: &'static str = "a percentage of the baseline (\"25%\") or an amount in the metric's unit (\"4 KiB/iter\" for slopes, \"8 MiB\" for growth and retained)";

    /// `25%`, or an amount: a rate (slopes) or a size, in `unit` (bytes or counts).
    pub fn parse(text: &str, unit: leakcheck_vocab::ValueUnit) -> Option<Ratchet> {
        use leakcheck_analysis::Tolerance;
        let tolerance = Tolerance::parse_relative(text).or_else(|| {
            [BudgetKind::Slope, BudgetKind::Growth]
                .into_iter()
                .find_map(|kind| Budget::parse_in("ratchet", kind, text, unit).ok())
                .map(|b| match b.limit {
                    Quantity::Rate { bytes, per } => Tolerance::Rate(bytes, per),
                    Quantity::Bytes(bytes) => Tolerance::Size(bytes),
                })
                .filter(|t| matches!(t, Tolerance::Rate(a, _) | Tolerance::Size(a) if *a >= 0.0))
        })?;
        Some(Ratchet {
            tolerance,
            text: text.trim().to_string(),
        })
    }
}

impl Default for Ratchet {
    fn default() -> Self {
        Ratchet {
            tolerance: leakcheck_analysis::Tolerance::Relative(0.25),
            text: "25%".to_string(),
        }
    }
}

/// When leakcheck runs an attribution pass ("where it grows") after a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Attribute {
    #[default]
    Never,
    /// After a run that failed a budget.
    OnFailure,
    Always,
}

impl Attribute {
    /// The config and flag spellings, as errors list them.
    pub const FORMS: &'static str = "\"on-failure\", \"always\" or \"never\"";

    pub fn parse(text: &str) -> Option<Attribute> {
        match text {
            "never" => Some(Attribute::Never),
            "on-failure" => Some(Attribute::OnFailure),
            "always" => Some(Attribute::Always),
            _ => None,
        }
    }
}

/// `[scenarios.NAME.attribution]`: how to build and run the scenario's attribution
/// variant (a dhat build), and at which two lengths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributionConfig {
    pub build: Option<Vec<String>>,
    pub command: Vec<String>,
    /// Flag appended with each length, e.g. `--iterations`.
    pub length_arg: String,
    /// N₁ < N₂.
    pub lengths: [u64; 2],
    /// What a length counts: `iteration` or `session`.
    pub per: String,
}

/// The attribution pass's lengths when the config names none: far enough apart that the
/// kept bytes dwarf a run's noise, short enough that dhat's slowdown stays cheap.
pub const DEFAULT_ATTRIBUTION_LENGTHS: [u64; 2] = [60, 120];

impl Default for Settings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(600),
            no_progress_timeout: Duration::from_secs(60),
            rss_interval: Duration::from_millis(5),
            gpu_interval: Duration::from_secs(1),
            grace: Duration::from_secs(2),
            confidence: 0.99,
            warmup: "auto".parse().expect("\"auto\" is a valid warm-up"),
            ceiling: None,
            pss: false,
            pss_interval: Duration::from_secs(1),
            attribute: Attribute::Never,
            ratchet: Ratchet::default(),
        }
    }
}

/// One `[scenarios.NAME]` table, with the defaults applied.
#[derive(Debug, Clone)]
pub struct ScenarioConfig {
    pub name: String,
    pub description: Option<String>,
    /// argv as written (never a shell); see [`ScenarioConfig::argv`] for the final one.
    pub command: Vec<String>,
    /// Extra arguments per variant, e.g. `leaky = ["--variant", "leaky"]`.
    pub variants: BTreeMap<String, Vec<String>>,
    pub default_variant: Option<String>,
    /// The iteration count passed through `iterations_arg`: the fixed length, or the
    /// maximum of `iterations = { min, max }`.
    pub iterations: Option<u64>,
    /// `iterations = { min = N, max = M }`: the run goes on until decided, at least N.
    pub min_iterations: Option<u64>,
    /// Flag appended with the iteration count, e.g. `--iterations`.
    pub iterations_arg: Option<String>,
    /// `duration = { min = "4s", max = "10s" }`: judged by time, stopped at the maximum.
    pub min_duration: Option<Duration>,
    pub max_duration: Option<Duration>,
    /// Timeouts, ceiling (bytes of `rss.tree`), cadences and statistics: `[defaults]`
    /// with this scenario's overrides.
    pub settings: Settings,
    pub budgets: Vec<MetricBudget>,
    /// Per metric, a `ratchet` given beside its budgets (else `settings.ratchet`).
    pub ratchets: BTreeMap<String, Ratchet>,
    pub env: BTreeMap<String, String>,
    /// As written; relative to [`ScenarioConfig::base_dir`].
    pub cwd: Option<PathBuf>,
    /// Optional argv run once before the scenario (e.g. `cargo build`).
    pub build: Option<Vec<String>>,
    /// Directory of the config file: relative paths are resolved against it.
    pub base_dir: PathBuf,
    /// The dhat attribution variant; without one, a pass re-runs the command with the
    /// Python client's attribution on.
    pub attribution: Option<AttributionConfig>,
}

/// Where in the config file something is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    /// 1-based; 0 when unknown.
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
        }
    }
}

/// Everything that can be wrong with a config file or a request against it.
/// [`ConfigError::exit_code`] is 2 for all of them.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{at}: invalid TOML: {message}")]
    Syntax { at: Location, message: String },
    #[error("{at}: unknown key `{key}`; expected one of: {expected}")]
    UnknownKey {
        at: Location,
        key: String,
        expected: String,
    },
    #[error("{at}: unknown metric \"{metric}\" in `{key}`; known metrics: {known}")]
    UnknownMetric {
        at: Location,
        key: String,
        metric: String,
        known: String,
    },
    #[error("{at}: invalid value for `{key}`: {value}; expected {expected}")]
    InvalidValue {
        at: Location,
        key: String,
        value: String,
        expected: String,
    },
    #[error("{at}: missing key `{key}`: expected {expected}")]
    Missing {
        at: Location,
        key: String,
        expected: String,
    },
    #[error("{at}: invalid budget `{key}` = {value}: {message}")]
    Budget {
        at: Location,
        key: String,
        value: String,
        message: String,
    },
    #[error("{}: unknown scenario \"{name}\"; known scenarios: {known}", file.display())]
    UnknownScenario {
        file: PathBuf,
        name: String,
        known: String,
    },
    #[error("{}: scenario \"{scenario}\" has no variant \"{variant}\"; known variants: {known}", file.display())]
    UnknownVariant {
        file: PathBuf,
        scenario: String,
        variant: String,
        known: String,
    },
    #[error("{}: scenario \"{scenario}\" cannot take an iteration count ({iterations}): it sets no `iterations_arg`", file.display())]
    NoIterationsArg {
        file: PathBuf,
        scenario: String,
        iterations: u64,
    },
    #[error("invalid {flag} {value:?}: {problem}; expected {expected}")]
    InvalidFlag {
        flag: &'static str,
        value: String,
        problem: String,
        expected: String,
    },
    #[error("{flag}: {source}")]
    FlagBudget {
        flag: &'static str,
        #[source]
        source: leakcheck_analysis::BudgetError,
    },
}

/// Read and validate a config file.
pub fn load_config(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    Config::from_str(&text, path)
}

mod parse;
pub mod units;

impl Config {
    /// The scenario called `name`, or an error listing the known ones.
    pub fn scenario(&self, name: &str) -> Result<&ScenarioConfig, ConfigError> {
        self.scenarios
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| ConfigError::UnknownScenario {
                file: self.path.clone(),
                name: name.to_owned(),
                known: list_or_none(self.scenarios.iter().map(|s| s.name.as_str())),
            })
    }
}

impl ScenarioConfig {
    /// A scenario for an ad-hoc command (`leakcheck run -- CMD`): the defaults, no budgets.
    pub fn from_command(name: &str, command: Vec<String>, defaults: &Settings) -> Self {
        Self {
            name: name.to_owned(),
            description: None,
            command,
            variants: BTreeMap::new(),
            default_variant: None,
            iterations: None,
            min_iterations: None,
            iterations_arg: None,
            min_duration: None,
            max_duration: None,
            settings: defaults.clone(),
            budgets: Vec::new(),
            ratchets: BTreeMap::new(),
            env: BTreeMap::new(),
            cwd: None,
            build: None,
            base_dir: PathBuf::from("."),
            attribution: None,
        }
    }

    /// The variant a run uses: the requested one, else `default_variant`.
    pub fn variant<'a>(&'a self, requested: Option<&'a str>) -> Option<&'a str> {
        requested.or(self.default_variant.as_deref())
    }

    /// The final argv: command (program resolved against the config directory when
    /// it contains a `/`), then the variant's arguments, then `iterations_arg N`
    /// (`iterations` overrides the configured count).
    pub fn argv(
        &self,
        config_path: &Path,
        variant: Option<&str>,
        iterations: Option<u64>,
    ) -> Result<Vec<String>, ConfigError> {
        let mut argv = self.resolve_program(&self.command);
        if let Some(v) = self.variant(variant) {
            let extra = self
                .variants
                .get(v)
                .ok_or_else(|| ConfigError::UnknownVariant {
                    file: config_path.to_owned(),
                    scenario: self.name.clone(),
                    variant: v.to_owned(),
                    known: list_or_none(self.variants.keys().map(String::as_str)),
                })?;
            argv.extend(extra.iter().cloned());
        }
        match (iterations.or(self.iterations), &self.iterations_arg) {
            (Some(n), Some(flag)) => argv.extend([flag.clone(), n.to_string()]),
            (Some(n), None) if iterations.is_some() => {
                return Err(ConfigError::NoIterationsArg {
                    file: config_path.to_owned(),
                    scenario: self.name.clone(),
                    iterations: n,
                });
            }
            _ => {}
        }
        Ok(argv)
    }

    /// The working directory of the run: `cwd` against the config directory, else that directory.
    pub fn working_dir(&self) -> PathBuf {
        match &self.cwd {
            Some(cwd) => self.base_dir.join(cwd),
            None => self.base_dir.clone(),
        }
    }

    /// The attribution variant's argv at `length`: its command (resolved like the
    /// scenario's), the variant's arguments, then `length_arg length`.
    pub fn attribution_argv(&self, variant: Option<&str>, length: u64) -> Option<Vec<String>> {
        let a = self.attribution.as_ref()?;
        let mut argv = self.resolve_program(&a.command);
        if let Some(extra) = self.variant(variant).and_then(|v| self.variants.get(v)) {
            argv.extend(extra.iter().cloned());
        }
        argv.extend([a.length_arg.clone(), length.to_string()]);
        Some(argv)
    }

    /// The attribution variant's `build` argv, resolved like the command's.
    pub fn attribution_build_argv(&self) -> Option<Vec<String>> {
        let build = self.attribution.as_ref()?.build.as_ref()?;
        Some(self.resolve_program(build))
    }

    /// The `build` argv with its program resolved like the command's.
    pub fn build_argv(&self) -> Option<Vec<String>> {
        self.build.as_ref().map(|b| self.resolve_program(b))
    }

    fn resolve_program(&self, argv: &[String]) -> Vec<String> {
        let mut argv = argv.to_vec();
        if let Some(program) = argv.first_mut()
            && program.contains('/')
            && Path::new(program.as_str()).is_relative()
        {
            *program = self.base_dir.join(&*program).to_string_lossy().into_owned();
        }
        argv
    }

    /// What the judge needs of this scenario besides the samples (saved as
    /// `judging.json`): its budgets, warm-up, confidence and ceiling, and the run's length.
    /// With [`ScenarioConfig::run_spec`], the scenario's settings composed per engine: one
    /// for the runner, one for the judge.
    pub fn judging(
        &self,
        variant: Option<&str>,
        argv: Vec<String>,
        iterations: Option<u64>,
        plan: Option<LookPlan>,
    ) -> Judging {
        let planned = plan
            .filter(|p| p.unit == XUnit::Iteration)
            .map(|p| p.max as u64);
        Judging {
            version: JUDGING_VERSION,
            scenario: self.name.clone(),
            variant: self.variant(variant).map(str::to_string),
            argv,
            iterations: planned.or(iterations).or(self.iterations),
            budgets: self.budgets.clone(),
            warmup: self.settings.warmup,
            confidence: self.settings.confidence,
            ceiling: self.settings.ceiling,
            plan,
            limit: None,
            show: Vec::new(),
            decide_at_end: false,
        }
    }

    /// A [`RunSpec`] for this scenario, writing to `out_dir`.
    pub fn run_spec(
        &self,
        config_path: &Path,
        variant: Option<&str>,
        iterations: Option<u64>,
        out_dir: &Path,
    ) -> Result<RunSpec, ConfigError> {
        let mut spec = RunSpec::new(
            self.name.clone(),
            self.argv(config_path, variant, iterations)?,
            out_dir,
        );
        spec.env = self
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        spec.cwd = Some(self.working_dir());
        let set = &self.settings;
        spec.timeout = set.timeout;
        spec.no_progress_timeout =
            (!set.no_progress_timeout.is_zero()).then_some(set.no_progress_timeout);
        spec.ceiling = set.ceiling;
        spec.rss_interval = set.rss_interval;
        spec.gpu_interval = set.gpu_interval;
        spec.grace = set.grace;
        spec.with_pss = set.pss;
        spec.pss_interval = set.pss_interval;
        Ok(spec)
    }
}

fn list_or_none<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

/// A budget given on the command line as `METRIC.KIND=VALUE` (`rss.slope=1MiB/s`): the
/// same metrics, kinds and values as the config's `budgets` tables.
pub fn parse_budget_flag(arg: &str) -> Result<MetricBudget, ConfigError> {
    let invalid = |problem: String| ConfigError::InvalidFlag {
        flag: "--budget",
        value: arg.to_owned(),
        problem,
        expected: format!(
            "METRIC.KIND=VALUE, e.g. rss.slope=1MiB/s (metrics: {}; kinds: slope, growth, peak, retained)",
            known_metrics().join(", ")
        ),
    };
    let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| invalid("no `=`".to_owned()))?;
    let (metric, kind) = key
        .trim()
        .rsplit_once('.')
        .ok_or_else(|| invalid("no `.KIND` after the metric".to_owned()))?;
    if !known_metrics().contains(&metric) {
        return Err(invalid(format!("unknown metric {metric:?}")));
    }
    let kind =
        BudgetKind::from_key(kind).ok_or_else(|| invalid(format!("unknown kind {kind:?}")))?;
    let unit = leakcheck_records::unit_of(metric);
    let budget = Budget::parse_in(key.trim(), kind, value.trim(), unit).map_err(|source| {
        ConfigError::FlagBudget {
            flag: "--budget",
            source,
        }
    })?;
    Ok(MetricBudget {
        metric: metric.to_owned(),
        key: format!("--budget {}", key.trim()),
        budget,
    })
}

/// A size given on the command line (`--ceiling 2GiB`), in the config's size forms.
pub fn parse_size_flag(flag: &'static str, text: &str) -> Result<u64, ConfigError> {
    let budget = Budget::parse(flag, BudgetKind::Peak, text)
        .map_err(|source| ConfigError::FlagBudget { flag, source })?;
    Ok(budget.limit.bytes() as u64)
}

/// A duration given on the command line (`--timeout 90s`), in the config's duration forms.
pub fn parse_duration_flag(flag: &'static str, text: &str) -> Result<Duration, ConfigError> {
    crate::units::parse_duration(text).ok_or_else(|| ConfigError::InvalidFlag {
        flag,
        value: text.to_owned(),
        problem: "not a duration".to_owned(),
        expected: "a duration like \"500ms\", \"30s\", \"2min\" or \"1h\"".to_owned(),
    })
}
