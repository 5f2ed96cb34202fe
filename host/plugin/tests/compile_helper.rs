//! Compiling in a child process (src/compile_helper.rs, src/compile_job.rs):
//! the real helper's output loads, and a helper that fails, crashes, hangs,
//! or writes truncated, foreign or garbage code gets the new version
//! rejected with a one-line reason while the running version keeps
//! deciding. The bad helpers are shell scripts around the real one, told
//! what to do by a file, so one engine sees a good helper at load and a bad
//! one at reload.
mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{flow, variant, write_atomic};
use esprit_plugin::{CompileIn, EngineSettings, Helper, HotPolicy, PluginEngine};
use esprit_sadb::decider::PolicyDecider;

/// A helper script in `dir` that does what `dir/mode` says.
fn fake_helper(dir: &Path) -> Helper {
    let real = common::helper().program;
    let other = common::wasm("oe_policy");
    let script = dir.join("helper.sh");
    // Arguments: --out OUT --max-memory N --max-instances N.
    let text = format!(
        r#"#!/bin/sh
real='{real}'
case "$(cat '{mode}')" in
real) exec "$real" "$@" ;;
fail) cat >/dev/null; echo "fake helper: out of cheese" >&2; echo "second line" >&2; exit 3 ;;
crash) cat >/dev/null; kill -SEGV $$ ;;
hang) exec sleep 1000 ;;
garbage) cat >/dev/null; head -c 100000 /dev/urandom ;;
truncate)
    "$real" "$@" > '{dir}/whole' || exit $?
    head -c 5000 '{dir}/whole' ;;
other-code) cat >/dev/null; exec "$real" "$@" < '{other}' ;;
unwritable)
    if [ "$2" = - ]; then exec "$real" "$@"; fi
    cat >/dev/null; echo "writing $2: No space left on device" >&2; exit 74 ;;
other-engine) exec "$real" "$1" "$2" --max-memory 65536 "$5" "$6" ;;
esac
"#,
        real = real.display(),
        mode = dir.join("mode").display(),
        dir = dir.display(),
        other = other.display(),
    );
    fs::write(&script, text).expect("script");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
    Helper::new(PathBuf::from("/bin/sh"), [script])
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    hot: HotPolicy,
    code: Vec<u8>,
}

/// The allowlist plugin loaded through the fake helper in mode `real`,
/// with the compiled-plugin cache in `cache` (or off).
fn setup(cache: bool, timeout: Duration) -> Setup {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().to_path_buf();
    fs::write(dir.join("mode"), "real").expect("mode");
    let settings = |timeout| EngineSettings {
        cache_dir: cache.then(|| dir.join("cache")),
        compile_in: CompileIn::Helper(fake_helper(&dir)),
        compile_timeout: timeout,
        ..EngineSettings::default()
    };
    let code = fs::read(common::wasm("allowlist")).expect("allowlist");
    // A code hash no other test (nor an earlier run) compiled.
    write_atomic(&dir.join("p.wasm"), &variant(&code, std::process::id()));
    fs::write(dir.join("p.toml"), "name = \"al\"\npath = \"p.wasm\"\ndeadline_us = 2000000\n[config]\nallow = \"203.0.113.0/24\"\n").expect("spec");
    if cache && timeout < Duration::from_secs(60) {
        // The first compile, by the real helper, may take longer than a
        // short `timeout` under test on a loaded machine: done here without
        // one, it leaves the code in the cache for the engine under test.
        let warm = PluginEngine::new(&settings(Duration::from_secs(600))).expect("engine");
        HotPolicy::load(&warm, &dir.join("p.toml")).expect("load through the real helper");
    }
    let engine = PluginEngine::new(&settings(timeout)).expect("engine");
    let hot = HotPolicy::load(&engine, &dir.join("p.toml")).expect("load through the real helper");
    Setup { _tmp: tmp, dir, hot, code }
}

/// Switches the helper to `mode`, writes new code and reloads: the error.
fn reload_with(s: &Setup, mode: &str, n: u32) -> String {
    fs::write(s.dir.join("mode"), mode).expect("mode");
    write_atomic(&s.dir.join("p.wasm"), &variant(&s.code, n));
    let before = s.hot.version();
    let err = s.hot.reload_now().expect_err("a bad helper's output must be rejected").to_string();
    assert_eq!(s.hot.version(), before, "the running version was replaced");
    assert_eq!(s.hot.rejected(), 1);
    assert!(!err.contains('\n'), "not one line: {err}");
    assert!(err.len() < 1500, "{} bytes: {err}", err.len());
    // The old version still decides.
    let _ = s.hot.decide(&flow("tcp 10.0.0.1:1000 -> 203.0.113.5:443"));
    assert_eq!(s.hot.current().stats().faults(), 0);
    err
}

