//! Per-plugin settings and the plugin spec file (TOML).
//!
//! ```toml
//! name = "allowlist"
//! path = "allowlist.wasm"      # relative to the spec file's directory
//! deadline_us = 1000           # per call (default 1 ms)
//! memory_mib = 16              # linear memory cap (default 16 MiB)
//! on_failure = "discard"       # or "bypass" (fail open); default fail closed
//! quarantine_after = 5         # consecutive faults before quarantine
//! quarantine_ms = 1000         # quarantine length, then re-instantiate
//! self_check = true            # decide a probe flow before accepting a load
//!
//! [config]                     # the plugin's own section (host.config-get)
//! allow = ["10.0.0.0/8", "192.0.2.0/24:443"]
//!
//! [config_files]               # more config keys, each the UTF-8 text of a file
//! ca = "cacert.pem"            # (path relative to the spec file's directory)
//! ```
//!
//! Unknown keys are errors that list the valid ones; every error names
//! `file:line:col` and none quotes the file (a spec may hold a PSK).
//!
//! `[config]` values are flattened by [`flatten_section`]; a nested table
//! (`[config.secrets.b]`) becomes dotted keys (`secrets.b.secret`).
//! `[config_files]` entries are read when the spec is parsed (at load and at
//! every reload of the spec) and appear through `host.config-get` under their
//! own key, so a plugin cannot tell them from inline text (e.g. the x509-auth
//! plugin's `ca`). A key may be in one of the two tables, not both. A hot
//! reload follows the spec, the `.wasm` and these files.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use esprit_sadb::decider::Verdict;
use serde::Deserialize;
use toml::Spanned;

use crate::error::PluginError;

/// The verdict a faulting plugin's flows get (`on_failure = "discard"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureVerdict {
    /// Fail closed (default).
    Discard,
    /// Fail open.
    Bypass,
}

impl FailureVerdict {
    /// The SPD verdict.
    pub fn verdict(self) -> Verdict {
        match self {
            FailureVerdict::Discard => Verdict::Discard,
            FailureVerdict::Bypass => Verdict::Bypass,
        }
    }
}

/// Limits and failure behaviour of one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSettings {
    /// Per-call deadline (epoch interruption).
    pub deadline: Duration,
    /// Deadline of `init` (instantiation-time work).
    pub init_deadline: Duration,
    /// Linear memory cap in bytes.
    pub memory_limit: usize,
    /// Verdict on a fault.
    pub on_failure: FailureVerdict,
    /// How long the SPD may cache a failure verdict.
    pub failure_cache_ttl: Duration,
    /// Consecutive faults before the plugin is quarantined.
    pub quarantine_after: u32,
    /// How long a quarantine lasts before re-instantiation is tried.
    pub quarantine_for: Duration,
    /// Run one probe decision at load time and reject the plugin if it faults.
    pub self_check: bool,
}

impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings {
            deadline: Duration::from_millis(1),
            init_deadline: Duration::from_secs(1),
            memory_limit: 16 << 20,
            on_failure: FailureVerdict::Discard,
            failure_cache_ttl: Duration::from_secs(1),
            quarantine_after: 5,
            quarantine_for: Duration::from_secs(1),
            self_check: true,
        }
    }
}

/// One plugin as the operator configured it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSpec {
    /// Name used in logs, status and `policy test`.
    pub name: String,
    /// Path of the `.wasm` component.
    pub path: PathBuf,
    /// Limits and failure behaviour.
    pub settings: PluginSettings,
    /// The plugin's own config section, flattened (see [`flatten_section`]).
    pub config: BTreeMap<String, String>,
    /// The files named by `[config_files]` (their text is in `config`); the
    /// hot-reload watcher follows them with the spec and the `.wasm`.
    pub config_files: Vec<PathBuf>,
}

