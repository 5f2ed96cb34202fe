//! Hot reload: in-place writes, rename-over, the Kubernetes ConfigMap
//! layout, bad files, and 100 swaps under continuous classification.
mod common;

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{engine, flow, wasm};
use esprit_plugin::HotPolicy;
use esprit_sadb::decider::{PolicyDecider, Verdict};

fn spec_text(wasm_path: &str, tag: &str) -> String {
    format!("name = \"hot\"\npath = \"{wasm_path}\"\ndeadline_us = 100000\n[config]\nallow = [\"0.0.0.0/0\"]\ntag = \"{tag}\"\n")
}

fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text).expect("write tmp");
    fs::rename(&tmp, path).expect("rename over");
}

fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

fn tag_of(explanation: &str) -> Option<u64> {
    let rest = explanation.strip_prefix("allowlist[v")?;
    rest.split(']').next()?.parse().ok()
}

#[test]
fn hundred_swaps_while_classifying_lose_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    fs::copy(wasm("allowlist"), dir.path().join("allowlist.wasm")).expect("copy");
    let spec_file = dir.path().join("hot.toml");
    write_atomic(&spec_file, &spec_text("allowlist.wasm", "v0"));
    let hot = Arc::new(HotPolicy::watch(&engine(), &spec_file).expect("watch"));

    let generation = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let decided = Arc::new(AtomicU64::new(0));
    let classifier = {
        let (hot, generation, stop, decided) = (hot.clone(), generation.clone(), stop.clone(), decided.clone());
        std::thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(Ordering::Acquire) {
                // Read the generation *before* deciding: the decision must be
                // from that generation or the one being swapped in.
                let g = generation.load(Ordering::Acquire);
                i = i.wrapping_add(1);
                let f = flow(&format!("tcp 10.0.0.1:{} -> 198.51.100.{}:443", 1024 + i % 60000, i % 250));
                let d = hot.decide(&f);
                assert!(matches!(d.verdict, Verdict::Protect(_)), "lost flow: {d:?}");
                let tag = tag_of(&d.explanation).unwrap_or_else(|| panic!("not from the plugin: {}", d.explanation));
                assert!(tag == g || tag == g + 1, "decision from v{tag} while generation {g} is current");
                decided.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    for g in 1..=100u64 {
        let before = hot.version();
        write_atomic(&spec_file, &spec_text("allowlist.wasm", &format!("v{g}")));
        assert!(wait_for(|| hot.version() != before), "swap {g} not seen; last error {:?}", hot.last_error());
        // Once the swap is visible, new flows must use the new version.
        generation.store(g, Ordering::Release);
        let d = hot.decide(&flow("tcp 10.0.0.9:9 -> 198.51.100.9:443"));
        assert_eq!(tag_of(&d.explanation), Some(g));
    }
    stop.store(true, Ordering::Release);
    classifier.join().expect("classifier: every decision from the old or new version");
    assert_eq!(hot.swaps(), 100);
    assert!(decided.load(Ordering::Relaxed) > 100, "classifier made {} decisions", decided.load(Ordering::Relaxed));
}

#[test]
fn in_place_write_of_the_wasm_swaps_and_a_bad_file_keeps_the_old_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let code = dir.path().join("policy.wasm");
    fs::copy(wasm("allowlist"), &code).expect("copy");
    let spec_file = dir.path().join("hot.toml");
    fs::write(&spec_file, spec_text("policy.wasm", "v1")).expect("spec");
    let hot = HotPolicy::watch(&engine(), &spec_file).expect("watch");
    let ssh = flow("tcp 10.0.0.1:4000 -> 10.0.0.2:22");
    assert!(hot.decide(&ssh).explanation.starts_with("allowlist[v1]"));

    // Bad file written in place: rejected, the old plugin keeps deciding.
    let good = fs::read(&code).expect("read");
    fs::write(&code, &good[..good.len() / 3]).expect("truncate in place");
    assert!(wait_for(|| hot.last_error().is_some()), "bad file not noticed");
    let err = hot.last_error().expect("error");
    assert!(err.contains("not a valid WebAssembly component"), "{err}");
    assert!(hot.decide(&ssh).explanation.starts_with("allowlist[v1]"));
    assert_eq!(hot.swaps(), 0);

    // A different plugin written in place: swapped in.
    fs::write(&code, fs::read(wasm("raw-wit")).expect("raw")).expect("write in place");
    assert!(wait_for(|| hot.decide(&ssh).explanation.starts_with("raw-wit")), "in-place write not picked up");
    // A watcher event may have caught the write half done; once the file is
    // whole again the error clears.
    assert!(wait_for(|| hot.last_error().is_none()), "{:?}", hot.last_error());
}

