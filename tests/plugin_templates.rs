//! The plugin templates, used the way a plugin author would: `esprit plugin
//! new --lang L NAME`, build with the language's own tool, `esprit plugin
//! check`, then a decision through `esprit policy test` with the generated
//! `esprit.toml`. A missing tool (cargo's wasm32-wasip2 target,
//! componentize-py, node/npm) skips with a printed reason on a developer
//! machine and FAILS under CI=true (.ci/run installs them).
//!
//! JavaScript: `npm install` is stood in for by linking `node_modules` to
//! the pinned tools in scripts/js-tools (installed by `npm ci`), so the test
//! does not download the same packages on every run.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use esprit_plugin::scaffold::Lang;
use support::{esprit_bin, require, Scratch};

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `esprit ARGS` in `dir`, sharing one compiled-plugin cache per test (the
/// check compiles, `policy test` loads from the cache).
fn esprit(dir: &Path, cache: &Path, args: &[&str]) -> Output {
    Command::new(esprit_bin()).args(args).current_dir(dir).env("ESPRIT_WASM_CACHE", cache).output().expect("run esprit")
}

/// The tools `lang` needs, or `None` (skipped) on a developer machine.
fn tools_or_skip(lang: Lang) -> Option<()> {
    let found = match lang {
        Lang::Rust => esprit_plugin::build::ensure_wasm_target().map(drop),
        Lang::Python => esprit_plugin::lang_tools::componentize_py().map(drop),
        Lang::Js => esprit_plugin::lang_tools::js_node_modules().map(drop),
    };
    let what = match &found {
        Ok(()) => String::new(),
        Err(e) => format!("{lang} plugin tools: {e}"),
    };
    require(found.is_ok(), &what).then_some(())
}

/// Run the template's build commands in `dir`.
fn build(lang: Lang, name: &str, dir: &Path) {
    for cmd in lang.build_commands(name) {
        if lang == Lang::Js && cmd == "npm install" {
            let modules = esprit_plugin::lang_tools::js_node_modules().expect("js tools");
            std::os::unix::fs::symlink(modules, dir.join("node_modules")).expect("link node_modules");
            continue;
        }
        let mut c = Command::new("sh");
        c.args(["-c", &cmd]).current_dir(dir);
        if lang == Lang::Rust {
            // As a user's shell would: none of the outer cargo's settings.
            for var in ["CARGO_TARGET_DIR", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_MANIFEST_DIR"] {
                c.env_remove(var);
            }
        }
        let out = c.output().expect("run build command");
        assert!(out.status.success(), "{lang}: `{cmd}` failed:\n{}", text(&out));
    }
}

fn template_builds_checks_and_decides(lang: Lang) {
    if tools_or_skip(lang).is_none() {
        return;
    }
    let scratch = Scratch::new(&format!("plugin-template-{lang}"));
    let name = format!("my-{lang}-policy");
    let dir = scratch.path(&name);
    let cache = scratch.path("wasm-cache");

    let out = esprit(&scratch.0, &cache, &["plugin", "new", "--lang", lang.name(), &name]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains(&format!("esprit plugin check {name}.plugin.toml")), "{said}");
    for cmd in lang.build_commands(&name) {
        assert!(said.contains(&cmd), "next steps lack `{cmd}`: {said}");
    }

    build(lang, &name, &dir);

    let spec = format!("{name}.plugin.toml");
    let out = esprit(&dir, &cache, &["plugin", "check", &spec]);
    let check = text(&out);
    assert!(out.status.success(), "{check}");
    assert!(check.contains("world       policy (esprit:plugin@0.2.0)"), "{check}");
    assert!(check.contains("esprit:plugin/host@0.2.0") && check.contains("esprit:plugin/types@0.2.0"), "{check}");
    // componentize-py also exports an (empty) `exports` instance.
    let exports = check.lines().find_map(|l| l.trim_start().strip_prefix("exports")).unwrap_or_default();
    assert!(exports.contains("init") && exports.contains("decide") && !exports.contains("sa-key"), "{check}");
    assert!(check.contains(&format!("198.51.100.1:443: Protect([SaRequest {{ proto: Esp, mode: Transport, tunnel: None, level: Require }}]): {name}: port 443 protected")), "{check}");

    let decide = |flow: &str| {
        let out = esprit(&dir, &cache, &["policy", "test", "-c", "esprit.toml", flow]);
        let said = text(&out);
        assert!(out.status.success(), "{said}");
        said
    };
    // The spec's config protects 443 and 8443, one SA per port.
    let web = decide("tcp 10.0.0.1:40000 -> 192.0.2.1:8443");
    assert!(web.contains(&format!("via decider '{name}'")) && web.contains(&format!("{name}: port 8443 protected")), "{web}");
    assert!(web.contains("(sa key 0x20fb)"), "one SA per port (8443 = 0x20fb): {web}");
    let dns = decide("udp 10.0.0.1:5000 -> 192.0.2.1:53");
    assert!(dns.contains("discard") && dns.contains(&format!("{name}: port 53 not listed")), "{dns}");
    let ping = decide("icmp 10.0.0.1 -> 192.0.2.1");
    assert!(ping.contains(&format!("{name}: icmp in the clear")), "{ping}");
}

#[test]
fn rust_template_builds_checks_and_decides() {
    template_builds_checks_and_decides(Lang::Rust);
}

#[test]
fn python_template_builds_checks_and_decides() {
    template_builds_checks_and_decides(Lang::Python);
}

#[test]
fn js_template_builds_checks_and_decides() {
    template_builds_checks_and_decides(Lang::Js);
}

#[test]
fn a_bad_name_or_language_or_a_full_folder_is_refused_in_one_line() {
    let scratch = Scratch::new("plugin-template-bad");
    let cache = scratch.path("wasm-cache");
    for (args, want) in [
        (vec!["plugin", "new", "--lang", "cobol", "p"], "unknown language \"cobol\""),
        (vec!["plugin", "new", "--lang", "rust", "Bad_Name"], "plugin name \"Bad_Name\""),
    ] {
        let out = esprit(&scratch.0, &cache, &args);
        let e = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{e}");
        assert!(e.contains(want) && e.trim_end().lines().count() == 1, "{e}");
    }
    std::fs::create_dir_all(scratch.path("full")).expect("dir");
    std::fs::write(scratch.path("full/keep.txt"), b"mine").expect("file");
    let out = esprit(&scratch.0, &cache, &["plugin", "new", "--lang", "python", "p", "--dir", "full"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists and is not empty"));
    assert_eq!(std::fs::read(scratch.path("full/keep.txt")).expect("kept"), b"mine");
}
