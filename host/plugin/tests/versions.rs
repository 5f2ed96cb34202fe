//! The versioned contract: a plugin built against the frozen
//! `esprit:plugin@0.1.0` (sdk/wit/v0.1.0) and one built against the live
//! 0.2.0 both load and decide, policy and auth; the same allowlist source
//! built for either version decides the same; a component of a version the
//! host does not support is refused with one line naming it.
mod common;

use common::{engine, flow, spec, wasm};
use esprit_plugin::auth::AuthPlugin;
use esprit_plugin::{PluginError, PluginSpec, PolicyPlugin, WitVersion};
use esprit_sadb::decider::{PolicyDecider, Verdict};

#[test]
fn a_0_1_plugin_from_the_frozen_wit_loads_and_decides_unchanged() {
    let p = PolicyPlugin::load(&engine(), spec("raw", "raw-wit")).expect("0.1 plugin loads");
    assert_eq!(p.wit_version(), WitVersion::V0_1);
    let ssh = p.explain(&flow("tcp 10.0.0.1:40000 -> 10.0.0.2:22"));
    assert_eq!(ssh.wit_version, "0.1.0");
    assert!(matches!(ssh.decision.verdict, Verdict::Protect(_)), "{ssh}");
    // 0.1 answers the SA key in its separate `sa-key` call.
    assert_eq!(ssh.decision.sa_key, Some(22), "{ssh}");
    assert_eq!(ssh.decision.explanation, "raw-wit: ssh is protected");
    let icmp = p.decide(&flow("icmp 10.0.0.1 -> 10.0.0.2"));
    assert_eq!((icmp.verdict, icmp.sa_key), (Verdict::Bypass, None));
}

#[test]
fn one_allowlist_source_decides_the_same_on_0_1_and_0_2() {
    let allow = "203.0.113.0/24 tcp/443,10.0.0.0/8";
    let v2 = PolicyPlugin::load(&engine(), spec("allow2", "allowlist").with_config("allow", allow)).expect("0.2");
    let v1 = PolicyPlugin::load(&engine(), spec("allow1", "allowlist-v0-1").with_config("allow", allow)).expect("0.1");
    assert_eq!((v1.wit_version(), v2.wit_version()), (WitVersion::V0_1, WitVersion::V0_2));
    for f in ["tcp 198.51.100.7:40000 -> 203.0.113.5:443", "udp 198.51.100.7:5000 -> 203.0.113.5:53", "tcp 10.1.1.1:1 -> 10.2.2.2:80"] {
        let (a, b) = (v1.decide(&flow(f)), v2.decide(&flow(f)));
        assert_eq!((&a.verdict, a.sa_key, &a.explanation), (&b.verdict, b.sa_key, &b.explanation), "{f}");
    }
}

#[test]
fn a_0_2_decision_carries_its_sa_key_in_one_call() {
    // per-port-sa (SDK, 0.2) keys SAs by destination port through the SDK's
    // `Policy::sa_key`, folded into the one `decide` call.
    let p = PolicyPlugin::load(&engine(), spec("ports", "per-port-sa")).expect("load");
    assert_eq!(p.wit_version(), WitVersion::V0_2);
    let e = p.explain(&flow("tcp 10.0.0.1:40000 -> 203.0.113.5:443"));
    assert_eq!(e.wit_version, "0.2.0");
    assert!(matches!(e.decision.verdict, Verdict::Protect(_)), "{e}");
    assert_eq!(e.decision.sa_key.map(|k| k & 0xffff), Some(443), "{e}");
}

#[test]
fn auth_plugins_of_both_versions_load() {
    let null = AuthPlugin::from_bytes(&engine(), PluginSpec::new("null", wasm("null-auth")), &read("null-auth"), Default::default()).expect("0.1 auth");
    assert_eq!((null.wit_version(), null.method()), (WitVersion::V0_1, Ok(13)));
    let psk = PluginSpec::new("psk", wasm("psk-auth")).with_config("psk", "a shared secret of some length");
    let psk = AuthPlugin::from_bytes(&engine(), psk, &read("psk-auth"), Default::default()).expect("0.2 auth");
    assert_eq!((psk.wit_version(), psk.method()), (WitVersion::V0_2, Ok(2)));
}

#[test]
fn an_unknown_version_is_refused_in_one_line() {
    let err = PolicyPlugin::load(&engine(), spec("future", "hostile-wrong-version")).expect_err("refused");
    let msg = err.to_string();
    assert!(matches!(err, PluginError::UnsupportedVersion { .. }), "{msg}");
    assert_eq!(
        msg,
        "plugin future: built against esprit:plugin@0.9.0, which this esprit does not support (supported: 0.1.0, 0.2.0); rebuild it against sdk/wit"
    );
}

fn read(crate_name: &str) -> Vec<u8> {
    std::fs::read(wasm(crate_name)).expect("read plugin")
}
