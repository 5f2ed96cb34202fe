//! `esprit plugin new`: write a plugin project from a template. The
//! templates (`sdk/templates/`) and the live WIT (`sdk/wit/`) are built into
//! the binary, so an installed esprit scaffolds without its source tree.
use std::fmt;
use std::path::{Path, PathBuf};

/// The WIT version the templates are written against.
pub const TEMPLATE_WIT: &str = crate::v0_2::WIT_VERSION;

/// A template language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

impl Lang {
    /// Every language, as `--lang` names it.
    pub const ALL: [Lang; 3] = [Lang::Rust, Lang::Python, Lang::Js];

    /// `rust`, `python`, `js`.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }

    /// The language named `s` (`javascript` is `js`).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "rust" => Ok(Lang::Rust),
            "python" | "py" => Ok(Lang::Python),
            "js" | "javascript" => Ok(Lang::Js),
            _ => Err(format!("unknown language {s:?}: use rust, python or js")),
        }
    }

    /// The template files: (path in the project, text with placeholders).
    fn files(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::Rust => &[
                ("Cargo.toml", include_str!("../../../sdk/templates/rust/Cargo.toml")),
                ("src/lib.rs", include_str!("../../../sdk/templates/rust/src/lib.rs")),
                ("{{name}}.plugin.toml", include_str!("../../../sdk/templates/rust/plugin.toml")),
            ],
            Lang::Python => &[
                ("app.py", include_str!("../../../sdk/templates/python/app.py")),
                ("{{name}}.plugin.toml", include_str!("../../../sdk/templates/python/plugin.toml")),
            ],
            Lang::Js => &[
                ("app.js", include_str!("../../../sdk/templates/js/app.js")),
                ("package.json", include_str!("../../../sdk/templates/js/package.json")),
                ("{{name}}.plugin.toml", include_str!("../../../sdk/templates/js/plugin.toml")),
            ],
        }
    }

    /// The commands that build the project, run in its folder.
    pub fn build_commands(self, name: &str) -> Vec<String> {
        match self {
            Lang::Rust => vec!["cargo build --release --target wasm32-wasip2".into()],
            Lang::Python => vec![format!(
                "componentize-py -d wit -w esprit:plugin/policy@{TEMPLATE_WIT} componentize --stub-wasi app -o {name}.wasm"
            )],
            Lang::Js => vec!["npm install".into(), "npm run build".into()],
        }
    }

    /// What to install first, for the printed next steps.
    fn prerequisite(self) -> &'static str {
        match self {
            Lang::Rust => "rustup target add wasm32-wasip2",
            Lang::Python => "pip install componentize-py==0.25.1",
            Lang::Js => "node 18 or later and npm (`npm install` fetches componentize-js 0.23.0)",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Files shared by every template: the live WIT and a config to try it.
const COMMON: [(&str, &str); 5] = [
    ("wit/types.wit", include_str!("../../../sdk/wit/types.wit")),
    ("wit/host.wit", include_str!("../../../sdk/wit/host.wit")),
    ("wit/worlds.wit", include_str!("../../../sdk/wit/worlds.wit")),
    ("esprit.toml", include_str!("../../../sdk/templates/esprit.toml")),
    (".gitignore", "target/\nnode_modules/\n*.wasm\n__pycache__/\n"),
];

/// Why a project could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("plugin name {0:?}: use 1-64 lowercase letters, digits and `-`, starting with a letter")]
    BadName(String),
    #[error("{0} exists and is not empty: choose another --dir or name")]
    NotEmpty(PathBuf),
    #[error("writing {path}: {error}")]
    Write { path: PathBuf, error: std::io::Error },
}

/// A written project.
#[derive(Debug, Clone)]
pub struct Project {
    pub lang: Lang,
    pub name: String,
    pub dir: PathBuf,
    /// Files written, relative to `dir`.
    pub files: Vec<String>,
}

impl Project {
    /// The plugin spec file, relative to the project.
    pub fn spec_file(&self) -> String {
        format!("{}.plugin.toml", self.name)
    }

    /// The next commands, for the user to run.
    pub fn next_steps(&self) -> String {
        let mut s = format!("created {} plugin {} in {} ({} files)\n", self.lang, self.name, self.dir.display(), self.files.len());
        s.push_str(&format!("needs: {}\nnext:\n  cd {}\n", self.lang.prerequisite(), self.dir.display()));
        for c in self.lang.build_commands(&self.name) {
            s.push_str(&format!("  {c}\n"));
        }
        s.push_str(&format!("  esprit plugin check {}\n", self.spec_file()));
        s.push_str("  esprit policy test -c esprit.toml \"tcp 10.0.0.1:40000 -> 192.0.2.1:443\"\n");
        s.push_str("guide: docs/PLUGINS.md, \"Writing a plugin\"");
        s
    }
}

/// Check a plugin name: it becomes a Cargo package, an npm package and a
/// file name.
pub fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ScaffoldError::BadName(name.to_string()))
    }
}

fn fill(text: &str, name: &str) -> String {
    text.replace("{{name}}", name).replace("{{crate}}", &name.replace('-', "_"))
}

/// Write a `lang` project named `name` into `dir` (created; must be absent
/// or empty).
pub fn scaffold(lang: Lang, name: &str, dir: &Path) -> Result<Project, ScaffoldError> {
    check_name(name)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| ScaffoldError::Write { path, error }
    };
    if dir.exists() && std::fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
        return Err(ScaffoldError::NotEmpty(dir.to_path_buf()));
    }
    let mut files = Vec::new();
    for (rel, text) in lang.files().iter().chain(COMMON.iter()) {
        let rel = fill(rel, name);
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, fill(text, name)).map_err(io(&path))?;
        files.push(rel);
    }
    Ok(Project { lang, name: name.to_string(), dir: dir.to_path_buf(), files })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["p", "my-policy", "a1-b2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "1x", "My", "a_b", "a b", "../x", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_template_is_filled_and_written() {
        let base = std::env::temp_dir().join(format!("esprit-scaffold-{}", std::process::id()));
        for lang in Lang::ALL {
            let dir = base.join(lang.name());
            let p = scaffold(lang, "my-policy", &dir).expect("scaffold");
            assert!(p.files.contains(&"my-policy.plugin.toml".to_string()) && p.files.contains(&"wit/worlds.wit".to_string()));
            for f in &p.files {
                let text = std::fs::read_to_string(dir.join(f)).expect("read");
                assert!(!text.contains("{{"), "{lang} {f} has a placeholder left");
            }
            let worlds = std::fs::read_to_string(dir.join("wit/worlds.wit")).expect("wit");
            assert!(worlds.contains(&format!("package esprit:plugin@{TEMPLATE_WIT};")));
            assert!(p.next_steps().contains("esprit plugin check my-policy.plugin.toml"), "{}", p.next_steps());
            assert!(matches!(scaffold(lang, "my-policy", &dir), Err(ScaffoldError::NotEmpty(_))));
        }
        let rust = std::fs::read_to_string(base.join("rust/my-policy.plugin.toml")).expect("spec");
        assert!(rust.contains("path = \"target/wasm32-wasip2/release/my_policy.wasm\""), "{rust}");
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn languages_parse() {
        assert_eq!(Lang::parse("javascript"), Ok(Lang::Js));
        assert!(Lang::parse("cobol").is_err());
        for l in Lang::ALL {
            assert_eq!(Lang::parse(l.name()), Ok(l));
        }
    }
}
