//! `oe-policy`: opportunistic encryption groups (RFC 4322, as libreswan's
//! `private-or-clear`, `private`, `clear` policy groups).
//!
//! Config: lists of CIDRs `clear`, `private`, `private_or_clear`; the most
//! specific (longest) prefix wins, ties go to `clear` < `private` <
//! `private_or_clear` in that order of listing; unmatched flows get
//! `default` (default `bypass`). Matched on the remote address.
use std::sync::OnceLock;

use esprit_plugin_sdk::{export_policy, host, parse_verdict, Cidr, Decision, Flow, Policy, Verdict};

struct Group {
    name: &'static str,
    verdict: Verdict,
    nets: Vec<Cidr>,
}

struct Cfg {
    groups: Vec<Group>,
    default: Verdict,
}

static CFG: OnceLock<Cfg> = OnceLock::new();

fn nets(key: &str) -> Result<Vec<Cidr>, String> {
    host::config_list(key).iter().map(|s| s.parse::<Cidr>().map_err(|e| format!("`{key}`: {e}"))).collect()
}

struct OePolicy;

impl Policy for OePolicy {
    fn init() -> Result<(), String> {
        let groups = vec![
            Group { name: "clear", verdict: Verdict::Bypass, nets: nets("clear")? },
            Group { name: "private", verdict: Verdict::Private, nets: nets("private")? },
            Group { name: "private-or-clear", verdict: Verdict::PrivateOrClear, nets: nets("private_or_clear")? },
        ];
        let default = parse_verdict(&host::config_get("default").unwrap_or_else(|| "bypass".into()))?;
        let _ = CFG.set(Cfg { groups, default });
        Ok(())
    }

    fn decide(flow: &Flow) -> Decision {
        let Some(c) = CFG.get() else {
            return Decision::new(Verdict::Discard, "oe-policy: not initialised");
        };
        let remote = flow.remote();
        let mut best: Option<(&Group, &Cidr)> = None;
        for g in &c.groups {
            for n in g.nets.iter().filter(|n| n.contains(remote)) {
                if best.is_none_or(|(_, b)| n.len() > b.len()) {
                    best = Some((g, n));
                }
            }
        }
        match best {
            Some((g, n)) => Decision::new(g.verdict.clone(), format!("oe-policy: {remote} in group {} ({n:?})", g.name)),
            None => Decision::new(c.default.clone(), format!("oe-policy: {remote} in no group")),
        }
    }

    fn sa_key(flow: &Flow) -> Option<u64> {
        // One SA per peer host (RFC 4322 OE is host-to-host).
        Some(match flow.remote() {
            std::net::IpAddr::V4(a) => u64::from(u32::from(a)),
            std::net::IpAddr::V6(a) => (u128::from(a) as u64) ^ ((u128::from(a) >> 64) as u64),
        })
    }
}

export_policy!(OePolicy);
