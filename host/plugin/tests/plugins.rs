//! The project's policy plugins, built from `plugins/` to wasm32-wasip2 and
//! run in the host.
mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{engine, flow, spec};
use esprit_plugin::{PluginError, PolicyPlugin};
use esprit_sadb::decider::{IpsecMode, IpsecProto, Level, PolicyDecider, Verdict};

fn load(s: esprit_plugin::PluginSpec) -> PolicyPlugin {
    PolicyPlugin::load(&engine(), s).expect("load")
}

#[test]
fn allowlist_decides_from_its_table() {
    let p = load(spec("allowlist", "allowlist").with_config("allow", "203.0.113.0/24 tcp/443,192.0.2.9").with_config("tag", "t1"));
    let e = p.explain(&flow("tcp 198.51.100.7:40000 -> 203.0.113.5:443"));
    assert_eq!(e.fault, None);
    let Verdict::Protect(reqs) = &e.decision.verdict else { panic!("{e}") };
    assert_eq!((reqs[0].proto, reqs[0].mode, reqs[0].level), (IpsecProto::Esp, IpsecMode::Transport, Level::Require));
    assert!(e.decision.explanation.contains("allowlist[t1]: 203.0.113.5 matches"), "{e}");
    assert_eq!(e.plugin, "allowlist");
    assert!(e.to_string().contains("plugin allowlist v"), "{e}");
    // Port not listed: the plugin's own `otherwise` (discard), not a fault.
    let e = p.explain(&flow("tcp 198.51.100.7:40000 -> 203.0.113.5:80"));
    assert_eq!((e.decision.verdict.clone(), e.fault), (Verdict::Discard, None));
    // A bare host entry matches any port/proto.
    assert!(matches!(p.decide(&flow("udp 10.0.0.1:5 -> 192.0.2.9:53")).verdict, Verdict::Protect(_)));
    // Inbound flows match on the source (the remote).
    assert!(matches!(p.decide(&flow("tcp 203.0.113.7:50000 -> 10.0.0.1:443 in")).verdict, Verdict::Protect(_)));
    assert!(matches!(p.decide(&flow("tcp 203.0.113.7:50000 -> 10.0.0.1:22 in")).verdict, Verdict::Discard));
    assert!(matches!(p.decide(&flow("udp 192.0.2.9:53 -> 10.0.0.1:5000 in")).verdict, Verdict::Protect(_)));
    assert_eq!(p.stats().faults(), 0);
}

#[test]
fn allowlist_bad_config_is_rejected_at_load() {
    for (k, v) in [("allow", "10.0.0.0/33"), ("allow", "10.0.0.0/8 tcp"), ("on_match", "maybe")] {
        let err = PolicyPlugin::load(&engine(), spec("allowlist", "allowlist").with_config(k, v)).expect_err("must reject");
        assert!(matches!(err, PluginError::Init { .. }), "{err}");
        assert!(err.to_string().contains("init rejected the config"), "{err}");
    }
}

#[test]
fn version_follows_code_and_config() {
    let a = load(spec("allowlist", "allowlist").with_config("tag", "a"));
    let a2 = load(spec("allowlist", "allowlist").with_config("tag", "a"));
    let b = load(spec("allowlist", "allowlist").with_config("tag", "b"));
    let c = load(spec("allowlist", "raw-wit"));
    assert_eq!(a.version(), a2.version());
    assert_ne!(a.version(), b.version());
    assert_ne!(a.version(), c.version());
}

#[test]
fn per_port_sa_gives_each_port_its_own_sa() {
    let p = load(spec("per-port-sa", "per-port-sa").with_config("ports", "443,80"));
    let d443 = p.decide(&flow("tcp 10.0.0.1:40000 -> 203.0.113.5:443"));
    let d443b = p.decide(&flow("tcp 10.0.0.1:40001 -> 203.0.113.5:443"));
    let d80 = p.decide(&flow("tcp 10.0.0.1:40000 -> 203.0.113.5:80"));
    let other_peer = p.decide(&flow("tcp 10.0.0.1:40000 -> 203.0.113.6:443"));
    assert!(matches!(d443.verdict, Verdict::Protect(_)));
    assert!(d443.sa_key.is_some());
    assert_eq!(d443.sa_key, d443b.sa_key);
    assert_ne!(d443.sa_key, d80.sa_key);
    assert_ne!(d443.sa_key, other_peer.sa_key);
    // Inbound reply from the peer's port 443 shares the outbound SA key.
    let back = p.decide(&flow("tcp 203.0.113.5:443 -> 10.0.0.1:40000 in"));
    assert_eq!(back.sa_key, d443.sa_key);
    // Unselected port: bypass, and no SA key asked.
    let d22 = p.decide(&flow("tcp 10.0.0.1:40000 -> 203.0.113.5:22"));
    assert_eq!((d22.verdict, d22.sa_key), (Verdict::Bypass, None));
}

