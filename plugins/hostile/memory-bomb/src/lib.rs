//! Hostile test plugin: allocates without bound on flows to port 666 (the
//! host's memory cap must stop it); bypasses everything else.
use esprit_plugin_sdk::{export_policy, Decision, Flow, Policy, Verdict};

struct Bomb;

impl Policy for Bomb {
    fn decide(flow: &Flow) -> Decision {
        if flow.dst_port == 666 {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(core::hint::black_box(vec![0xa5u8; 1 << 20]));
                core::hint::black_box(&hoard);
            }
        }
        Decision::new(Verdict::Bypass, "memory-bomb: harmless this time")
    }
}

export_policy!(Bomb);
