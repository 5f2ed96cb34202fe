//! Values a policy plugin returns through WIT (`esprit:plugin/types`
//! `decision`), built structure-aware with `arbitrary`, converted as the host
//! converts them (`convert::decision_from_wit`) and validated
//! (`verdict_check::check_decision`). What passes must be something the data
//! plane can apply: a non-empty, bounded `protect` whose tunnel requests
//! name two unicast endpoints of one family and whose transport requests
//! name none; an explanation without control characters; a bounded TTL.
use arbitrary::{Arbitrary, Unstructured};
use esprit_plugin::bounds::MAX_EXPLANATION;
use esprit_plugin::convert::decision_from_wit;
use esprit_plugin::latest::wit;
use esprit_plugin::verdict_check::{check_decision, MAX_CACHE_TTL, MAX_SA_REQUESTS};
use esprit_sadb::decider::{IpsecMode, Verdict};

#[derive(Debug, Arbitrary)]
enum Ip {
    V4([u8; 4]),
    V6([u16; 8]),
    /// The addresses the checks single out.
    Special(u8),
}

impl Ip {
    fn wit(&self) -> wit::IpAddress {
        match *self {
            Ip::V4([a, b, c, d]) => wit::IpAddress::Ipv4((a, b, c, d)),
            Ip::V6(s) => wit::IpAddress::Ipv6((s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])),
            Ip::Special(n) => match n % 6 {
                0 => wit::IpAddress::Ipv4((0, 0, 0, 0)),
                1 => wit::IpAddress::Ipv4((255, 255, 255, 255)),
                2 => wit::IpAddress::Ipv4((224, 0, 0, 1)),
                3 => wit::IpAddress::Ipv6((0, 0, 0, 0, 0, 0, 0, 0)),
                4 => wit::IpAddress::Ipv6((0xff02, 0, 0, 0, 0, 0, 0, 1)),
                _ => wit::IpAddress::Ipv4((127, 0, 0, 1)),
            },
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Req {
    ah: bool,
    tunnel_mode: bool,
    tunnel: Option<(Ip, Ip)>,
    level: u8,
    unique: u32,
}

#[derive(Debug, Arbitrary)]
enum V {
    Bypass,
    Discard,
    Protect(Vec<Req>),
    PrivateOrClear,
    Private,
}

#[derive(Debug, Arbitrary)]
struct Dec {
    verdict: V,
    cache_ttl_ms: Option<u64>,
    explanation: String,
    sa_key: Option<u64>,
}

fn to_wit(d: &Dec) -> wit::Decision {
    let req = |r: &Req| wit::SaRequest {
        proto: if r.ah { wit::IpsecProto::Ah } else { wit::IpsecProto::Esp },
        mode: if r.tunnel_mode { wit::IpsecMode::Tunnel } else { wit::IpsecMode::Transport },
        tunnel: r.tunnel.as_ref().map(|(l, rm)| wit::TunnelEndpoints { local: l.wit(), remote: rm.wit() }),
        level: match r.level % 4 {
            0 => wit::Level::Default,
            1 => wit::Level::Use,
            2 => wit::Level::Require,
            _ => wit::Level::Unique(r.unique),
        },
    };
    wit::Decision {
        verdict: match &d.verdict {
            V::Bypass => wit::Verdict::Bypass,
            V::Discard => wit::Verdict::Discard,
            V::Protect(rs) => wit::Verdict::Protect(rs.iter().map(req).collect()),
            V::PrivateOrClear => wit::Verdict::PrivateOrClear,
            V::Private => wit::Verdict::Private,
        },
        cache_ttl_ms: d.cache_ttl_ms,
        explanation: d.explanation.clone(),
        sa_key: d.sa_key,
    }
}

pub fn run(data: &[u8]) {
    let Ok(d) = Dec::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let decision = decision_from_wit(to_wit(&d));
    assert!(decision.explanation.chars().all(|c| !c.is_control()), "control character passed: {:?}", decision.explanation);
    assert!(decision.explanation.len() <= MAX_EXPLANATION + 48, "explanation of {} bytes", decision.explanation.len());
    let Ok(ok) = check_decision(decision) else { return };
    assert!(ok.cache_ttl.is_none_or(|t| t <= MAX_CACHE_TTL));
    if let Verdict::Protect(reqs) = &ok.verdict {
        assert!(!reqs.is_empty() && reqs.len() <= MAX_SA_REQUESTS, "{} requests passed", reqs.len());
        for r in reqs {
            match (r.mode, r.tunnel) {
                (IpsecMode::Transport, None) => {}
                (IpsecMode::Tunnel, Some((a, b))) => {
                    assert_eq!(a.is_ipv4(), b.is_ipv4());
                    for x in [a, b] {
                        assert!(!x.is_unspecified() && !x.is_multicast(), "{x} passed as a tunnel endpoint");
                    }
                }
                other => panic!("request {other:?} passed"),
            }
        }
    }
}
