//! Hostile test plugin: spins forever on flows to port 666 (the host's epoch
//! deadline must stop it); bypasses everything else. With config
//! `always = true` it spins on every flow.
use esprit_plugin_sdk::{export_policy, host, Decision, Flow, Policy, Verdict};

struct Spin;

impl Policy for Spin {
    fn decide(flow: &Flow) -> Decision {
        if flow.dst_port == 666 || host::config_get("always").as_deref() == Some("true") {
            let mut n = 0u64;
            loop {
                n = core::hint::black_box(n.wrapping_add(1));
            }
        }
        Decision::new(Verdict::Bypass, "infinite-loop: harmless this time")
    }
}

export_policy!(Spin);