impl PluginSpec {
    /// A spec with default settings and an empty config section.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        PluginSpec { name: name.into(), path: path.into(), settings: PluginSettings::default(), config: BTreeMap::new(), config_files: Vec::new() }
    }

    /// Builder: set one config key.
    pub fn with_config(mut self, key: &str, value: &str) -> Self {
        self.config.insert(key.to_string(), value.to_string());
        self
    }

    /// Parse a spec file; a relative `path` is resolved against `base_dir`.
    /// Errors name `file:line:col` and never quote the file's text (a spec
    /// may hold a PSK).
    pub fn from_toml(text: &str, base_dir: &Path, file: &Path) -> Result<Self, PluginError> {
        let bad = |reason: String| PluginError::Config { path: file.to_path_buf(), reason };
        let raw: SpecFile = toml::from_str(text).map_err(|e| bad(crate::toml_error::describe(file, text, &e)))?;
        let at = |offset: usize| crate::toml_error::at(file, text, Some(offset));
        let mut spec = PluginSpec::new(raw.name, base_dir.join(raw.path));
        let d = PluginSettings::default();
        spec.settings = PluginSettings {
            deadline: raw.deadline_us.map_or(d.deadline, |us| Duration::from_micros(us.max(1))),
            init_deadline: raw.init_deadline_ms.map_or(d.init_deadline, |ms| Duration::from_millis(ms.max(1))),
            memory_limit: raw.memory_mib.map_or(d.memory_limit, |m| usize::try_from(m).unwrap_or(usize::MAX).saturating_mul(1 << 20)),
            on_failure: raw.on_failure.unwrap_or(d.on_failure),
            failure_cache_ttl: raw.failure_cache_ms.map_or(d.failure_cache_ttl, Duration::from_millis),
            quarantine_after: raw.quarantine_after.map_or(d.quarantine_after, |n| n.max(1)),
            quarantine_for: raw.quarantine_ms.map_or(d.quarantine_for, Duration::from_millis),
            self_check: raw.self_check.unwrap_or(d.self_check),
        };
        let section = raw.config.get_ref();
        spec.config = flatten_section(section).map_err(|e| bad(format!("{}: {e}", at(raw.config.span().start))))?;
        for (k, rel) in &raw.config_files {
            if spec.config.contains_key(k) {
                return Err(bad(format!("{}: config key `{k}` is set in both [config] and [config_files]; keep one", at(rel.span().start))));
            }
            let path = base_dir.join(rel.get_ref());
            let text = std::fs::read_to_string(&path)
                .map_err(|e| bad(format!("{}: config_files `{k}`: cannot read {} as UTF-8 text: {e}", at(rel.span().start), path.display())))?;
            spec.config.insert(k.clone(), text);
            spec.config_files.push(path);
        }
        Ok(spec)
    }
}

/// A spec file as written (see the module doc); unknown keys are errors
/// that list the valid ones.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    name: String,
    path: PathBuf,
    deadline_us: Option<u64>,
    init_deadline_ms: Option<u64>,
    memory_mib: Option<u64>,
    quarantine_after: Option<u32>,
    quarantine_ms: Option<u64>,
    failure_cache_ms: Option<u64>,
    self_check: Option<bool>,
    on_failure: Option<FailureVerdict>,
    #[serde(default = "empty_table")]
    config: Spanned<toml::Table>,
    #[serde(default)]
    config_files: BTreeMap<String, Spanned<String>>,
}

fn empty_table() -> Spanned<toml::Table> {
    Spanned::new(0..0, toml::Table::new())
}

/// Flatten a plugin's config section for `host.config-get`: strings as they
/// are, numbers/booleans/datetimes in TOML syntax, arrays of scalars joined
/// with ","; nested tables become dotted keys (`a.b.c`); tables inside
/// arrays are rejected.
pub fn flatten_section(section: &toml::Table) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    flatten_into(section, "", &mut out)?;
    Ok(out)
}

