//! A plugin's well-typed but hostile output (the `hostile-bad-output` test
//! plugin): ill-formed verdicts are faults answered with the failure verdict,
//! oversized or control-laden text is capped and escaped, log floods are
//! rate-limited, and every one of these is counted.
mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{engine, flow, spec};
use esprit_plugin::bounds::{is_inert, MAX_EXPLANATION, MAX_LOG_LINE};
use esprit_plugin::log_limit::{LOG_BURST, LOG_PER_SEC};
use esprit_plugin::{FaultKind, PluginError, PluginSpec, PolicyPlugin};
use esprit_sadb::decider::{PolicyDecider, Verdict};

fn bad(name: &str, mode: &str) -> PluginSpec {
    let mut s = spec(name, "hostile-bad-output").with_config("mode", mode).with_config("port", "80");
    s.settings.deadline = Duration::from_secs(10);
    s
}

#[test]
fn empty_protect_is_a_fault_with_the_failure_verdict() {
    let p = PolicyPlugin::load(&engine(), bad("empty", "empty-protect")).expect("load: the probe flow is not port 80");
    let e = p.explain(&flow("tcp 10.0.0.1:40000 -> 10.0.0.2:80"));
    assert_eq!(e.fault, Some(FaultKind::InvalidVerdict), "{e}");
    assert_eq!(e.decision.verdict, Verdict::Discard, "fail closed: {e}");
    assert!(e.decision.explanation.contains("protect with no SA request"), "{e}");
    let other = p.explain(&flow("tcp 10.0.0.1:40000 -> 10.0.0.2:81"));
    assert_eq!((other.fault, other.decision.verdict), (None, Verdict::Bypass));
    let st = p.stats();
    assert_eq!((st.invalid_verdict, st.faults()), (1, 1), "{st:?}");
    // The instance was fine: not re-instantiated for an invalid verdict.
    assert_eq!(st.instantiations, 1, "{st:?}");
}

#[test]
fn ill_formed_templates_are_faults_and_repeated_ones_quarantine() {
    for (mode, why) in [("huge-template", "5000 SA requests"), ("bad-tunnel", "not a unicast address")] {
        let mut s = bad(mode, mode);
        s.settings.quarantine_after = 3;
        let p = PolicyPlugin::load(&engine(), s).expect("load");
        let f = flow("udp 10.0.0.1:5000 -> 10.0.0.2:80");
        for _ in 0..3 {
            let e = p.explain(&f);
            assert_eq!((e.fault, &e.decision.verdict), (Some(FaultKind::InvalidVerdict), &Verdict::Discard), "{e}");
            assert!(e.decision.explanation.contains(why), "{e}");
        }
        assert!(p.is_quarantined(), "{mode}");
        assert_eq!(p.explain(&f).fault, Some(FaultKind::Quarantined));
        assert_eq!(p.stats().invalid_verdict, 3);
    }
}

#[test]
fn empty_protect_on_the_probe_flow_is_rejected_at_load() {
    let err = PolicyPlugin::load(&engine(), spec("empty-all", "hostile-bad-output").with_config("mode", "empty-protect")).expect_err("reject");
    assert!(matches!(err, PluginError::SelfCheck { .. }), "{err}");
    assert!(err.to_string().contains("invalid verdict"), "{err}");
}

#[test]
fn a_one_mib_explanation_is_capped_and_escaped() {
    let p = PolicyPlugin::load(&engine(), bad("bigx", "big-explanation")).expect("load");
    let e = p.explain(&flow("tcp 10.0.0.1:1 -> 10.0.0.2:80"));
    assert_eq!(e.fault, None, "{e}");
    let x = &e.decision.explanation;
    assert!(x.len() <= MAX_EXPLANATION + 48, "{} bytes kept", x.len());
    assert!(x.contains("[truncated ") && x.starts_with("EEEE"), "{x}");
    let forged = PolicyPlugin::load(&engine(), bad("forged-x", "forged-log")).expect("load");
    let e = forged.explain(&flow("tcp 10.0.0.1:1 -> 10.0.0.2:80"));
    assert!(is_inert(&e.decision.explanation) && is_inert(&e.to_string()), "{e}");
    assert!(e.decision.explanation.contains("\\n2026-12-01") && e.decision.explanation.contains("\\u{1b}[2J"), "{e}");
}

