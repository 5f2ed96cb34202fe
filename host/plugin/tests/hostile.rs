//! Hostile plugins: each is rejected at load or contained at run time with a
//! clear message, and other flows keep being decided meanwhile.
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::{engine, flow, spec, wasm};
use esprit_plugin::{FailureVerdict, FaultKind, PluginError, PolicyPlugin};
use esprit_sadb::decider::{PolicyDecider, Verdict};

/// Another plugin decides continuously on a thread while `f` runs; returns
/// how many decisions it made, all of which must be the plugin's own.
///
/// Synchronized on events, not on scheduling: `f` starts only after the
/// bystander's first decision, and the bystander is stopped only after it
/// finished a decision that began after `f` returned (so a bystander
/// wedged by the hostile plugin would hang the test, and one merely not
/// scheduled in time cannot fail it). Returns at least 2.
fn with_bystander(f: impl FnOnce()) -> u64 {
    let bystander = PolicyPlugin::load(&engine(), spec("bystander", "allowlist").with_config("allow", "0.0.0.0/0")).expect("load");
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let (decided_tx, decided_rx) = mpsc::channel::<u64>();
    let (s, c) = (stop.clone(), count.clone());
    let t = std::thread::spawn(move || {
        let fl = flow("tcp 10.0.0.1:1000 -> 198.51.100.1:443");
        while !s.load(Ordering::Acquire) {
            let e = bystander.explain(&fl);
            assert_eq!(e.fault, None, "{e}");
            assert!(matches!(e.decision.verdict, Verdict::Protect(_)));
            let n = c.fetch_add(1, Ordering::AcqRel) + 1;
            let _ = decided_tx.send(n);
        }
    });
    let wait = |what: &str| decided_rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|e| panic!("bystander: no decision {what}: {e}"));
    wait("before the hostile call");
    f();
    // At most one decision is in flight when `seen` is read, so decision
    // number `seen + 2` started after `f` returned.
    let seen = count.load(Ordering::Acquire);
    while wait("after the hostile call") < seen + 2 {}
    stop.store(true, Ordering::Release);
    t.join().expect("bystander thread");
    count.load(Ordering::Acquire)
}

#[test]
fn infinite_loop_hits_the_deadline_and_is_contained() {
    let mut s = spec("spin", "hostile-infinite-loop");
    s.settings.deadline = Duration::from_millis(5);
    let p = PolicyPlugin::load(&engine(), s).expect("load");
    let decided = with_bystander(|| {
        let t = Instant::now();
        let e = p.explain(&flow("tcp 10.0.0.1:1 -> 10.0.0.2:666"));
        let took = t.elapsed();
        assert_eq!(e.fault, Some(FaultKind::Deadline), "{e}");
        assert_eq!(e.decision.verdict, Verdict::Discard, "fail closed");
        assert!(e.decision.explanation.contains("spin") && e.decision.explanation.contains("deadline exceeded"), "{e}");
        // Interrupted, not merely slow: a 5 ms deadline on a loaded machine
        // can take a while in wall-clock time, but never this long.
        assert!(took < Duration::from_secs(10), "deadline took {took:?}");
        // The same plugin, re-instantiated, decides the next flow.
        let ok = p.explain(&flow("tcp 10.0.0.1:1 -> 10.0.0.2:80"));
        assert_eq!((ok.fault, ok.decision.verdict), (None, Verdict::Bypass));
    });
    assert!(decided >= 2, "{decided}");
    let s = p.stats();
    assert_eq!((s.deadline, s.instantiations), (1, 2), "{s:?}");
}

#[test]
fn infinite_loop_on_every_flow_is_rejected_by_the_self_check() {
    let err = PolicyPlugin::load(&engine(), spec("spin", "hostile-infinite-loop").with_config("always", "true")).expect_err("reject");
    assert!(matches!(err, PluginError::SelfCheck { .. }), "{err}");
    assert!(err.to_string().contains("deadline exceeded"), "{err}");
}

#[test]
fn memory_bomb_hits_the_cap_and_is_contained() {
    let mut s = spec("bomb", "hostile-memory-bomb");
    // The cap, not the clock, must stop it, however slow the machine.
    s.settings.deadline = Duration::from_secs(30);
    let p = PolicyPlugin::load(&engine(), s).expect("load");
    with_bystander(|| {
        let e = p.explain(&flow("tcp 10.0.0.1:1 -> 10.0.0.2:666"));
        assert_eq!(e.fault, Some(FaultKind::OutOfMemory), "{e}");
        assert_eq!(e.decision.verdict, Verdict::Discard);
        assert!(e.decision.explanation.contains("out of memory"), "{e}");
        let ok = p.explain(&flow("tcp 10.0.0.1:1 -> 10.0.0.2:80"));
        assert_eq!((ok.fault, ok.decision.verdict), (None, Verdict::Bypass));
    });
    assert_eq!(p.stats().oom, 1);
}