fn check(mode: &str, cache: bool, expect: &[&str]) {
    let s = setup(cache, Duration::from_secs(600));
    let err = reload_with(&s, mode, 1_000_000 + std::process::id());
    for e in expect {
        assert!(err.contains(e), "{mode}: {err:?} lacks {e:?}");
    }
    // With a good helper again the same files load.
    fs::write(s.dir.join("mode"), "real").expect("mode");
    assert_eq!(s.hot.reload_now().map_err(|e| e.to_string()), Ok(true));
}

#[test]
fn a_helper_that_exits_non_zero_is_reported_with_its_stderr() {
    check("fail", false, &["compiling it in a child process", "exited with status 3", "out of cheese second line"]);
}

#[test]
fn a_helper_that_crashes_is_reported_with_the_signal() {
    check("crash", true, &["killed by signal 11"]);
}

#[test]
fn a_truncated_artifact_is_refused() {
    check("truncate", false, &["unusable compiled code", "truncated or garbage"]);
}

#[test]
fn garbage_output_is_refused() {
    check("garbage", false, &["unusable compiled code", "not an esprit compiled component"]);
}

#[test]
fn an_artifact_of_other_code_is_refused_and_its_cache_entry_removed() {
    let s = setup(true, Duration::from_secs(600));
    let n = 2_000_000 + std::process::id();
    let err = reload_with(&s, "other-code", n);
    assert!(err.contains("compiled from other code"), "{err}");
    let cache: Vec<_> = fs::read_dir(s.dir.join("cache")).expect("cache").collect();
    assert_eq!(cache.len(), 1, "only the loaded version's entry stays: {cache:?}");
}

#[test]
fn an_artifact_of_another_engine_configuration_is_refused() {
    check("other-engine", false, &["another engine configuration"]);
    check("other-engine", true, &["another engine configuration"]);
}

#[test]
fn a_helper_that_hangs_is_killed_at_the_timeout() {
    // With the cache, so the first load is not itself under the 2 s limit.
    let s = setup(true, Duration::from_secs(2));
    assert!(s.dir.join("cache").exists(), "the warm-up compile filled the cache");
    let err = reload_with(&s, "hang", 3_000_000 + std::process::id());
    assert!(err.contains("did not finish within 2 s and was killed"), "{err}");
}

#[test]
fn an_invalid_component_is_a_compile_error_not_a_helper_failure() {
    let s = setup(false, Duration::from_secs(600));
    write_atomic(&s.dir.join("p.wasm"), &s.code[..s.code.len() / 2]);
    let err = s.hot.reload_now().expect_err("truncated component").to_string();
    assert!(err.starts_with("plugin al: not a valid WebAssembly component: "), "{err}");
    assert!(!err.contains("child process"), "{err}");
}

#[test]
fn a_cache_the_helper_cannot_write_does_not_reject_the_plugin() {
    let s = setup(true, Duration::from_secs(600));
    fs::write(s.dir.join("mode"), "unwritable").expect("mode");
    write_atomic(&s.dir.join("p.wasm"), &variant(&s.code, 4_000_000 + std::process::id()));
    assert_eq!(s.hot.reload_now().map_err(|e| e.to_string()), Ok(true));
    let _ = s.hot.decide(&flow("tcp 10.0.0.1:1000 -> 203.0.113.5:443"));
    assert_eq!(s.hot.current().stats().faults(), 0);
}

#[test]
fn a_missing_helper_falls_back_to_compiling_here() {
    let tmp = tempfile::tempdir().expect("tmp");
    let settings = EngineSettings {
        cache_dir: None,
        compile_in: CompileIn::Helper(Helper::new(tmp.path().join("no-such-helper"), Vec::<String>::new())),
        ..EngineSettings::default()
    };
    let engine = PluginEngine::new(&settings).expect("engine");
    let p = esprit_plugin::PolicyPlugin::load(&engine, common::spec("allowlist", "allowlist")).expect("compiled in this process");
    let _ = p.decide(&flow("tcp 10.0.0.1:1000 -> 203.0.113.5:443"));
    assert_eq!(p.stats().faults(), 0);
}
