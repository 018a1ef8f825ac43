//! `leakcheck.toml`: the scenarios, how to run them and their memory budgets.
//!
//! ```toml
//! [defaults]                      # every key optional; these are the built-in values
//! timeout = "10min"               # overall limit of one run
//! no_progress_timeout = "60s"     # no mark for this long = hung ("off" or "0s": no hang detection)
//! rss_interval = "50ms"           # process-tree RSS sampling period
//! gpu_interval = "1s"             # NVML sampling period
//! grace = "2s"                    # SIGTERM -> SIGKILL delay
//! confidence = 0.99               # confidence of the slope bounds, in (0, 1)
//! warmup = "auto"                 # "auto", a number of iterations ("50") or a share ("10%")
//! ceiling = "8 GiB"               # kill when rss.tree goes above it (default: none)
//! pss = false                     # also sample PSS of the tree (once a second)
//!
//! [scenarios.loader-loop]
//! description = "500 training iterations over the CellMap-style loader"
//! command = ["target/release/loader-loop"]   # argv, never a shell
//! build = ["cargo", "build", "--release", "-p", "loader-loop"]  # optional, run once first
//! iterations = 500
//! iterations_arg = "--iterations"  # appended with the count: --iterations 500
//! default_variant = "fixed"
//! env = { RUST_LOG = "warn" }
//! cwd = "."                        # default: the directory of this file
//! # timeout, no_progress_timeout, rss_interval, gpu_interval, grace, confidence,
//! # warmup, ceiling and pss override [defaults] per scenario.
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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use leakcheck_analysis::budget::SIZE_FORMS;
use leakcheck_analysis::warmup::WARMUP_FORMS;
use leakcheck_analysis::{Budget, BudgetKind, WarmUp};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::run::RunSpec;
use crate::timeline::ALL_METRICS;
use crate::units::{DURATION_UNITS, parse_duration};

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
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(600),
            no_progress_timeout: Duration::from_secs(60),
            rss_interval: Duration::from_millis(50),
            gpu_interval: Duration::from_secs(1),
            grace: Duration::from_secs(2),
            confidence: 0.99,
            warmup: "auto".parse().expect("\"auto\" is a valid warm-up"),
            ceiling: None,
            pss: false,
        }
    }
}

/// A budget on one metric, with the key it came from (for messages).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MetricBudget {
    pub metric: String,
    pub budget: Budget,
    /// Dotted path, e.g. `scenarios.loader-loop.budgets.rss.slope`.
    pub key: String,
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
    pub iterations: Option<u64>,
    /// Flag appended with the iteration count, e.g. `--iterations`.
    pub iterations_arg: Option<String>,
    /// Timeouts, ceiling (bytes of `rss.tree`), cadences and statistics: `[defaults]`
    /// with this scenario's overrides.
    pub settings: Settings,
    pub budgets: Vec<MetricBudget>,
    pub env: BTreeMap<String, String>,
    /// As written; relative to [`ScenarioConfig::base_dir`].
    pub cwd: Option<PathBuf>,
    /// Optional argv run once before the scenario (e.g. `cargo build`).
    pub build: Option<Vec<String>>,
    /// Directory of the config file: relative paths are resolved against it.
    pub base_dir: PathBuf,
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
}

