//! setkey.conf policies → the shape of IKEv2 conns.
//!
//! racoon negotiates on the kernel's ACQUIRE: a packet matches an `out`
//! policy that asks for `ipsec`, no SA exists, racoon runs phase 1 and 2
//! with the peer. esprit does the same with `start = "trap"`, so each
//! `-P out ipsec` policy becomes one conn:
//! * `local_ts` / `remote_ts` are the policy's source and destination;
//! * transport mode protects the hosts' own packets, so the destination must
//!   be one host (`/32` or `/128`), which is also the IKE peer; tunnel mode
//!   takes the peer from the request's `A-B` endpoints;
//! * `esp` + `ah` in one request list (the seed's bundle) becomes ESP: IKEv2
//!   negotiates one protocol per CHILD_SA (RFC 7296 §1.3), and AES-GCM
//!   authenticates the payload; `ah` alone stays AH.
//!
//! The `in` (and `fwd`) policies are implied: esprit installs the inbound
//! policy from the conn's traffic selectors. One that mirrors an `out` policy
//! is carried over silently; any other one gets a warning. `none`/`discard`
//! policies need no IKE and are kept as setkey text (`[ipsec] setkey`).
//! Manually keyed SAs (`add`) are dropped: IKE makes the keys now.

use std::net::IpAddr;

use esprit_sadb::decider::{Direction, IpsecMode, IpsecProto, Level, Verdict};
use esprit_sadb::selector::{IpPrefix, Selector};
use esprit_sadb::setkey::{PolicySpec, Statement, PRIORITY_DEFAULT};

use super::warn::Warnings;

/// An `out` policy that IKE will negotiate for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutPolicy {
    pub line: u32,
    pub local_ts: IpPrefix,
    pub remote_ts: IpPrefix,
    pub mode: IpsecMode,
    /// Tunnel mode: (local, remote) outer addresses.
    pub tunnel: Option<(IpAddr, IpAddr)>,
    /// `ah` alone (no `esp` in the request list).
    pub ah_only: bool,
    /// The IKE peer's address.
    pub peer: IpAddr,
}

/// What the setkey.conf statements turn into.
#[derive(Debug, Default)]
pub struct Policies {
    pub out: Vec<OutPolicy>,
    /// `none` / `discard` policies, re-rendered as setkey statements.
    pub setkey: Vec<String>,
}

fn dir_name(d: Direction) -> &'static str {
    match d {
        Direction::In => "in",
        Direction::Out => "out",
        Direction::Fwd => "fwd",
    }
}

fn upper_spec(s: &Selector) -> String {
    match s.proto {
        None => "any".into(),
        Some(p @ (1 | 58)) => {
            let name = if p == 1 { "icmp" } else { "icmp6" };
            match (s.src_port, s.dst_port) {
                (Some(t), Some(c)) => format!("{name} {t},{c}"),
                (Some(t), None) => format!("{name} {t}"),
                _ => name.into(),
            }
        }
        Some(p) => p.to_string(),
    }
}

fn endpoint(prefix: &IpPrefix, port: Option<u16>, proto: Option<u8>) -> String {
    match port {
        Some(p) if !matches!(proto, Some(1 | 58)) => format!("{prefix}[{p}]"),
        _ => prefix.to_string(),
    }
}

/// A `none`/`discard` policy as a setkey statement esprit reads back.
fn render(p: &PolicySpec) -> String {
    let s = &p.selector;
    let prio = match p.priority {
        PRIORITY_DEFAULT => String::new(),
        v if v < PRIORITY_DEFAULT => format!(" prio {}", PRIORITY_DEFAULT - v),
        v => format!(" prio -{}", v - PRIORITY_DEFAULT),
    };
    let action = if p.action == Verdict::Bypass { "none" } else { "discard" };
    format!(
        "spdadd {} {} {} -P {}{prio} {action};",
        endpoint(&s.src, s.src_port, s.proto),
        endpoint(&s.dst, s.dst_port, s.proto),
        upper_spec(s),
        dir_name(p.dir)
    )
}

fn is_host(p: &IpPrefix) -> bool {
    p.len() == if p.addr().is_ipv4() { 32 } else { 128 }
}

/// Reads the policies; `file` names setkey.conf in warnings.
pub fn analyse(statements: &[Statement], file: &str, w: &mut Warnings) -> Policies {
    let mut out = Policies::default();
    let mut inbound = Vec::new();
    for st in statements {
        match st {
            Statement::Flush | Statement::SpdFlush => {}
            Statement::Add(sa) => w.at(
                file,
                sa.span.line,
                format!("manually keyed SA (add ... spi {:#x}) dropped: IKEv2 negotiates the keys now", sa.spi),
            ),
            Statement::SpdAdd(p) => match &p.action {
                Verdict::Bypass | Verdict::Discard => out.setkey.push(render(p)),
                Verdict::Protect(reqs) if p.dir == Direction::Out => {
                    if let Some(o) = out_policy(p, reqs, file, w) {
                        out.out.push(o);
                    }
                }
                Verdict::Protect(_) => inbound.push(p),
                Verdict::PrivateOrClear | Verdict::Private => w.at(
                    file,
                    p.span.line,
                    "opportunistic policy not carried over: write a [[conn]] with `oe` for it",
                ),
            },
        }
    }
    for p in inbound {
        let mirrors = out.out.iter().any(|o| {
            p.selector.src == o.remote_ts && p.selector.dst == o.local_ts
        });
        if !mirrors {
            w.at(
                file,
                p.span.line,
                format!(
                    "{} policy {} -> {} mirrors no out policy; esprit installs the inbound policies from each conn's traffic selectors, so this one is not carried over",
                    dir_name(p.dir),
                    p.selector.src,
                    p.selector.dst
                ),
            );
        }
    }
    out
}