/// Collects what tracing writes on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with this thread's log lines captured (plain text format).
fn logs_of(f: impl FnOnce()) -> String {
    let out = Captured::default();
    let w = out.clone();
    let sub = tracing_subscriber::fmt().with_ansi(false).with_max_level(tracing::Level::INFO).with_writer(move || w.clone()).finish();
    tracing::subscriber::with_default(sub, f);
    let bytes = out.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn a_forged_log_line_stays_one_escaped_line() {
    let p = PolicyPlugin::load(&engine(), bad("forger", "forged-log")).expect("load");
    let text = logs_of(|| {
        p.explain(&flow("tcp 10.0.0.1:1 -> 10.0.0.2:80"));
    });
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("forger")).collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
    assert!(lines[0].contains("ok\\n2026-12-01T21:00:00.000000Z  INFO esprit: policy #9"), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("2026-12-01T21:00:00") || l.starts_with("policy #9")), "{text}");
}

#[test]
fn a_one_mib_log_line_is_capped() {
    let p = PolicyPlugin::load(&engine(), bad("biglog", "big-log")).expect("load");
    let text = logs_of(|| {
        p.explain(&flow("tcp 10.0.0.1:1 -> 10.0.0.2:80"));
    });
    let line = text.lines().find(|l| l.contains("LLLL")).unwrap_or_else(|| panic!("no log line: {text}"));
    assert!(line.len() <= MAX_LOG_LINE + 256, "{} bytes", line.len());
    assert!(line.contains("[truncated "), "{line}");
}

#[test]
fn a_log_flood_is_rate_limited_and_counted() {
    let p = PolicyPlugin::load(&engine(), bad("flood", "log-flood")).expect("load");
    let t = Instant::now();
    let text = logs_of(|| {
        let e = p.explain(&flow("tcp 10.0.0.1:1 -> 10.0.0.2:80"));
        assert_eq!(e.fault, None, "{e}");
    });
    // The bound follows the time the flood really took (the bucket refills
    // at LOG_PER_SEC), so a slow machine cannot fail it.
    let refill = (t.elapsed().as_secs_f64() * f64::from(LOG_PER_SEC)).ceil() as usize;
    let logged = text.lines().filter(|l| l.contains("flood line")).count();
    assert!(logged >= LOG_BURST as usize && logged <= LOG_BURST as usize + refill + 1, "{logged} lines logged");
    let st = p.stats();
    assert_eq!(st.log_suppressed as usize, 10_000 - logged, "{st:?}");
    assert_eq!(st.faults(), 0, "a rate-limited log is not a fault: {st:?}");
}

#[test]
fn a_plugin_in_the_spd_keeps_bounded_explanations_per_flow() {
    let p = Arc::new(PolicyPlugin::load(&engine(), bad("bigx-spd", "big-explanation")).expect("load"));
    let mut spd = esprit_sadb::Spd::new();
    spd.set_decider(p.clone());
    let any = esprit_sadb::selector::IpPrefix::new([0, 0, 0, 0].into(), 0).expect("prefix");
    spd.insert(esprit_sadb::spd::NewPolicy {
        selector: esprit_sadb::selector::Selector { src: any, dst: any, proto: None, src_port: None, dst_port: None },
        dir: esprit_sadb::decider::Direction::Out,
        priority: 0,
        action: esprit_sadb::spd::Action::Delegate(p.name().to_string()),
    });
    let now = Instant::now();
    for i in 0..200u16 {
        let l = spd.lookup(&flow(&format!("tcp 10.0.0.1:{} -> 10.0.0.2:80", 1000 + i)), now);
        assert!(l.explanation.len() <= MAX_EXPLANATION + 48 + 128, "{} bytes cached", l.explanation.len());
    }
    assert_eq!(spd.cached_flows(), 200);
    // The plugin's TTL is 60 s: after it, the sweep releases them all.
    assert_eq!(spd.purge_expired(now + Duration::from_secs(61)), 200);
    assert_eq!(spd.cached_flows(), 0);
}