impl ConfigError {
    /// CLI exit code: 2 (usage or config error).
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// Read and validate a config file.
pub fn load_config(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    Config::from_str(&text, path)
}

const TOP_KEYS: &[&str] = &["defaults", "scenarios"];
/// Keys shared by `[defaults]` and scenarios.
const DEFAULT_KEYS: &[&str] = &[
    "timeout",
    "no_progress_timeout",
    "rss_interval",
    "gpu_interval",
    "grace",
    "confidence",
    "warmup",
    "ceiling",
    "pss",
];
/// Keys only a scenario has; a scenario also takes every one of [`DEFAULT_KEYS`].
const SCENARIO_KEYS: &[&str] = &[
    "description",
    "command",
    "build",
    "iterations",
    "iterations_arg",
    "variants",
    "default_variant",
    "env",
    "cwd",
    "budgets",
];
const BUDGET_KEYS: &[&str] = &["slope", "growth", "peak", "retained"];

impl Config {
    /// Parse config text; `path` is used for messages and to resolve relative paths.
    #[allow(clippy::should_implement_trait)] // it needs the path too
    pub fn from_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let ctx = Ctx { file: path, text };
        let doc = DeTable::parse(text).map_err(|e| ConfigError::Syntax {
            at: ctx.loc(e.span().unwrap_or(0..0)),
            message: e.message().trim().to_owned(),
        })?;
        let base_dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let mut defaults = Settings::default();
        let mut scenario_table = None;
        for (key, value) in ctx.entries(doc.get_ref(), "", TOP_KEYS)? {
            match key {
                "defaults" => {
                    let table = ctx.table("defaults", value)?;
                    for (k, v) in ctx.entries(table, "defaults", DEFAULT_KEYS)? {
                        ctx.set_default(&mut defaults, &join("defaults", k), k, v)?;
                    }
                }
                _ => scenario_table = Some(value),
            }
        }
        let mut scenarios = Vec::new();
        if let Some(value) = scenario_table {
            let table = ctx.table("scenarios", value)?;
            for (key, value) in ordered(table) {
                let name = key.get_ref().as_ref();
                let path = join("scenarios", name);
                // The name becomes a directory under reports/: keep it a plain file name.
                let plain = name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                if !plain || name.is_empty() || name.starts_with('.') {
                    return Err(ConfigError::InvalidValue {
                        at: ctx.loc(key.span()),
                        key: path,
                        value: format!("{name:?}"),
                        expected: "a scenario name of letters, digits, '-', '_' and '.' (it names its report directory), not starting with '.'".to_owned(),
                    });
                }
                scenarios.push(ctx.scenario(name, &path, value, &defaults, &base_dir)?);
            }
        }
        Ok(Config {
            path: path.to_owned(),
            defaults,
            scenarios,
        })
    }

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
            iterations_arg: None,
            settings: defaults.clone(),
            budgets: Vec::new(),
            env: BTreeMap::new(),
            cwd: None,
            build: None,
            base_dir: PathBuf::from("."),
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
        Ok(spec)
    }
}

type Value<'i> = Spanned<DeValue<'i>>;

