//! The TOML walk behind [`Config::from_str`]: every key checked against the keys its
//! table accepts, every value against its expected form, each error with its location.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use leakcheck_analysis::budget::SIZE_FORMS;
use leakcheck_analysis::warmup::WARMUP_FORMS;
use leakcheck_analysis::{Budget, BudgetKind, WarmUp};
use leakcheck_records::known_metrics;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{
    Attribute, AttributionConfig, Config, ConfigError, DEFAULT_ATTRIBUTION_LENGTHS, Location,
    MetricBudget, Ratchet, ScenarioConfig, Settings, list_or_none,
};
use crate::units::{DURATION_UNITS, parse_duration};
use leakcheck_vocab::ValueUnit;

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
    "pss_interval",
    "attribute",
    "ratchet",
];
/// Keys only a scenario has; a scenario also takes every one of [`DEFAULT_KEYS`].
const SCENARIO_KEYS: &[&str] = &[
    "description",
    "command",
    "build",
    "iterations",
    "iterations_arg",
    "duration",
    "variants",
    "default_variant",
    "env",
    "cwd",
    "budgets",
    "attribution",
];
const ATTRIBUTION_KEYS: &[&str] = &["build", "command", "length_arg", "lengths", "per"];
/// Every budget kind's key, then `ratchet`: derived from [`BudgetKind::ALL`], so a new
/// kind is a key here without an edit.
const BUDGET_KEYS: [&str; BudgetKind::ALL.len() + 1] = {
    let mut keys = ["ratchet"; BudgetKind::ALL.len() + 1];
    let mut i = 0;
    while i < BudgetKind::ALL.len() {
        keys[i] = BudgetKind::ALL[i].as_str();
        i += 1;
    }
    keys
};

