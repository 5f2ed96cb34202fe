//! Traffic selectors of SPD entries (RFC 4301 §4.4.1.1): address prefixes,
//! upper-layer protocol and ports. For ICMP/ICMPv6 the port fields hold the
//! type (source "port") and code (destination "port"), as RFC 4301 §4.4.1.1 and
//! setkey do.

use std::fmt;
use std::net::IpAddr;

use crate::decider::Flow;

/// An address prefix like `192.168.0.0/24` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

/// Errors building a prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("prefix length {len} is too long for {addr} (at most {max})")]
pub struct PrefixLenError {
    pub addr: IpAddr,
    pub len: u8,
    pub max: u8,
}

impl IpPrefix {
    /// A prefix; host bits beyond `len` are cleared.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, PrefixLenError> {
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        if len > max {
            return Err(PrefixLenError { addr, len, max });
        }
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask32(len)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask128(len)).into()),
        };
        Ok(IpPrefix { addr, len })
    }

    /// A single host (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Self {
        let len = if addr.is_ipv4() { 32 } else { 128 };
        IpPrefix { addr, len }
    }

    /// `0.0.0.0/0` or `::/0` for the family of `like`.
    pub fn any_of_family(like: IpAddr) -> Self {
        match like {
            IpAddr::V4(_) => IpPrefix { addr: IpAddr::V4(0.into()), len: 0 },
            IpAddr::V6(_) => IpPrefix { addr: IpAddr::V6(0u128.into()), len: 0 },
        }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn len(&self) -> u8 {
        self.len
    }

    /// Whether this is a zero-length prefix.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `ip` lies in this prefix (never across address families).
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => u32::from(a) & mask32(self.len) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => u128::from(a) & mask128(self.len) == u128::from(n),
            _ => false,
        }
    }
}

#[inline]
fn mask32(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len as u32) }
}

#[inline]
fn mask128(len: u8) -> u128 {
    if len == 0 { 0 } else { u128::MAX << (128 - len as u32) }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// The selectors of one SPD entry. `None` means "any".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector {
    pub src: IpPrefix,
    pub dst: IpPrefix,
    /// Upper-layer protocol number (`None` = any).
    pub proto: Option<u8>,
    /// Source port, or ICMP type (`None` = any).
    pub src_port: Option<u16>,
    /// Destination port, or ICMP code (`None` = any).
    pub dst_port: Option<u16>,
}

impl Selector {
    /// Whether the flow's 5-tuple matches (direction is matched by the SPD).
    #[inline]
    pub fn matches(&self, flow: &Flow) -> bool {
        self.src.contains(flow.src)
            && self.dst.contains(flow.dst)
            && self.proto.is_none_or(|p| p == flow.proto)
            && self.src_port.is_none_or(|p| p == flow.src_port)
            && self.dst_port.is_none_or(|p| p == flow.dst_port)
    }

    /// How specific the selector is: used to order entries of equal priority
    /// (more specific first). Prefix bits count, then protocol and ports.
    pub fn specificity(&self) -> u32 {
        let fam = |p: &IpPrefix| if p.addr.is_ipv4() { p.len as u32 * 4 } else { p.len as u32 };
        fam(&self.src)
            + fam(&self.dst)
            + self.proto.map_or(0, |_| 1)
            + self.src_port.map_or(0, |_| 1)
            + self.dst_port.map_or(0, |_| 1)
    }
}

/// Name of an upper-layer protocol number as setkey writes it.
pub fn proto_name(p: Option<u8>) -> String {
    match p {
        None => "any".into(),
        Some(1) => "icmp".into(),
        Some(6) => "tcp".into(),
        Some(17) => "udp".into(),
        Some(58) => "icmp6".into(),
        Some(n) => n.to_string(),
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let port = |p: Option<u16>| p.map_or("any".to_string(), |p| p.to_string());
        write!(
            f,
            "{}[{}] {}[{}] {}",
            self.src,
            port(self.src_port),
            self.dst,
            port(self.dst_port),
            proto_name(self.proto)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decider::Direction;

    fn flow(src: &str, dst: &str, proto: u8, sp: u16, dp: u16) -> Flow {
        Flow {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            proto,
            src_port: sp,
            dst_port: dp,
            dir: Direction::Out,
            iface: None,
        }
    }

    #[test]
    fn prefix_contains_v4_v6_and_zero() {
        let p = IpPrefix::new("192.168.0.77".parse().unwrap(), 24).unwrap();
        assert_eq!(p.to_string(), "192.168.0.0/24");
        assert!(p.contains("192.168.0.1".parse().unwrap()));
        assert!(!p.contains("192.168.1.1".parse().unwrap()));
        assert!(!p.contains("::1".parse().unwrap()));
        let z = IpPrefix::new("0.0.0.0".parse().unwrap(), 0).unwrap();
        assert!(z.contains("8.8.8.8".parse().unwrap()));
        let v6 = IpPrefix::new("2001:db8::".parse().unwrap(), 32).unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::5".parse().unwrap()));
        let h = IpPrefix::new("10.1.2.3".parse().unwrap(), 32).unwrap();
        assert!(h.contains("10.1.2.3".parse().unwrap()));
        assert!(!h.contains("10.1.2.4".parse().unwrap()));
    }

    #[test]
    fn prefix_too_long_is_an_error() {
        assert!(IpPrefix::new("10.0.0.0".parse().unwrap(), 33).is_err());
        assert!(IpPrefix::new("::".parse().unwrap(), 129).is_err());
        assert!(IpPrefix::new("::".parse().unwrap(), 128).is_ok());
    }

    #[test]
    fn selector_matches_ports_and_proto() {
        let s = Selector {
            src: IpPrefix::new("10.0.0.0".parse().unwrap(), 8).unwrap(),
            dst: IpPrefix::host("192.0.2.1".parse().unwrap()),
            proto: Some(6),
            src_port: None,
            dst_port: Some(443),
        };
        assert!(s.matches(&flow("10.9.9.9", "192.0.2.1", 6, 5555, 443)));
        assert!(!s.matches(&flow("10.9.9.9", "192.0.2.1", 17, 5555, 443)));
        assert!(!s.matches(&flow("10.9.9.9", "192.0.2.1", 6, 5555, 80)));
        assert!(!s.matches(&flow("11.9.9.9", "192.0.2.1", 6, 5555, 443)));
        assert!(s.specificity() > Selector { proto: None, ..s.clone() }.specificity());
    }
}
