//! Validation of a plugin's verdict at the WIT boundary. A verdict the data
//! plane could misread is a plugin fault (answered with the failure verdict,
//! counted, logged), never something the SPD has to interpret: above all a
//! `protect` with no SA request, which must not mean "send in the clear".
//!
//! A `protect` verdict is well-formed when it has 1..=[`MAX_SA_REQUESTS`]
//! requests and each request
//! - in tunnel mode names both tunnel endpoints, of one address family,
//!   both unicast (not unspecified, multicast or IPv4 broadcast); the two
//!   may be the same address (peers on one host, ESP in UDP on two ports:
//!   `esprit demo` on 127.0.0.1);
//! - in transport mode names no endpoints (the flow's own addresses are used,
//!   as in setkey's `esp/transport//require`).
use std::net::IpAddr;
use std::time::Duration;

use esprit_sadb::decider::{Decision, IpsecMode, SaRequest, Verdict};

/// Most SA requests in one `protect` verdict: the longest bundle the data
/// plane applies to one packet (`esprit_sadb::sadb::MAX_BUNDLE`).
pub const MAX_SA_REQUESTS: usize = esprit_sadb::sadb::MAX_BUNDLE;

/// Longest cache TTL the host accepts from a plugin (longer is clamped).
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Why a verdict was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidVerdict {
    /// `protect` with an empty list.
    #[error("protect with no SA request (an empty protect never means bypass)")]
    EmptyProtect,
    /// More requests than the data plane can apply.
    #[error("protect with {0} SA requests (at most {MAX_SA_REQUESTS})")]
    TooManyRequests(usize),
    /// A tunnel-mode request without endpoints.
    #[error("SA request {0}: tunnel mode without tunnel endpoints")]
    TunnelWithoutEndpoints(usize),
    /// A transport-mode request with endpoints.
    #[error("SA request {0}: transport mode with tunnel endpoints")]
    TransportWithEndpoints(usize),
    /// Endpoints of different address families.
    #[error("SA request {0}: tunnel endpoints {1} and {2} are of different address families")]
    MixedFamilies(usize, IpAddr, IpAddr),
    /// An endpoint that is not a unicast address.
    #[error("SA request {0}: tunnel endpoint {1} is not a unicast address")]
    NotUnicast(usize, IpAddr),
}

/// Whether `a` can be a tunnel endpoint.
fn is_unicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

fn check_request(i: usize, r: &SaRequest) -> Result<(), InvalidVerdict> {
    match (r.mode, r.tunnel) {
        (IpsecMode::Transport, None) => Ok(()),
        (IpsecMode::Transport, Some(_)) => Err(InvalidVerdict::TransportWithEndpoints(i)),
        (IpsecMode::Tunnel, None) => Err(InvalidVerdict::TunnelWithoutEndpoints(i)),
        (IpsecMode::Tunnel, Some((a, b))) => {
            if a.is_ipv4() != b.is_ipv4() {
                return Err(InvalidVerdict::MixedFamilies(i, a, b));
            }
            if let Some(bad) = [a, b].into_iter().find(|x| !is_unicast(*x)) {
                return Err(InvalidVerdict::NotUnicast(i, bad));
            }
            Ok(())
        }
    }
}

/// Checks a verdict (see the module documentation).
pub fn check_verdict(v: &Verdict) -> Result<(), InvalidVerdict> {
    let Verdict::Protect(reqs) = v else { return Ok(()) };
    if reqs.is_empty() {
        return Err(InvalidVerdict::EmptyProtect);
    }
    if reqs.len() > MAX_SA_REQUESTS {
        return Err(InvalidVerdict::TooManyRequests(reqs.len()));
    }
    reqs.iter().enumerate().try_for_each(|(i, r)| check_request(i, r))
}

/// Checks a whole decision and clamps its cache TTL to [`MAX_CACHE_TTL`].
pub fn check_decision(mut d: Decision) -> Result<Decision, InvalidVerdict> {
    check_verdict(&d.verdict)?;
    d.cache_ttl = d.cache_ttl.map(|t| t.min(MAX_CACHE_TTL));
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use esprit_sadb::decider::{IpsecProto, Level};

    fn tunnel(a: &str, b: &str) -> SaRequest {
        SaRequest { proto: IpsecProto::Esp, mode: IpsecMode::Tunnel, tunnel: Some((a.parse().expect("ip"), b.parse().expect("ip"))), level: Level::Require }
    }

    fn transport() -> SaRequest {
        SaRequest { proto: IpsecProto::Esp, mode: IpsecMode::Transport, tunnel: None, level: Level::Require }
    }

    #[test]
    fn well_formed_verdicts_pass() {
        for v in [
            Verdict::Bypass,
            Verdict::Discard,
            Verdict::Private,
            Verdict::PrivateOrClear,
            Verdict::Protect(vec![transport()]),
            Verdict::Protect(vec![tunnel("192.0.2.1", "192.0.2.2")]),
            Verdict::Protect(vec![tunnel("127.0.0.1", "127.0.0.2")]),
            Verdict::Protect(vec![transport(), tunnel("2001:db8::1", "2001:db8::2")]),
        ] {
            assert_eq!(check_verdict(&v), Ok(()), "{v:?}");
        }
    }

    #[test]
    fn ill_formed_protects_are_refused() {
        let mut t = transport();
        t.tunnel = Some(("192.0.2.1".parse().expect("ip"), "192.0.2.2".parse().expect("ip")));
        let mut no_ends = tunnel("192.0.2.1", "192.0.2.2");
        no_ends.tunnel = None;
        let cases = [
            (vec![], InvalidVerdict::EmptyProtect),
            (vec![transport(); 5], InvalidVerdict::TooManyRequests(5)),
            (vec![transport(); 5000], InvalidVerdict::TooManyRequests(5000)),
            (vec![transport(), no_ends], InvalidVerdict::TunnelWithoutEndpoints(1)),
            (vec![t], InvalidVerdict::TransportWithEndpoints(0)),
            (vec![tunnel("192.0.2.1", "2001:db8::2")], InvalidVerdict::MixedFamilies(0, "192.0.2.1".parse().expect("ip"), "2001:db8::2".parse().expect("ip"))),
            (vec![tunnel("0.0.0.0", "192.0.2.2")], InvalidVerdict::NotUnicast(0, "0.0.0.0".parse().expect("ip"))),
            (vec![tunnel("192.0.2.1", "224.0.0.1")], InvalidVerdict::NotUnicast(0, "224.0.0.1".parse().expect("ip"))),
            (vec![tunnel("192.0.2.1", "255.255.255.255")], InvalidVerdict::NotUnicast(0, "255.255.255.255".parse().expect("ip"))),
            (vec![tunnel("::", "2001:db8::2")], InvalidVerdict::NotUnicast(0, "::".parse().expect("ip"))),
            (vec![tunnel("2001:db8::1", "ff02::1")], InvalidVerdict::NotUnicast(0, "ff02::1".parse().expect("ip"))),
        ];
        for (reqs, want) in cases {
            assert_eq!(check_verdict(&Verdict::Protect(reqs)), Err(want));
        }
    }

    #[test]
    fn cache_ttl_is_clamped() {
        let d = Decision { verdict: Verdict::Bypass, cache_ttl: Some(Duration::from_millis(u64::MAX)), sa_key: None, explanation: String::new() };
        assert_eq!(check_decision(d).expect("ok").cache_ttl, Some(MAX_CACHE_TTL));
    }
}