fn hhmm(ms_of_day: u64) -> String {
    format!("{:02}:{:02}", ms_of_day / 3_600_000, (ms_of_day / 60_000) % 60)
}

#[test]
fn time_window_uses_the_host_clock() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64 % 86_400_000;
    let hour = 3_600_000;
    let day = 86_400_000;
    let inside = load(
        spec("tw", "time-window").with_config("start", &hhmm((now + day - hour) % day)).with_config("end", &hhmm((now + hour) % day)),
    );
    let d = inside.decide(&flow("tcp 10.0.0.1:1 -> 10.0.0.2:443"));
    assert!(matches!(d.verdict, Verdict::Protect(_)), "{d:?}");
    let ttl = d.cache_ttl.expect("ttl to the window's end");
    assert!(ttl.as_millis() as u64 <= hour + 60_000 && ttl.as_millis() as u64 >= hour - 120_000, "{ttl:?}");
    let outside = load(
        spec("tw", "time-window").with_config("start", &hhmm((now + hour) % day)).with_config("end", &hhmm((now + 2 * hour) % day)),
    );
    let d = outside.decide(&flow("tcp 10.0.0.1:1 -> 10.0.0.2:443"));
    assert_eq!(d.verdict, Verdict::Bypass, "{d:?}");
    assert!(d.explanation.contains("outside the window"), "{d:?}");
    for bad in ["25:00", "12", "aa:bb"] {
        assert!(PolicyPlugin::load(&engine(), spec("tw", "time-window").with_config("start", bad).with_config("end", "10:00")).is_err());
    }
}

#[test]
fn oe_policy_longest_prefix_group_wins() {
    let p = load(
        spec("oe", "oe-policy")
            .with_config("private_or_clear", "0.0.0.0/0")
            .with_config("private", "10.0.0.0/8")
            .with_config("clear", "10.1.0.0/16,2001:db8::/32"),
    );
    assert_eq!(p.decide(&flow("tcp 10.9.0.1:1 -> 203.0.113.5:443")).verdict, Verdict::PrivateOrClear);
    assert_eq!(p.decide(&flow("tcp 192.0.2.1:1 -> 10.2.0.1:443")).verdict, Verdict::Private);
    assert_eq!(p.decide(&flow("tcp 192.0.2.1:1 -> 10.1.2.3:443")).verdict, Verdict::Bypass);
    assert_eq!(p.decide(&flow("udp [2001:db8::5]:1 -> [2001:db8::7]:53")).verdict, Verdict::Bypass);
    // Unmatched v6 → default (bypass); OE flows get one SA per peer host.
    let a = p.decide(&flow("tcp 10.9.0.1:1 -> 203.0.113.5:443"));
    let b = p.decide(&flow("udp 10.9.0.1:7 -> 203.0.113.5:53"));
    assert_eq!(a.sa_key, b.sa_key);
    assert!(a.sa_key.is_some());
    assert!(a.explanation.contains("group private-or-clear"), "{}", a.explanation);
}

#[test]
fn raw_wit_plugin_without_the_sdk_loads_and_decides() {
    let p = load(spec("raw", "raw-wit"));
    let ssh = p.explain(&flow("tcp 10.0.0.1:40000 -> 10.0.0.2:22"));
    assert!(matches!(ssh.decision.verdict, Verdict::Protect(_)), "{ssh}");
    assert_eq!(ssh.decision.sa_key, Some(22));
    assert_eq!(ssh.decision.cache_ttl, Some(std::time::Duration::from_secs(10)));
    assert_eq!(p.decide(&flow("icmp 10.0.0.1 -> 10.0.0.2")).verdict, Verdict::Bypass);
    let other = p.explain(&flow("udp 10.0.0.1:1 -> 10.0.0.2:9"));
    assert_eq!(other.decision.verdict, Verdict::Discard);
    assert_eq!(other.fault, None);
    assert_eq!(other.decision.explanation, "raw-wit: not allowed by raw-wit");
}

#[test]
fn a_decider_is_usable_as_a_trait_object_from_many_threads() {
    let p: std::sync::Arc<dyn PolicyDecider> = std::sync::Arc::new(load(spec("allowlist", "allowlist").with_config("allow", "0.0.0.0/0")));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                for i in 0..500u16 {
                    let d = p.decide(&flow(&format!("tcp 10.0.{t}.1:{i} -> 198.51.100.{}:443", i % 200)));
                    assert!(matches!(d.verdict, Verdict::Protect(_)));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
}
