//! Conversions between the SPD's types (`esprit_sadb::decider`) and the WIT
//! types of the latest `esprit:plugin` version ([`crate::latest`]; older
//! versions convert to those first, e.g. [`crate::v0_1::convert`]).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use esprit_sadb::decider::{Decision, Direction, Flow, IpsecMode, IpsecProto, Level, SaRequest, Verdict};

use crate::bounds::{sanitize_owned, MAX_EXPLANATION};
use crate::latest::wit;

/// SPD address → WIT address.
pub fn ip_to_wit(ip: IpAddr) -> wit::IpAddress {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            wit::IpAddress::Ipv4((o[0], o[1], o[2], o[3]))
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            wit::IpAddress::Ipv6((s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]))
        }
    }
}

/// WIT address → SPD address.
pub fn ip_from_wit(ip: wit::IpAddress) -> IpAddr {
    match ip {
        wit::IpAddress::Ipv4((a, b, c, d)) => IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        wit::IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
    }
}

/// SPD flow → WIT flow.
pub fn flow_to_wit(flow: &Flow) -> wit::Flow {
    wit::Flow {
        src: ip_to_wit(flow.src),
        dst: ip_to_wit(flow.dst),
        proto: flow.proto,
        src_port: flow.src_port,
        dst_port: flow.dst_port,
        direction: match flow.dir {
            Direction::In => wit::Direction::Inbound,
            Direction::Out => wit::Direction::Outbound,
            Direction::Fwd => wit::Direction::Forward,
        },
        iface: flow.iface.clone(),
    }
}

fn sa_request_from_wit(r: wit::SaRequest) -> SaRequest {
    SaRequest {
        proto: match r.proto {
            wit::IpsecProto::Esp => IpsecProto::Esp,
            wit::IpsecProto::Ah => IpsecProto::Ah,
        },
        mode: match r.mode {
            wit::IpsecMode::Transport => IpsecMode::Transport,
            wit::IpsecMode::Tunnel => IpsecMode::Tunnel,
        },
        tunnel: r.tunnel.map(|t| (ip_from_wit(t.local), ip_from_wit(t.remote))),
        level: match r.level {
            wit::Level::Default => Level::Default,
            wit::Level::Use => Level::Use,
            wit::Level::Require => Level::Require,
            wit::Level::Unique(id) => Level::Unique(id),
        },
    }
}

/// WIT verdict → SPD verdict.
pub fn verdict_from_wit(v: wit::Verdict) -> Verdict {
    match v {
        wit::Verdict::Bypass => Verdict::Bypass,
        wit::Verdict::Discard => Verdict::Discard,
        wit::Verdict::Protect(reqs) => Verdict::Protect(reqs.into_iter().map(sa_request_from_wit).collect()),
        wit::Verdict::PrivateOrClear => Verdict::PrivateOrClear,
        wit::Verdict::Private => Verdict::Private,
    }
}

/// WIT decision → SPD decision. The explanation is escaped and capped
/// ([`crate::bounds`]); the verdict is converted as it is and checked by
/// [`crate::verdict_check`] before the SPD sees it; the SA key is kept only
/// for verdicts that use SAs (the WIT says it is read only for those).
pub fn decision_from_wit(d: wit::Decision) -> Decision {
    let verdict = verdict_from_wit(d.verdict);
    let sa_key = if needs_sa(&verdict) { d.sa_key } else { None };
    Decision { verdict, cache_ttl: d.cache_ttl_ms.map(Duration::from_millis), sa_key, explanation: sanitize_owned(d.explanation, MAX_EXPLANATION) }
}

/// Whether a verdict uses SAs (so `sa-key` is worth asking).
pub fn needs_sa(v: &Verdict) -> bool {
    matches!(v, Verdict::Protect(_) | Verdict::PrivateOrClear | Verdict::Private)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for ip in ["192.0.2.1", "2001:db8::1", "::", "255.255.255.255"] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert_eq!(ip_from_wit(ip_to_wit(ip)), ip);
        }
    }

    #[test]
    fn protect_template_converts_in_order() {
        let t = wit::TunnelEndpoints { local: ip_to_wit([192, 0, 2, 1].into()), remote: ip_to_wit([192, 0, 2, 2].into()) };
        let v = wit::Verdict::Protect(vec![
            wit::SaRequest { proto: wit::IpsecProto::Esp, mode: wit::IpsecMode::Tunnel, tunnel: Some(t), level: wit::Level::Unique(7) },
            wit::SaRequest { proto: wit::IpsecProto::Ah, mode: wit::IpsecMode::Transport, tunnel: None, level: wit::Level::Use },
        ]);
        let d = decision_from_wit(wit::Decision { verdict: v, cache_ttl_ms: Some(1500), explanation: "x".into(), sa_key: Some(9) });
        let Verdict::Protect(reqs) = &d.verdict else { panic!("not protect") };
        assert_eq!(reqs[0].tunnel, Some(([192, 0, 2, 1].into(), [192, 0, 2, 2].into())));
        assert_eq!(reqs[0].level, Level::Unique(7));
        assert_eq!(reqs[1].proto, IpsecProto::Ah);
        assert_eq!(d.cache_ttl, Some(Duration::from_millis(1500)));
        assert_eq!(d.sa_key, Some(9));
        assert!(needs_sa(&d.verdict));
        assert!(!needs_sa(&Verdict::Bypass));
        let bypass = decision_from_wit(wit::Decision { verdict: wit::Verdict::Bypass, cache_ttl_ms: None, explanation: String::new(), sa_key: Some(9) });
        assert_eq!(bypass.sa_key, None, "a key with a verdict that uses no SA is dropped");
    }

    #[test]
    fn flow_direction_maps() {
        let f = Flow { src: [10, 0, 0, 1].into(), dst: [10, 0, 0, 2].into(), proto: 6, src_port: 1, dst_port: 443, dir: Direction::Fwd, iface: Some("eth0".into()) };
        let w = flow_to_wit(&f);
        assert_eq!(w.direction, wit::Direction::Forward);
        assert_eq!(w.dst_port, 443);
        assert_eq!(w.iface.as_deref(), Some("eth0"));
    }
}
