//! `per-port-sa`: a new SA selector, one CHILD_SA per (peer, service port).
//!
//! Every flow is protected (ESP transport, require) unless `ports` is set
//! and the service port is not in it (then `otherwise`, default `bypass`).
//! The sa-key combines the peer address and the service port (destination
//! port outbound/forwarded, source port inbound), so each port of a peer gets
//! its own SA (RFC 4301 §4.4.2.1 "PFP" taken to the port).
use std::sync::OnceLock;

use esprit_plugin_sdk::{export_policy, host, parse_verdict, Decision, Direction, Flow, Policy, Verdict};

struct Cfg {
    ports: Vec<u16>,
    otherwise: Verdict,
}

static CFG: OnceLock<Cfg> = OnceLock::new();

fn service_port(flow: &Flow) -> u16 {
    match flow.direction {
        Direction::Inbound => flow.src_port,
        _ => flow.dst_port,
    }
}

/// FNV-1a over the peer address bytes.
fn peer_hash(flow: &Flow) -> u64 {
    let bytes: Vec<u8> = match flow.remote() {
        std::net::IpAddr::V4(a) => a.octets().to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    };
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

struct PerPortSa;

impl Policy for PerPortSa {
    fn init() -> Result<(), String> {
        let ports = host::config_list("ports")
            .iter()
            .map(|p| p.parse::<u16>().map_err(|_| format!("ports: bad port {p:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        let otherwise = parse_verdict(&host::config_get("otherwise").unwrap_or_else(|| "bypass".into()))?;
        let _ = CFG.set(Cfg { ports, otherwise });
        Ok(())
    }

    fn decide(flow: &Flow) -> Decision {
        let Some(c) = CFG.get() else {
            return Decision::new(Verdict::Discard, "per-port-sa: not initialised");
        };
        let port = service_port(flow);
        if !c.ports.is_empty() && !c.ports.contains(&port) {
            return Decision::new(c.otherwise.clone(), format!("per-port-sa: port {port} not selected"));
        }
        let v = parse_verdict("protect").unwrap_or(Verdict::Discard);
        Decision::new(v, format!("per-port-sa: own SA for {} port {port}", flow.remote()))
    }

    fn sa_key(flow: &Flow) -> Option<u64> {
        Some((peer_hash(flow) << 16) | u64::from(service_port(flow)))
    }
}

export_policy!(PerPortSa);