fn flatten_into(section: &toml::Table, prefix: &str, out: &mut BTreeMap<String, String>) -> Result<(), String> {
    fn scalar(key: &str, v: &toml::Value) -> Result<String, String> {
        match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            toml::Value::Datetime(d) => Ok(d.to_string()),
            _ => Err(format!("config `{key}`: only scalars and arrays of scalars are allowed")),
        }
    }
    for (key, v) in section {
        let key = format!("{prefix}{key}");
        let s = match v {
            toml::Value::Table(t) => {
                flatten_into(t, &format!("{key}."), out)?;
                continue;
            }
            toml::Value::Array(items) => items.iter().map(|i| scalar(&key, i)).collect::<Result<Vec<_>, _>>()?.join(","),
            other => scalar(&key, other)?,
        };
        out.insert(key, s);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PluginSpec, PluginError> {
        PluginSpec::from_toml(text, Path::new("/etc/esprit"), Path::new("/etc/esprit/p.toml"))
    }

    #[test]
    fn full_spec() {
        let s = parse(
            "name = \"a\"\npath = \"a.wasm\"\ndeadline_us = 500\nmemory_mib = 32\non_failure = \"bypass\"\n\
             quarantine_after = 3\nself_check = false\n[config]\nallow = [\"10.0.0.0/8\", \"192.0.2.1\"]\nport = 443\n",
        )
        .expect("parse");
        assert_eq!(s.path, PathBuf::from("/etc/esprit/a.wasm"));
        assert_eq!(s.settings.deadline, Duration::from_micros(500));
        assert_eq!(s.settings.memory_limit, 32 << 20);
        assert_eq!(s.settings.on_failure, FailureVerdict::Bypass);
        assert_eq!(s.settings.quarantine_after, 3);
        assert!(!s.settings.self_check);
        assert_eq!(s.config["allow"], "10.0.0.0/8,192.0.2.1");
        assert_eq!(s.config["port"], "443");
    }

    #[test]
    fn defaults_fail_closed() {
        let s = parse("name = \"a\"\npath = \"/x.wasm\"").expect("parse");
        assert_eq!(s.settings, PluginSettings::default());
        assert_eq!(s.settings.on_failure.verdict(), Verdict::Discard);
    }

    #[test]
    fn bad_specs_rejected() {
        for bad in [
            "path = \"a.wasm\"",
            "name = \"a\"",
            "name = \"a\"\npath = \"a\"\nbogus = 1",
            "name = \"a\"\npath = \"a\"\ndeadline_us = -1",
            "name = \"a\"\npath = \"a\"\non_failure = \"maybe\"",
            "name = \"a\"\npath = \"a\"\n[config]\nt = [{ x = 1 }]",
            "name = \"a\"\npath = \"a\"\n[config_files]\nca = 3",
            "name = \"a\"\npath = \"a\"\n[config_files]\nca = \"/nonexistent/ca.pem\"",
            "name = \"a\"\npath = \"a\"\nconfig = 3",
            "name = ",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_file_line_col_and_what_was_expected() {
        let e = parse("name = \"a\"\npath = \"a\"\ndeadline = 5\n").unwrap_err().to_string();
        assert!(e.contains("/etc/esprit/p.toml:3:1: unknown field `deadline`, expected one of `name`, `path`, `deadline_us`"), "{e}");
        let e = parse("name = \"a\"\npath = \"a\"\non_failure = \"maybe\"\n").unwrap_err().to_string();
        assert!(e.contains("p.toml:3:14: unknown variant `maybe`, expected `discard` or `bypass`"), "{e}");
        let e = parse("name = \"a\"\npath = \"a\"\n[config]\nt = [{ x = 1 }]\n").unwrap_err().to_string();
        assert!(e.contains("p.toml:3:1: config `t`: only scalars"), "{e}");
        // A mistyped value is not quoted (it may be a PSK).
        let e = parse("name = \"a\"\npath = \"a\"\nmemory_mib = \"SECRET\"\n").unwrap_err().to_string();
        assert!(e.contains("p.toml:3:14:") && !e.contains("SECRET"), "{e}");
    }

    #[test]
    fn nested_tables_flatten_to_dotted_keys() {
        let s = parse("name = \"a\"\npath = \"a\"\n[config.secrets.b]\nid = \"b.example\"\nsecret = \"x, y\"\n").expect("parse");
        assert_eq!(s.config["secrets.b.id"], "b.example");
        assert_eq!(s.config["secrets.b.secret"], "x, y");
    }

    #[test]
    fn config_files_are_read_relative_to_the_spec() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.pem"), "-----BEGIN CERTIFICATE-----\n").expect("write");
        let text = "name = \"a\"\npath = \"a.wasm\"\n[config]\nx = 1\n[config_files]\nca = \"ca.pem\"\n";
        let s = PluginSpec::from_toml(text, dir.path(), &dir.path().join("p.toml")).expect("parse");
        assert_eq!(s.config["ca"], "-----BEGIN CERTIFICATE-----\n");
        assert_eq!(s.config["x"], "1");
        let both = "name = \"a\"\npath = \"a.wasm\"\n[config]\nca = \"inline\"\n[config_files]\nca = \"ca.pem\"\n";
        let err = PluginSpec::from_toml(both, dir.path(), &dir.path().join("p.toml")).expect_err("both");
        assert!(err.to_string().contains("both [config] and [config_files]"), "{err}");
        let missing = "name = \"a\"\npath = \"a.wasm\"\n[config_files]\nca = \"nope.pem\"\n";
        let err = PluginSpec::from_toml(missing, dir.path(), &dir.path().join("p.toml")).expect_err("missing");
        assert!(err.to_string().contains("nope.pem") && err.to_string().contains("p.toml"), "{err}");
    }
}