#[test]
fn kubernetes_configmap_symlink_swap_is_followed() {
    // Layout: hot.toml -> ..data/hot.toml, policy.wasm -> ..data/policy.wasm,
    // ..data -> ..v1 (swapped atomically by renaming a new symlink over it).
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path();
    let publish = |version: &str, tag: &str, plugin: &str| {
        let d = root.join(format!("..{version}"));
        fs::create_dir(&d).expect("mkdir");
        fs::write(d.join("hot.toml"), spec_text("policy.wasm", tag)).expect("spec");
        fs::copy(wasm(plugin), d.join("policy.wasm")).expect("copy");
        let tmp = root.join("..data_tmp");
        std::os::unix::fs::symlink(format!("..{version}"), &tmp).expect("symlink");
        fs::rename(&tmp, root.join("..data")).expect("swap ..data");
    };
    publish("v1", "v1", "allowlist");
    std::os::unix::fs::symlink("..data/hot.toml", root.join("hot.toml")).expect("link");
    std::os::unix::fs::symlink("..data/policy.wasm", root.join("policy.wasm")).expect("link");
    let hot = HotPolicy::watch(&engine(), &root.join("hot.toml")).expect("watch");
    let f = flow("tcp 10.0.0.1:4000 -> 10.0.0.2:443");
    assert!(hot.decide(&f).explanation.starts_with("allowlist[v1]"));
    publish("v2", "v2", "allowlist");
    assert!(wait_for(|| hot.decide(&f).explanation.starts_with("allowlist[v2]")), "config swap missed: {:?}", hot.last_error());
    publish("v3", "v3", "raw-wit");
    assert!(wait_for(|| hot.decide(&f).explanation.starts_with("raw-wit")), "code swap missed: {:?}", hot.last_error());
    assert_eq!(hot.swaps(), 2);
}

#[test]
fn reload_now_reports_unchanged_and_bad_specs() {
    let dir = tempfile::tempdir().expect("tmp");
    fs::copy(wasm("allowlist"), dir.path().join("a.wasm")).expect("copy");
    let spec_file = dir.path().join("hot.toml");
    fs::write(&spec_file, spec_text("a.wasm", "v1")).expect("spec");
    let hot = HotPolicy::load(&engine(), &spec_file).expect("load");
    assert!(!hot.reload_now().expect("unchanged"));
    fs::write(&spec_file, "name = \"hot\"\npath = \"a.wasm\"\nbogus = 1\n").expect("spec");
    assert!(hot.reload_now().is_err());
    assert!(hot.last_error().expect("error").contains("hot.toml:3:1: unknown field `bogus`, expected one of"));
    fs::write(&spec_file, spec_text("a.wasm", "v2")).expect("spec");
    assert!(hot.reload_now().expect("swap"));
    assert_eq!(hot.name(), "hot");
}

#[test]
fn a_rejected_spec_and_a_log_file_in_its_folder_make_one_rejection_not_a_loop() {
    let dir = tempfile::tempdir().expect("tmp");
    fs::copy(wasm("allowlist"), dir.path().join("a.wasm")).expect("copy");
    let spec_file = dir.path().join("hot.toml");
    write_atomic(&spec_file, &spec_text("a.wasm", "v1"));
    let hot = HotPolicy::watch(&engine(), &spec_file).expect("watch");
    let v1 = hot.version();
    let bad = "name = \"hot\"\npath = \"a.wasm\"\nbogus = 1\n";
    write_atomic(&spec_file, bad);
    assert!(wait_for(|| hot.rejected() == 1), "bad spec not noticed");
    // A busy log file next to the spec, and the bad spec rewritten as it is.
    let mut log = fs::OpenOptions::new().create(true).append(true).open(dir.path().join("daemon.log")).expect("log");
    for i in 0..500 {
        std::io::Write::write_all(&mut log, format!("line {i}\n").as_bytes()).expect("log write");
    }
    for _ in 0..5 {
        write_atomic(&spec_file, bad);
    }
    // Barrier: a good spec. Events are handled in order, so once it is in
    // effect every earlier event was handled.
    write_atomic(&spec_file, &spec_text("a.wasm", "v2"));
    assert!(wait_for(|| hot.version() != v1), "good spec not picked up: {:?}", hot.last_error());
    assert_eq!(hot.swaps(), 1);
    assert_eq!(hot.rejected(), 1, "the same bad files were rejected again");
    assert!(hot.last_error().is_none(), "{:?}", hot.last_error());
}

#[test]
fn fault_counters_survive_a_reload() {
    let dir = tempfile::tempdir().expect("tmp");
    fs::copy(wasm("hostile-bad-output"), dir.path().join("bad.wasm")).expect("copy");
    let spec_file = dir.path().join("bad.toml");
    let text = |tag: &str| format!("name = \"carry\"\npath = \"bad.wasm\"\ndeadline_us = 100000\n[config]\nmode = \"empty-protect\"\nport = 80\ntag = \"{tag}\"\n");
    fs::write(&spec_file, text("v1")).expect("spec");
    let hot = HotPolicy::load(&engine(), &spec_file).expect("load");
    let f = flow("tcp 10.0.0.1:4000 -> 10.0.0.2:80");
    assert_eq!(hot.decide(&f).verdict, Verdict::Discard);
    let before = hot.current().stats();
    assert_eq!(before.invalid_verdict, 1, "{before:?}");
    fs::write(&spec_file, text("v2")).expect("spec");
    assert!(hot.reload_now().expect("swap"));
    let after = hot.current().stats();
    assert_eq!(after.invalid_verdict, 1, "reset by the reload: {after:?}");
    // + the new version's self-check decision.
    assert_eq!(after.calls, before.calls + 1, "{after:?}");
    assert_eq!(hot.decide(&f).verdict, Verdict::Discard);
    assert_eq!(hot.current().stats().invalid_verdict, 2);
}
