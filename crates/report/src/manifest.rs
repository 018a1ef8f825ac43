//! `gate.json`: which scenarios a gate (or one shard of it) set out to run and which it
//! finished, so that `leakcheck merge` joins exactly those, notices a shard that was
//! killed half-way (a planned scenario that never finished is incomplete, not gone), and
//! accepts an empty shard. Also the `--partition K/N` a shard ran, and its parsing.

use std::path::{Path, PathBuf};

use leakcheck_vocab::names::{NAME_FORMS, is_plain_name};
use serde::{Deserialize, Serialize};

/// File name of the manifest in a gate's output folder.
pub const MANIFEST_FILE: &str = "gate.json";

/// What a gate planned and finished, written before its first scenario starts and again
/// after each one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateManifest {
    /// `--partition` as given (`1/2`, `hash:2/3`), or none.
    pub partition: Option<String>,
    /// Every scenario the gate set out to run, in order (absent in files written before
    /// it was recorded: then the finished ones are all there is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<Vec<String>>,
    /// The scenarios that finished, in order.
    pub scenarios: Vec<String>,
}

/// A manifest that cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a leakcheck gate manifest: {problem}; expected {{\"partition\": \"K/N\" or null, \"planned\": [names], \"scenarios\": [names]}}", path.display())]
    Invalid { path: PathBuf, problem: String },
}

impl GateManifest {
    /// The scenarios planned but not finished (a gate stopped or killed half-way).
    pub fn unfinished(&self) -> Vec<&str> {
        self.planned
            .iter()
            .flatten()
            .filter(|p| !self.scenarios.contains(p))
            .map(String::as_str)
            .collect()
    }

    /// The partition, parsed (`None` without one).
    pub fn partition(&self) -> Option<Result<Partition, String>> {
        self.partition.as_deref().map(Partition::parse)
    }

    /// Writes `dir/gate.json` (atomically: a killed gate leaves the last whole one).
    pub fn write(&self, dir: &Path) -> Result<(), ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let text = serde_json::to_string_pretty(self).unwrap_or_default() + "\n";
        crate::write_atomically(&path, text.as_bytes())
            .map_err(|source| ManifestError::Write { path, source })
    }

    /// Reads `dir/gate.json`; `None` when the folder has none (a gate from before it was
    /// written). Every name must be a plain folder name (a `../x` would make `merge`
    /// copy a folder from outside the shard), listed once, finished ones among the
    /// planned, and the partition a valid one.
    pub fn read(dir: &Path) -> Result<Option<GateManifest>, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ManifestError::Read { path, source }),
        };
        GateManifest::parse(&text, &path).map(Some)
    }

    /// A manifest's text, read and validated exactly as [`GateManifest::read`] does
    /// (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<GateManifest, ManifestError> {
        let invalid = |problem: String| ManifestError::Invalid {
            path: path.to_path_buf(),
            problem,
        };
        let manifest: GateManifest =
            serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        manifest.check().map_err(invalid)?;
        Ok(manifest)
    }

    /// The rules [`GateManifest::read`] enforces, as the problem found.
    pub fn check(&self) -> Result<(), String> {
        let lists = [
            ("planned", self.planned.as_deref()),
            ("scenarios", Some(&self.scenarios[..])),
        ];
        for (field, names) in lists {
            for (i, name) in names.into_iter().flatten().enumerate() {
                if !is_plain_name(name) {
                    return Err(format!("{field}[{i}] is {name:?}, not {NAME_FORMS}"));
                }
                if names.into_iter().flatten().take(i).any(|n| n == name) {
                    return Err(format!("{field} lists {name:?} twice"));
                }
            }
        }
        if let Some(planned) = &self.planned
            && let Some(stray) = self.scenarios.iter().find(|s| !planned.contains(s))
        {
            return Err(format!("scenarios lists {stray:?}, which is not planned"));
        }
        if let Some(Err(e)) = self.partition() {
            return Err(e);
        }
        Ok(())
    }
}

/// `--partition K/N`: cargo-nextest's convention. `count:K/N` (and plain `K/N`) takes every
/// N-th scenario in config order starting with the K-th; `hash:K/N` the scenarios whose
/// name hashes to K (stable across runs and machines: FNV-1a).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub by_hash: bool,
    pub shard: usize,
    pub of: usize,
}

impl Partition {
    /// The forms errors list.
    pub const FORMS: &'static str = "K/N with 1 ≤ K ≤ N, optionally as count:K/N or hash:K/N";

    /// Parses `K/N`, `count:K/N` or `hash:K/N`; the error names the text.
    pub fn parse(text: &str) -> Result<Partition, String> {
        let bad = || format!("invalid partition {text:?}: expected {}", Self::FORMS);
        let (by_hash, rest) = match text.split_once(':') {
            Some(("count", rest)) => (false, rest),
            Some(("hash", rest)) => (true, rest),
            Some(_) => return Err(bad()),
            None => (false, text),
        };
        let (k, n) = rest.split_once('/').ok_or_else(bad)?;
        let (shard, of): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if shard == 0 || of == 0 || shard > of {
            return Err(bad());
        }
        Ok(Partition { by_hash, shard, of })
    }

    /// The items of this shard, in order.
    pub fn select<T>(&self, items: Vec<T>, name: impl Fn(&T) -> &str) -> Vec<T> {
        items
            .into_iter()
            .enumerate()
            .filter(|(i, item)| {
                let bucket = if self.by_hash {
                    (fnv1a(name(item).as_bytes()) % self.of as u64) as usize
                } else {
                    i % self.of
                };
                bucket + 1 == self.shard
            })
            .map(|(_, item)| item)
            .collect()
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_cover_every_scenario_exactly_once() {
        let names: Vec<String> = (0..7).map(|i| format!("scenario-{i}")).collect();
        for form in ["", "count:", "hash:"] {
            let mut seen: Vec<String> = Vec::new();
            for k in 1..=3 {
                let p = Partition::parse(&format!("{form}{k}/3")).unwrap();
                seen.extend(p.select(names.clone(), |s| s.as_str()));
            }
            seen.sort();
            assert_eq!(seen, names, "{form}");
        }
        assert_eq!(
            Partition::parse("1/2")
                .unwrap()
                .select(vec!["a", "b", "c"], |s| s),
            vec!["a", "c"]
        );
    }

    #[test]
    fn bad_partitions_are_errors_naming_the_value() {
        for bad in ["0/2", "3/2", "1/0", "2", "x/2", "slice:1/2", ""] {
            let e = Partition::parse(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn a_manifest_names_only_plain_folders_once_each() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok = GateManifest {
            partition: Some("1/2".into()),
            planned: Some(names(&["a", "b"])),
            scenarios: names(&["a"]),
        };
        assert_eq!(ok.check(), Ok(()));
        assert_eq!(ok.unfinished(), ["b"]);
        for bad in [
            GateManifest {
                scenarios: names(&["../../x/flat"]),
                ..Default::default()
            },
            GateManifest {
                scenarios: names(&["a", "a"]),
                ..Default::default()
            },
            GateManifest {
                planned: Some(names(&["a"])),
                scenarios: names(&["b"]),
                ..Default::default()
            },
            GateManifest {
                partition: Some("3/2".into()),
                ..Default::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}
