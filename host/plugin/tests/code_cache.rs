//! The compiled-plugin cache on disk (src/code_cache.rs): a second engine
//! loads what the first compiled, and an entry or directory that someone
//! else could have written is never loaded.
mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{flow, spec};
use esprit_plugin::{CompileIn, EngineSettings, PluginEngine, PolicyPlugin};
use esprit_sadb::decider::PolicyDecider;

fn engine_with_cache(dir: &Path) -> PluginEngine {
    let compile_in = CompileIn::Helper(common::helper());
    PluginEngine::new(&EngineSettings { cache_dir: Some(dir.to_path_buf()), compile_in, ..EngineSettings::default() }).expect("engine")
}

fn entries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir).expect("cache dir").map(|e| e.expect("entry").path()).collect();
    v.sort();
    v
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).expect("stat").permissions().mode() & 0o7777
}

/// Loads the allowlist plugin and checks it decides.
fn load_and_decide(engine: &PluginEngine) {
    let p = PolicyPlugin::load(engine, spec("allowlist", "allowlist")).expect("load");
    assert_eq!(p.stats().faults(), 0);
    let _ = p.decide(&flow("tcp 10.0.0.1:1000 -> 203.0.113.5:443"));
    assert_eq!(p.stats().faults(), 0);
}

#[test]
fn a_second_engine_loads_the_entry_the_first_wrote() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache");
    let first = engine_with_cache(&dir);
    assert_eq!(first.cache_dir(), Some(dir.as_path()));
    assert_eq!(mode(&dir), 0o700);
    load_and_decide(&first);
    let written = entries(&dir);
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(mode(&written[0]), 0o600);
    let stamp = fs::metadata(&written[0]).expect("stat").modified().expect("mtime");

    // A new engine (a restart): the entry is read, not rewritten.
    load_and_decide(&engine_with_cache(&dir));
    assert_eq!(entries(&dir), written);
    assert_eq!(fs::metadata(&written[0]).expect("stat").modified().expect("mtime"), stamp);
}

#[test]
fn a_garbled_entry_is_recompiled_and_replaced() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache");
    load_and_decide(&engine_with_cache(&dir));
    let entry = entries(&dir).remove(0);
    let good = fs::read(&entry).expect("read");
    fs::write(&entry, b"\x7fELF not really").expect("garble");
    load_and_decide(&engine_with_cache(&dir));
    assert_eq!(fs::read(&entry).expect("read"), good, "the garbled entry was not replaced");
}

#[test]
fn entries_others_could_write_are_not_loaded() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("cache");
    load_and_decide(&engine_with_cache(&dir));
    let entry = entries(&dir).remove(0);
    let good = fs::read(&entry).expect("read");

    // World-writable entry: refused, recompiled, and replaced by a private one.
    fs::write(&entry, b"planted").expect("plant");
    fs::set_permissions(&entry, fs::Permissions::from_mode(0o666)).expect("chmod");
    load_and_decide(&engine_with_cache(&dir));
    assert_eq!(mode(&entry), 0o600);
    assert_eq!(fs::read(&entry).expect("read"), good);

    // A symlink in the entry's place: not followed, replaced by a file;
    // its target is untouched.
    let target = tmp.path().join("target");
    fs::write(&target, b"someone else's file").expect("target");
    fs::remove_file(&entry).expect("rm");
    std::os::unix::fs::symlink(&target, &entry).expect("symlink");
    load_and_decide(&engine_with_cache(&dir));
    assert!(fs::symlink_metadata(&entry).expect("stat").file_type().is_file());
    assert_eq!(fs::read(&target).expect("read"), b"someone else's file");
}

#[test]
fn a_directory_others_can_write_is_not_used() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("shared");
    fs::create_dir(&dir).expect("mkdir");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).expect("chmod");
    let engine = engine_with_cache(&dir);
    assert_eq!(engine.cache_dir(), None);
    load_and_decide(&engine);
    assert!(entries(&dir).is_empty());
}

#[test]
fn the_epoch_ticker_rests_while_no_plugin_runs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let engine = engine_with_cache(&tmp.path().join("cache"));
    let p = PolicyPlugin::load(&engine, spec("allowlist", "allowlist")).expect("load");
    // Wait (on events: the tick counter) until the ticker has parked: two
    // reads 200 ms apart that agree. It parks 50 ms after the last call.
    let mut last = engine.ticks();
    let mut rested = false;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let now = engine.ticks();
        if now == last {
            rested = true;
            break;
        }
        last = now;
    }
    assert!(rested, "the ticker kept ticking with no plugin call in progress");
    // A call wakes it, and deadlines still work (the hostile tests cover a
    // looping plugin being stopped).
    let _ = p.decide(&flow("tcp 10.0.0.1:1000 -> 203.0.113.5:443"));
    assert_eq!(p.stats().faults(), 0);
}