#[test]
fn trap_on_every_call_is_rejected_by_the_self_check() {
    let err = PolicyPlugin::load(&engine(), spec("trap", "hostile-trap-always")).expect_err("reject");
    assert!(matches!(err, PluginError::SelfCheck { .. }), "{err}");
    assert!(err.to_string().contains("trap"), "{err}");
}

#[test]
fn trap_on_every_call_is_quarantined_then_retried() {
    let mut s = spec("trap", "hostile-trap-always");
    s.settings.self_check = false;
    s.settings.quarantine_after = 3;
    // Long enough that the checks below run inside it even on a loaded
    // machine; its end is awaited as an event, not slept for.
    s.settings.quarantine_for = Duration::from_secs(2);
    let p = PolicyPlugin::load(&engine(), s).expect("load without self-check");
    let f = flow("udp 10.0.0.1:1 -> 10.0.0.2:53");
    with_bystander(|| {
        for _ in 0..3 {
            assert_eq!(p.explain(&f).fault, Some(FaultKind::Trap));
        }
        assert!(p.is_quarantined());
        let q = p.explain(&f);
        assert_eq!((q.fault, q.decision.verdict.clone()), (Some(FaultKind::Quarantined), Verdict::Discard));
        assert!(q.decision.explanation.contains("quarantined"), "{q}");
        let t = Instant::now();
        while p.is_quarantined() {
            assert!(t.elapsed() < Duration::from_secs(30), "quarantine did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
        // Quarantine over: re-instantiated and called again (and traps again).
        assert_eq!(p.explain(&f).fault, Some(FaultKind::Trap));
    });
    let st = p.stats();
    assert_eq!((st.trap, st.quarantined_calls, st.quarantines), (4, 1, 2), "{st:?}");
    assert!(st.instantiations >= 4, "{st:?}");
}

#[test]
fn fail_open_is_configurable() {
    let mut s = spec("trap", "hostile-trap-always");
    s.settings.self_check = false;
    s.settings.on_failure = FailureVerdict::Bypass;
    let p = PolicyPlugin::load(&engine(), s).expect("load");
    let d = p.decide(&flow("udp 10.0.0.1:1 -> 10.0.0.2:53"));
    assert_eq!(d.verdict, Verdict::Bypass);
    assert_eq!(d.cache_ttl, Some(Duration::from_secs(1)), "failure verdicts are cached briefly");
}

#[test]
fn init_refusing_its_config_is_rejected() {
    let err = PolicyPlugin::load(&engine(), spec("trap", "hostile-trap-always").with_config("fail_init", "true")).expect_err("reject");
    assert!(matches!(err, PluginError::Init { .. }), "{err}");
    assert!(err.to_string().contains("refusing this config"), "{err}");
}

#[test]
fn wrong_wit_version_is_rejected_naming_the_supported_versions() {
    let err = PolicyPlugin::load(&engine(), spec("future", "hostile-wrong-version")).expect_err("reject");
    assert!(matches!(err, PluginError::UnsupportedVersion { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("esprit:plugin@0.9.0") && msg.contains("supported: 0.1.0, 0.2.0"), "{msg}");
    assert_eq!(msg.lines().count(), 1, "{msg}");
}

#[test]
fn truncated_and_garbage_files_are_rejected() {
    let good = std::fs::read(wasm("allowlist")).expect("read");
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    for (what, bytes) in [
        ("truncated", good[..good.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("garbage", b"not wasm at all".to_vec()),
        ("core module", core_module),
    ] {
        let err = PolicyPlugin::from_bytes(&engine(), spec("bad", "allowlist"), &bytes, Default::default()).expect_err(what);
        assert!(matches!(err, PluginError::Compile { .. }), "{what}: {err}");
        assert!(err.to_string().contains("not a valid WebAssembly component"), "{what}: {err}");
    }
    // A bare component header is a valid, empty component: rejected for
    // naming no esprit:plugin interface (so no version of the world).
    let err = PolicyPlugin::from_bytes(&engine(), spec("bad", "allowlist"), &good[..8], Default::default()).expect_err("empty");
    assert!(err.to_string().contains("names no esprit:plugin interface: not an esprit plugin"), "{err}");
    let err = PolicyPlugin::load(&engine(), esprit_plugin::PluginSpec::new("missing", "/nonexistent/x.wasm")).expect_err("missing");
    assert!(matches!(err, PluginError::Read { .. }), "{err}");
}

#[test]
fn memory_cap_below_the_initial_memory_fails_instantiation() {
    let mut s = spec("tiny", "allowlist");
    s.settings.memory_limit = 64 * 1024;
    let err = PolicyPlugin::load(&engine(), s).expect_err("reject");
    assert!(matches!(err, PluginError::Instantiate { .. } | PluginError::Init { .. }), "{err}");
}