impl Config {
    /// Parse config text; `path` is used for messages and to resolve relative paths.
    #[allow(clippy::should_implement_trait)] // it needs the path too
    pub fn from_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let ctx = Ctx { file: path, text };
        let doc = DeTable::parse(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let mut message = e.message().trim().to_owned();
            // toml says "duplicate key" without the key: name it from the span.
            if let Some(key) = text
                .get(span.clone())
                .map(str::trim)
                .filter(|k| !k.is_empty())
                && message.starts_with("duplicate key")
            {
                let key: String = key.chars().take(60).collect();
                message = format!("{message} `{key}` (each key may appear once in a table)");
            }
            ConfigError::Syntax {
                at: ctx.loc(span),
                message,
            }
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
                if !leakcheck_vocab::names::is_plain_name(name) {
                    return Err(ConfigError::InvalidValue {
                        at: ctx.loc(key.span()),
                        key: path,
                        value: format!("{name:?}"),
                        expected: leakcheck_vocab::names::NAME_FORMS.to_owned(),
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

    /// `N`, or `{ min = N, max = M }` with 0 < N ≤ M: `(min, Some(max))`.
    fn count_range(
        &self,
        key: &str,
        value: &Value<'_>,
    ) -> Result<(Option<u64>, Option<u64>), ConfigError> {
        if value.get_ref().as_integer().is_some() {
            return Ok((None, Some(self.count(key, value)?)));
        }
        let form = "a count like 500, or { min = 200, max = 4000 }";
        self.range(key, value, form, |k, v| self.count(k, v))
    }

    /// `{ min = "4s", max = "30s" }` (min optional) with 0 < min ≤ max.
    fn duration_range(
        &self,
        key: &str,
        value: &Value<'_>,
    ) -> Result<(Option<Duration>, Option<Duration>), ConfigError> {
        let form = "a table like { min = \"4s\", max = \"30s\" }";
        self.range(key, value, form, |k, v| self.period(k, v))
    }

    /// A `{ min, max }` table (min optional, min ≤ max), each value read by `read`.
    fn range<T: PartialOrd + std::fmt::Debug>(
        &self,
        key: &str,
        value: &Value<'_>,
        form: &str,
        read: impl Fn(&str, &Value<'_>) -> Result<T, ConfigError>,
    ) -> Result<(Option<T>, Option<T>), ConfigError> {
        let table = value
            .get_ref()
            .as_table()
            .ok_or_else(|| self.invalid(key, value, form))?;
        let (mut min, mut max) = (None, None);
        for (k, v) in self.entries(table, key, &["min", "max"])? {
            let read = read(&join(key, k), v)?;
            if k == "min" {
                min = Some(read);
            } else {
                max = Some(read);
            }
        }
        match (min, max) {
            (_, None) => Err(ConfigError::Missing {
                at: self.loc(value.span()),
                key: join(key, "max"),
                expected: format!("the longest the run may go: {form}"),
            }),
            (Some(lo), Some(hi)) if lo > hi => Err(ConfigError::InvalidValue {
                at: self.loc(value.span()),
                key: join(key, "min"),
                value: format!("{lo:?}"),
                expected: format!("at most the max ({hi:?})"),
            }),
            range => Ok(range),
        }
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
            "pss_interval" => d.pss_interval = self.period(path, value)?,
            "attribute" => {
                d.attribute = self
                    .string(path, value)
                    .ok()
                    .and_then(|t| Attribute::parse(&t))
                    .ok_or_else(|| self.invalid(path, value, Attribute::FORMS))?;
            }
            "ratchet" => d.ratchet = self.ratchet(path, value, ValueUnit::Bytes)?,
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
                "iterations" => (s.min_iterations, s.iterations) = self.count_range(&k, v)?,
                "duration" => (s.min_duration, s.max_duration) = self.duration_range(&k, v)?,
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
                "budgets" => (s.budgets, s.ratchets) = self.budgets(&k, v)?,
                "attribution" => s.attribution = Some(self.attribution(&k, v)?),
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

    /// `[scenarios.NAME.attribution]`: `command` and `length_arg` required.
    fn attribution(&self, path: &str, value: &Value<'_>) -> Result<AttributionConfig, ConfigError> {
        let table = self.table(path, value)?;
        let mut a = AttributionConfig {
            build: None,
            command: Vec::new(),
            length_arg: String::new(),
            lengths: DEFAULT_ATTRIBUTION_LENGTHS,
            per: "iteration".to_owned(),
        };
        for (key, v) in self.entries(table, path, ATTRIBUTION_KEYS)? {
            let k = join(path, key);
            match key {
                "build" => a.build = Some(self.argv(&k, v)?),
                "command" => a.command = self.argv(&k, v)?,
                "length_arg" => a.length_arg = self.string(&k, v)?,
                "lengths" => {
                    let form = "two lengths, shorter first, e.g. [60, 120]";
                    let array = v
                        .get_ref()
                        .as_array()
                        .ok_or_else(|| self.invalid(&k, v, form))?;
                    let counts: Vec<u64> = array
                        .iter()
                        .map(|item| self.count(&k, item))
                        .collect::<Result<_, _>>()?;
                    match counts[..] {
                        [short, long] if short < long => a.lengths = [short, long],
                        _ => return Err(self.invalid(&k, v, form)),
                    }
                }
                _ => {
                    a.per = self.string(&k, v)?;
                    if a.per != "iteration" && a.per != "session" {
                        return Err(self.invalid(&k, v, "\"iteration\" or \"session\""));
                    }
                }
            }
        }
        for (key, missing, example) in [
            (
                "command",
                a.command.is_empty(),
                "[\"target/dhat/release/loader-loop\"]",
            ),
            ("length_arg", a.length_arg.is_empty(), "\"--iterations\""),
        ] {
            if missing {
                return Err(ConfigError::Missing {
                    at: self.loc(value.span()),
                    key: join(path, key),
                    expected: format!("the attribution variant's {key}, e.g. {example}"),
                });
            }
        }
        Ok(a)
    }

    /// A `ratchet` tolerance: a percentage, or an amount in the metric's unit.
    fn ratchet(
        &self,
        path: &str,
        value: &Value<'_>,
        unit: ValueUnit,
    ) -> Result<Ratchet, ConfigError> {
        self.string(path, value)
            .ok()
            .and_then(|t| Ratchet::parse(&t, unit))
            .ok_or_else(|| self.invalid(path, value, Ratchet::FORMS))
    }

    /// The `budgets` table, and the per-metric `ratchet` tolerances beside them.
    fn budgets(
        &self,
        path: &str,
        value: &Value<'_>,
    ) -> Result<(Vec<MetricBudget>, BTreeMap<String, Ratchet>), ConfigError> {
        let mut out = Vec::new();
        let mut ratchets = BTreeMap::new();
        for (metric, limits) in ordered(self.table(path, value)?) {
            let name = metric.get_ref().as_ref();
            let metric_path = join(path, name);
            // `rss.tree = { … }` unquoted is the table `rss` holding `tree`: say so.
            let dotted_hint = |first: &str| {
                known_metrics()
                    .into_iter()
                    .find(|m| m.starts_with(&format!("{first}.")))
                    .map(|m| {
                        format!(" (dotted metric names must be quoted in TOML: \"{m}\" = {{ … }})")
                    })
                    .unwrap_or_default()
            };
            if !known_metrics().contains(&name) {
                return Err(ConfigError::UnknownMetric {
                    at: self.loc(metric.span()),
                    key: metric_path,
                    metric: name.to_owned(),
                    known: format!("{}{}", known_metrics().join(", "), dotted_hint(name)),
                });
            }
            if let DeValue::Table(t) = limits.get_ref()
                && let Some((sub, _)) = t.iter().find(|(k, _)| {
                    known_metrics().contains(&format!("{name}.{}", k.get_ref()).as_str())
                })
            {
                let full = format!("{name}.{}", sub.get_ref());
                return Err(ConfigError::InvalidValue {
                    at: self.loc(sub.span()),
                    key: join(&metric_path, sub.get_ref()),
                    value: "a table".to_owned(),
                    expected: format!(
                        "a budget kind (slope, growth, peak, retained); for the metric {full} quote its name: \"{full}\" = {{ … }}"
                    ),
                });
            }
            let limits = self.table(&metric_path, limits).map_err(|_| {
                self.invalid(
                    &metric_path,
                    limits,
                    "a table of limits, e.g. { slope = \"64 KiB/iter\", peak = \"1 GiB\" }",
                )
            })?;
            for (kind, v) in self.entries(limits, &metric_path, &BUDGET_KEYS)? {
                let key = join(&metric_path, kind);
                if kind == "ratchet" {
                    let unit = leakcheck_records::unit_of(name);
                    ratchets.insert(name.to_owned(), self.ratchet(&key, v, unit)?);
                    continue;
                }
                // `entries` accepted only the budget keys and `ratchet` (handled above).
                let Some(kind) = BudgetKind::from_key(kind) else {
                    return Err(self.invalid(&key, v, BUDGET_KEYS.join(", ")));
                };
                let text = self.string(&key, v)?;
                let unit = leakcheck_records::unit_of(name);
                let parsed = Budget::parse_in(&key, kind, &text, unit);
                let budget = parsed.map_err(|e| ConfigError::Budget {
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
        Ok((out, ratchets))
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
        DeValue::Array(a) => {
            let items: Vec<String> = a.iter().map(show).collect();
            format!("[{}]", items.join(", "))
        }
        DeValue::Table(_) => "a table".to_owned(),
    };
    if text.chars().count() > 80 {
        let short: String = text.chars().take(77).collect();
        format!("{short}...")
    } else {
        text
    }
}