fn out_policy(p: &PolicySpec, reqs: &[esprit_sadb::decider::SaRequest], file: &str, w: &mut Warnings) -> Option<OutPolicy> {
    let line = p.span.line;
    let s = &p.selector;
    let has = |proto| reqs.iter().any(|r| r.proto == proto);
    let (esp, ah) = (has(IpsecProto::Esp), has(IpsecProto::Ah));
    if esp && ah {
        w.at(file, line, "esp+ah bundle: IKEv2 negotiates one protocol per CHILD_SA; imported as ESP (AES-GCM authenticates the payload); add a second conn with protocol = \"ah\" if you need AH's header coverage");
    }
    if s.proto.is_some() || s.src_port.is_some() || s.dst_port.is_some() {
        w.at(file, line, format!("upper-layer selector `{}` and ports are not carried over: the conn covers all traffic between {} and {}", upper_spec(s), s.src, s.dst));
    }
    if reqs.iter().any(|r| r.level == Level::Use || r.level == Level::Default) {
        w.at(file, line, "request level default/use (send in the clear while no SA exists) is not carried over: esprit holds packets until the CHILD_SA is up, like `require`");
    }
    let tunnel = reqs.iter().find(|r| r.mode == IpsecMode::Tunnel);
    let (mode, tunnel, peer) = match tunnel {
        Some(r) => {
            if reqs.iter().any(|r| r.mode == IpsecMode::Transport) {
                w.at(file, line, "requests mix transport and tunnel mode: imported as tunnel mode");
            }
            match r.tunnel {
                Some((l, rem)) => (IpsecMode::Tunnel, Some((l, rem)), rem),
                None => {
                    w.at(file, line, "tunnel request without endpoints (A-B): no IKE peer address; policy not carried over");
                    return None;
                }
            }
        }
        None => {
            if !is_host(&s.dst) {
                w.at(file, line, format!("transport-mode policy to {} is not carried over: transport mode protects one peer host, so the destination must be a /32 or /128 (the IKE peer)", s.dst));
                return None;
            }
            (IpsecMode::Transport, None, s.dst.addr())
        }
    };
    Some(OutPolicy { line, local_ts: s.src, remote_ts: s.dst, mode, tunnel, ah_only: ah && !esp, peer })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_out_policy_becomes_one_esp_transport_conn_and_in_mirrors() {
        let text = "spdflush;\nspdadd 192.168.0.0/24 10.1.2.3/32 any -P out ipsec\n esp/transport//require\n ah/transport//require;\nspdadd 10.1.2.3/32 192.168.0.0/24 any -P in ipsec esp/transport//require ah/transport//require;\nspdadd 0.0.0.0/0[22] 0.0.0.0/0 6 -P out prio 10 none;\n";
        let st = esprit_sadb::setkey::parse_str("s", text).unwrap();
        let mut w = Warnings::default();
        let p = analyse(&st, "s", &mut w);
        assert_eq!(p.out.len(), 1);
        let o = &p.out[0];
        assert_eq!((o.line, o.mode, o.peer, o.ah_only), (2, IpsecMode::Transport, "10.1.2.3".parse().unwrap(), false));
        assert_eq!(o.local_ts.to_string(), "192.168.0.0/24");
        let msgs: Vec<String> = w.iter().map(|w| w.to_string()).collect();
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(msgs[0].starts_with("warning: s:2: esp+ah bundle: IKEv2 negotiates one protocol per CHILD_SA"));
        assert_eq!(p.setkey, ["spdadd 0.0.0.0/0[22] 0.0.0.0/0 6 -P out prio 10 none;"]);
        // the rendered statement parses back to the same policy
        let back = esprit_sadb::setkey::parse_str("b", &p.setkey[0]).unwrap();
        assert_eq!(back[0], st[3].clone().with_span_of(&back[0]));
    }

    trait SameSpan {
        fn with_span_of(self, other: &Statement) -> Statement;
    }
    impl SameSpan for Statement {
        fn with_span_of(self, other: &Statement) -> Statement {
            match (self, other) {
                (Statement::SpdAdd(mut a), Statement::SpdAdd(b)) => {
                    a.span = b.span;
                    Statement::SpdAdd(a)
                }
                (s, _) => s,
            }
        }
    }

    #[test]
    fn unmirrored_in_policy_and_network_transport_destination_warn() {
        let text = "spdadd 10.0.0.1/32 10.9.0.0/16 any -P out ipsec esp/transport//require;\nspdadd 10.7.0.0/16 10.0.0.1/32 any -P in ipsec esp/transport//require;\n";
        let st = esprit_sadb::setkey::parse_str("s", text).unwrap();
        let mut w = Warnings::default();
        let p = analyse(&st, "s", &mut w);
        assert!(p.out.is_empty());
        let msgs: Vec<String> = w.iter().map(|w| w.to_string()).collect();
        assert!(msgs.iter().any(|m| m.contains("s:1: transport-mode policy to 10.9.0.0/16")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains("s:2: in policy 10.7.0.0/16 -> 10.0.0.1/32 mirrors no out policy")), "{msgs:?}");
    }
}