/// The file being parsed, to turn byte spans into locations.
struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl<'a> Ctx<'a> {
    fn loc(&self, span: Range<usize>) -> Location {
        let start = span.start.min(self.text.len());
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Location {
            file: self.file.to_owned(),
            line,
            column,
        }
    }

    /// The entries of a table, failing on the first key not in `accepted`.
    fn entries<'t, 'i>(
        &self,
        table: &'t DeTable<'i>,
        path: &str,
        accepted: &[&str],
    ) -> Result<Vec<(&'t str, &'t Value<'i>)>, ConfigError> {
        ordered(table)
            .into_iter()
            .map(|(k, v)| {
                let key = k.get_ref().as_ref();
                if accepted.contains(&key) {
                    Ok((key, v))
                } else {
                    Err(ConfigError::UnknownKey {
                        at: self.loc(k.span()),
                        key: join(path, key),
                        expected: accepted.join(", "),
                    })
                }
            })
            .collect()
    }

    fn invalid(&self, key: &str, value: &Value<'_>, expected: impl Into<String>) -> ConfigError {
        ConfigError::InvalidValue {
            at: self.loc(value.span()),
            key: key.to_owned(),
            value: show(value),
            expected: expected.into(),
        }
    }

    fn table<'t, 'i>(
        &self,
        key: &str,
        value: &'t Value<'i>,
    ) -> Result<&'t DeTable<'i>, ConfigError> {
        value
            .get_ref()
            .as_table()
            .ok_or_else(|| self.invalid(key, value, "a table"))
    }

    fn string(&self, key: &str, value: &Value<'_>) -> Result<String, ConfigError> {
        value
            .get_ref()
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.invalid(key, value, "a string"))
    }

    fn bool(&self, key: &str, value: &Value<'_>) -> Result<bool, ConfigError> {
        value
            .get_ref()
            .as_bool()
            .ok_or_else(|| self.invalid(key, value, "true or false"))
    }

    fn strings(&self, key: &str, value: &Value<'_>) -> Result<Vec<String>, ConfigError> {
        let expected = "an array of strings, e.g. [\"--variant\", \"leaky\"]";
        let array = value
            .get_ref()
            .as_array()
            .ok_or_else(|| self.invalid(key, value, expected))?;
        array
            .iter()
            .map(|item| {
                item.get_ref()
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| self.invalid(key, item, expected))
            })
            .collect()
    }

    /// A non-empty argv.
    fn argv(&self, key: &str, value: &Value<'_>) -> Result<Vec<String>, ConfigError> {
        let argv = self.strings(key, value)?;
        if argv.first().is_none_or(|p| p.is_empty()) {
            return Err(self.invalid(
                key,
                value,
                "a program and its arguments, e.g. [\"target/release/loader-loop\"] (never a shell line)",
            ));
        }
        Ok(argv)
    }

    fn integer(value: &Value<'_>) -> Option<u64> {
        let int = value.get_ref().as_integer()?;
        u64::from_str_radix(int.as_str(), int.radix()).ok()
    }

    fn count(&self, key: &str, value: &Value<'_>) -> Result<u64, ConfigError> {
        Self::integer(value)
            .filter(|&n| n > 0)
            .ok_or_else(|| self.invalid(key, value, "a whole number above zero"))
    }

    fn duration(&self, key: &str, value: &Value<'_>) -> Result<Duration, ConfigError> {
        value
            .get_ref()
            .as_str()
            .and_then(parse_duration)
            .ok_or_else(|| {
                self.invalid(
                    key,
                    value,
                    format!("a duration with a unit: {DURATION_UNITS}"),
                )
            })
    }

    /// A duration above zero.
    fn period(&self, key: &str, value: &Value<'_>) -> Result<Duration, ConfigError> {
        let d = self.duration(key, value)?;
        if d.is_zero() {
            return Err(self.invalid(key, value, "a duration above zero"));
        }
        Ok(d)
    }

    /// A duration, where `"off"` (or zero) disables the check.
    fn optional_timeout(&self, key: &str, value: &Value<'_>) -> Result<Duration, ConfigError> {
        if value.get_ref().as_str() == Some("off") {
            return Ok(Duration::ZERO);
        }
        self.duration(key, value).map_err(|_| {
            self.invalid(
                key,
                value,
                format!("a duration with a unit ({DURATION_UNITS}) or \"off\""),
            )
        })
    }

    /// A size above zero, in the budget syntax (`"2 GiB"`, `"512 MiB"`, or bytes).
    fn size(&self, key: &str, value: &Value<'_>) -> Result<u64, ConfigError> {
        let text = match value.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Integer(i) => i.as_str().to_owned(),
            _ => return Err(self.invalid(key, value, SIZE_FORMS)),
        };
        // A peak budget is always a plain size (rates are refused for it).
        match Budget::parse(key, BudgetKind::Peak, &text) {
            Ok(budget) if budget.limit.bytes() >= 1.0 => Ok(budget.limit.bytes().round() as u64),
            Ok(_) => Err(self.invalid(key, value, "a size above zero")),
            Err(e) => Err(ConfigError::InvalidValue {
                at: self.loc(value.span()),
                key: key.to_owned(),
                value: format!("{} ({})", show(value), e.problem),
                expected: SIZE_FORMS.to_owned(),
            }),
        }
    }

    fn confidence(&self, key: &str, value: &Value<'_>) -> Result<f64, ConfigError> {
        let c = match value.get_ref() {
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            _ => None,
        };
        c.filter(|c| *c > 0.0 && *c < 1.0)
            .ok_or_else(|| self.invalid(key, value, "a number between 0 and 1, e.g. 0.99"))
    }

    fn warmup(&self, key: &str, value: &Value<'_>) -> Result<WarmUp, ConfigError> {
        let text = match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            DeValue::Integer(i) => Some(i.as_str().to_owned()),
            _ => None,
        };
        text.and_then(|t| t.parse::<WarmUp>().ok())
            .ok_or_else(|| self.invalid(key, value, WARMUP_FORMS))
    }

    /// Apply one of the [`DEFAULT_KEYS`] to `d`.
    fn set_default(
        &self,
        d: &mut Settings,
        path: &str,
        key: &str,
        value: &Value<'_>,
    ) -> Result<(), ConfigError> {
        match key {
            "timeout" => d.timeout = self.period(path, value)?,
            "no_progress_timeout" => d.no_progress_timeout = self.optional_timeout(path, value)?,
            "rss_interval" => d.rss_interval = self.period(path, value)?,
            "gpu_interval" => d.gpu_interval = self.period(path, value)?,
            "grace" => d.grace = self.duration(path, value)?,
            "confidence" => d.confidence = self.confidence(path, value)?,
            "warmup" => d.warmup = self.warmup(path, value)?,
            "ceiling" => d.ceiling = Some(self.size(path, value)?),
            "pss" => d.pss = self.bool(path, value)?,
            _ => unreachable!("key {key} was checked against DEFAULT_KEYS"),
        }
        Ok(())
    }

    fn scenario(
        &self,
        name: &str,
        path: &str,
        value: &Value<'_>,
        defaults: &Settings,
        base_dir: &Path,
    ) -> Result<ScenarioConfig, ConfigError> {
        let table = self.table(path, value)?;
        let mut s = ScenarioConfig::from_command(name, Vec::new(), defaults);
        s.base_dir = base_dir.to_owned();
        let mut has_command = false;
        for (key, v) in self.entries(table, path, &[SCENARIO_KEYS, DEFAULT_KEYS].concat())? {
            let k = join(path, key);
            match key {
                "description" => s.description = Some(self.string(&k, v)?),
                "command" => {
                    s.command = self.argv(&k, v)?;
                    has_command = true;
                }
                "build" => s.build = Some(self.argv(&k, v)?),
                "iterations" => s.iterations = Some(self.count(&k, v)?),
                "iterations_arg" => s.iterations_arg = Some(self.string(&k, v)?),
                "default_variant" => s.default_variant = Some(self.string(&k, v)?),
                "cwd" => s.cwd = Some(PathBuf::from(self.string(&k, v)?)),
                "variants" => {
                    for (variant, args) in ordered(self.table(&k, v)?) {
                        let variant = variant.get_ref().as_ref();
                        let args = self.strings(&join(&k, variant), args)?;
                        s.variants.insert(variant.to_owned(), args);
                    }
                }
                "env" => {
                    for (var, val) in ordered(self.table(&k, v)?) {
                        let var = var.get_ref().as_ref();
                        let val = self.string(&join(&k, var), val)?;
                        s.env.insert(var.to_owned(), val);
                    }
                }
                "budgets" => s.budgets = self.budgets(&k, v)?,
                _ => self.set_default(&mut s.settings, &k, key, v)?,
            }
        }
        if !has_command {
            return Err(ConfigError::Missing {
                at: self.loc(value.span()),
                key: join(path, "command"),
                expected:
                    "the program and its arguments, e.g. command = [\"target/release/loader-loop\"]"
                        .to_owned(),
            });
        }
        if let Some(v) = &s.default_variant
            && !s.variants.contains_key(v)
        {
            return Err(ConfigError::UnknownVariant {
                file: self.file.to_owned(),
                scenario: name.to_owned(),
                variant: v.clone(),
                known: list_or_none(s.variants.keys().map(String::as_str)),
            });
        }
        Ok(s)
    }

    fn budgets(&self, path: &str, value: &Value<'_>) -> Result<Vec<MetricBudget>, ConfigError> {
        let mut out = Vec::new();
        for (metric, limits) in ordered(self.table(path, value)?) {
            let name = metric.get_ref().as_ref();
            let metric_path = join(path, name);
            if !ALL_METRICS.contains(&name) {
                return Err(ConfigError::UnknownMetric {
                    at: self.loc(metric.span()),
                    key: metric_path,
                    metric: name.to_owned(),
                    known: ALL_METRICS.join(", "),
                });
            }
            let limits = self.table(&metric_path, limits).map_err(|_| {
                self.invalid(
                    &metric_path,
                    limits,
                    "a table of limits, e.g. { slope = \"64 KiB/iter\", peak = \"1 GiB\" }",
                )
            })?;
            for (kind, v) in self.entries(limits, &metric_path, BUDGET_KEYS)? {
                let key = join(&metric_path, kind);
                let kind = match kind {
                    "slope" => BudgetKind::Slope,
                    "growth" => BudgetKind::Growth,
                    "peak" => BudgetKind::Peak,
                    _ => BudgetKind::Retained,
                };
                let text = self.string(&key, v)?;
                let budget = Budget::parse(&key, kind, &text).map_err(|e| ConfigError::Budget {
                    at: self.loc(v.span()),
                    key: key.clone(),
                    value: show(v),
                    message: format!("{}; expected {}", e.problem, e.expected),
                })?;
                out.push(MetricBudget {
                    metric: name.to_owned(),
                    budget,
                    key,
                });
            }
        }
        Ok(out)
    }
}

/// The entries of a table in file order (the parsed map is sorted by key).
fn ordered<'t, 'i>(table: &'t DeTable<'i>) -> Vec<(&'t Spanned<Cow<'i, str>>, &'t Value<'i>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

/// `scenarios` + `loader-loop` -> `scenarios.loader-loop`; keys that are not bare
/// TOML keys (`alloc.allocated`) are quoted so the path reads back unambiguously.
fn join(path: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// A value as it would be written in TOML (strings quoted), shortened for messages.
fn show(value: &Value<'_>) -> String {
    let text = match value.get_ref() {
        DeValue::String(s) => format!("{:?}", s.as_ref()),
        DeValue::Integer(i) => i.as_str().to_owned(),
        DeValue::Float(f) => f.as_str().to_owned(),
        DeValue::Boolean(b) => b.to_string(),
        DeValue::Datetime(d) => d.to_string(),
        DeValue::Array(a) => format!("an array of {} item(s)", a.len()),
        DeValue::Table(_) => "a table".to_owned(),
    };
    if text.chars().count() > 80 {
        let short: String = text.chars().take(77).collect();
        format!("{short}...")
    } else {
        text
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
