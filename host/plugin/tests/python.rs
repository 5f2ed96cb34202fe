//! The Python policy (examples/plugins/python-policy) built with
//! componentize-py `--stub-wasi` and run in the lean host (no WASI).
mod common;

use std::time::{Duration, Instant};

use common::{engine, flow};
use esprit_plugin::{PluginSpec, PolicyPlugin};
use esprit_sadb::decider::{PolicyDecider, Verdict};

#[test]
fn python_policy_builds_loads_and_decides() {
    let Some(path) = common::python_policy_or_skip("python policy test") else {
        return;
    };
    let mut spec = PluginSpec::new("python", path).with_config("protect", "203.0.113.0/24, 2001:db8::/32");
    // A Python component starts with ~12.3 MiB of linear memory.
    spec.settings.memory_limit = 64 << 20;
    spec.settings.deadline = Duration::from_millis(20);
    let t = Instant::now();
    let p = PolicyPlugin::load(&engine(), spec).expect("load python policy");
    println!("python policy compiled+loaded in {:?}", t.elapsed());
    let web = p.explain(&flow("tcp 198.51.100.7:40000 -> 203.0.113.5:443"));
    assert_eq!(web.fault, None, "{web}");
    assert!(matches!(web.decision.verdict, Verdict::Protect(_)), "{web}");
    assert_eq!(web.decision.explanation, "python: web to 203.0.113.5 is protected");
    assert_eq!(web.decision.sa_key, Some(u64::from(u32::from(std::net::Ipv4Addr::new(203, 0, 113, 5)))));
    assert_eq!(p.decide(&flow("udp 10.0.0.1:5000 -> 10.0.0.53:53")).verdict, Verdict::Bypass);
    assert_eq!(p.decide(&flow("tcp 10.0.0.1:5000 -> 198.51.100.1:443")).verdict, Verdict::PrivateOrClear);
    assert!(matches!(p.decide(&flow("tcp [2001:db8::1]:5000 -> [2001:db8::2]:80")).verdict, Verdict::Protect(_)));
    let n = 200;
    let t = Instant::now();
    for i in 0..n {
        p.decide(&flow(&format!("tcp 10.0.0.1:{} -> 203.0.113.{}:443", 1000 + i, i % 250)));
    }
    println!("python policy: {:?} per decision", t.elapsed() / n);
    assert_eq!(p.stats().faults(), 0);
    // A bad config is refused by the Python init.
    let mut bad = PluginSpec::new("python", p.spec().path.clone()).with_config("protect", "10.0.0.0/99");
    bad.settings.memory_limit = 64 << 20;
    let err = PolicyPlugin::load(&engine(), bad).expect_err("bad config");
    assert!(err.to_string().contains("bad `protect`"), "{err}");
}
