//! Convenience methods on the generated WIT types.
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{Decision, Direction, Flow, IpAddress, Verdict};

impl Decision {
    /// A decision cached until the next reload.
    pub fn new(verdict: Verdict, explanation: impl Into<String>) -> Self {
        Decision {
            verdict,
            cache_ttl_ms: None,
            explanation: explanation.into(),
            #[cfg(not(feature = "wit-0-1"))]
            sa_key: None,
        }
    }

    /// Set the SA key (flows with the same key share one SA); without one,
    /// the export asks [`crate::Policy::sa_key`] for verdicts that use SAs.
    #[cfg(not(feature = "wit-0-1"))]
    pub fn sa_key(mut self, key: u64) -> Self {
        self.sa_key = Some(key);
        self
    }

    /// Limit how long the SPD may cache this decision.
    pub fn ttl_ms(mut self, ms: u64) -> Self {
        self.cache_ttl_ms = Some(ms);
        self
    }
}

impl Verdict {
    /// Whether the verdict uses SAs (`protect`, `private`,
    /// `private-or-clear`): only those read an SA key.
    pub fn uses_sa(&self) -> bool {
        matches!(self, Verdict::Protect(_) | Verdict::PrivateOrClear | Verdict::Private)
    }
}

impl IpAddress {
    /// As a `core::net` address.
    pub fn to_ip(&self) -> IpAddr {
        match *self {
            IpAddress::Ipv4((a, b, c, d)) => IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
        }
    }

    /// From a `core::net` address.
    pub fn from_ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => {
                let o = a.octets();
                IpAddress::Ipv4((o[0], o[1], o[2], o[3]))
            }
            IpAddr::V6(a) => {
                let s = a.segments();
                IpAddress::Ipv6((s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]))
            }
        }
    }
}

impl Flow {
    /// The remote address: destination for outbound/forwarded flows, source
    /// for inbound ones.
    pub fn remote(&self) -> IpAddr {
        match self.direction {
            Direction::Inbound => self.src.to_ip(),
            Direction::Outbound | Direction::Forward => self.dst.to_ip(),
        }
    }
}

/// Parse a verdict name from a config value: `bypass`, `discard`,
/// `protect` (ESP transport, require), `protect-tunnel:LOCAL-REMOTE`,
/// `private-or-clear`, `private`.
pub fn parse_verdict(s: &str) -> Result<Verdict, String> {
    use crate::{IpsecMode, IpsecProto, Level, SaRequest, TunnelEndpoints};
    let s = s.trim();
    Ok(match s {
        "bypass" | "none" | "clear" => Verdict::Bypass,
        "discard" | "drop" => Verdict::Discard,
        "protect" | "ipsec" => Verdict::Protect(vec![SaRequest {
            proto: IpsecProto::Esp,
            mode: IpsecMode::Transport,
            tunnel: None,
            level: Level::Require,
        }]),
        "private-or-clear" => Verdict::PrivateOrClear,
        "private" => Verdict::Private,
        other => {
            let ends = other.strip_prefix("protect-tunnel:").ok_or_else(|| format!("unknown verdict {other:?}"))?;
            let (l, r) = ends.split_once('-').ok_or_else(|| format!("tunnel endpoints {ends:?}: want LOCAL-REMOTE"))?;
            let ip = |a: &str| a.parse::<IpAddr>().map(IpAddress::from_ip).map_err(|_| format!("bad address {a:?}"));
            Verdict::Protect(vec![SaRequest {
                proto: IpsecProto::Esp,
                mode: IpsecMode::Tunnel,
                tunnel: Some(TunnelEndpoints { local: ip(l)?, remote: ip(r)? }),
                level: Level::Require,
            }])
        }
    })
}
