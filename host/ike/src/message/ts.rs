//! Traffic selectors (RFC 7296 §3.13).
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::message::{ParseError, Reader};

pub const TS_IPV4_ADDR_RANGE: u8 = 7;
pub const TS_IPV6_ADDR_RANGE: u8 = 8;

/// Why a traffic selector text was refused; `Display` names the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsParseError {
    #[error("traffic selector {0:?}: expected an address like 10.0.0.0/24")]
    Address(String),
    #[error("traffic selector {0:?}: bad prefix length")]
    PrefixLength(String),
    #[error("traffic selector {text:?}: unknown protocol {protocol:?}")]
    Protocol { text: String, protocol: String },
    #[error("traffic selector {0:?}: bad port")]
    Port(String),
}

/// One traffic selector: an address range, a protocol (0 = any) and a port range.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    pub protocol: u8,
    pub start_port: u16,
    pub end_port: u16,
    pub start: IpAddr,
    pub end: IpAddr,
}

impl TrafficSelector {
    /// All traffic to/from a prefix.
    pub fn from_prefix(addr: IpAddr, len: u8) -> TrafficSelector {
        let (start, end) = match addr {
            IpAddr::V4(a) => {
                let m = if len == 0 { 0 } else { u32::MAX << (32 - len.min(32)) };
                let s = u32::from(a) & m;
                (IpAddr::V4(Ipv4Addr::from(s)), IpAddr::V4(Ipv4Addr::from(s | !m)))
            }
            IpAddr::V6(a) => {
                let m = if len == 0 { 0 } else { u128::MAX << (128 - len.min(128)) };
                let s = u128::from(a) & m;
                (IpAddr::V6(Ipv6Addr::from(s)), IpAddr::V6(Ipv6Addr::from(s | !m)))
            }
        };
        TrafficSelector { protocol: 0, start_port: 0, end_port: 65535, start, end }
    }

    /// Parses `10.0.0.0/24`, `10.0.0.1`, `2001:db8::/32`, optionally followed
    /// by `[proto/port]` like strongSwan (`10.0.0.0/24[tcp/443]`).
    pub fn parse(s: &str) -> Result<TrafficSelector, TsParseError> {
        let (net, extra) = match s.split_once('[') {
            Some((n, e)) => (n, Some(e.trim_end_matches(']'))),
            None => (s, None),
        };
        let (a, l) = match net.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (net, None),
        };
        let addr: IpAddr = a.trim().parse().map_err(|_| TsParseError::Address(s.to_string()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            Some(l) => l.trim().parse::<u8>().ok().filter(|&n| n <= max).ok_or_else(|| TsParseError::PrefixLength(s.to_string()))?,
            None => max,
        };
        let mut ts = TrafficSelector::from_prefix(addr, len);
        if let Some(e) = extra {
            let (p, port) = match e.split_once('/') {
                Some((p, port)) => (p, Some(port)),
                None => (e, None),
            };
            ts.protocol = match p {
                "tcp" => 6,
                "udp" => 17,
                "icmp" => 1,
                "any" | "" => 0,
                n => n.parse().map_err(|_| TsParseError::Protocol { text: s.to_string(), protocol: n.to_string() })?,
            };
            if let Some(port) = port {
                let port: u16 = port.parse().map_err(|_| TsParseError::Port(s.to_string()))?;
                ts.start_port = port;
                ts.end_port = port;
            }
        }
        Ok(ts)
    }

    pub fn is_v4(&self) -> bool {
        self.start.is_ipv4()
    }

    /// Does the selector contain this address?
    pub fn contains(&self, a: IpAddr) -> bool {
        match (a, self.start, self.end) {
            (IpAddr::V4(a), IpAddr::V4(s), IpAddr::V4(e)) => u32::from(s) <= u32::from(a) && u32::from(a) <= u32::from(e),
            (IpAddr::V6(a), IpAddr::V6(s), IpAddr::V6(e)) => u128::from(s) <= u128::from(a) && u128::from(a) <= u128::from(e),
            _ => false,
        }
    }

    /// The intersection (RFC 7296 §2.9 narrowing), if not empty.
    pub fn intersect(&self, o: &TrafficSelector) -> Option<TrafficSelector> {
        if self.is_v4() != o.is_v4() {
            return None;
        }
        let protocol = match (self.protocol, o.protocol) {
            (0, p) | (p, 0) => p,
            (a, b) if a == b => a,
            _ => return None,
        };
        let sp = self.start_port.max(o.start_port);
        let ep = self.end_port.min(o.end_port);
        if sp > ep {
            return None;
        }
        let (start, end) = match (self.start, self.end, o.start, o.end) {
            (IpAddr::V4(a), IpAddr::V4(b), IpAddr::V4(c), IpAddr::V4(d)) => {
                let s = u32::from(a).max(u32::from(c));
                let e = u32::from(b).min(u32::from(d));
                if s > e {
                    return None;
                }
                (IpAddr::V4(s.into()), IpAddr::V4(e.into()))
            }
            (IpAddr::V6(a), IpAddr::V6(b), IpAddr::V6(c), IpAddr::V6(d)) => {
                let s = u128::from(a).max(u128::from(c));
                let e = u128::from(b).min(u128::from(d));
                if s > e {
                    return None;
                }
                (IpAddr::V6(s.into()), IpAddr::V6(e.into()))
            }
            _ => return None,
        };
        Some(TrafficSelector { protocol, start_port: sp, end_port: ep, start, end })
    }

    /// The selector as a prefix if it is one (start/len).
    pub fn as_prefix(&self) -> Option<(IpAddr, u8)> {
        match (self.start, self.end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => {
                let x = u32::from(s) ^ u32::from(e);
                let len = x.leading_zeros() as u8;
                (x.checked_add(1).map(|v| v.is_power_of_two()).unwrap_or(true) && u32::from(s) & x == 0).then_some((self.start, len))
            }
            (IpAddr::V6(s), IpAddr::V6(e)) => {
                let x = u128::from(s) ^ u128::from(e);
                let len = x.leading_zeros() as u8;
                (x.checked_add(1).map(|v| v.is_power_of_two()).unwrap_or(true) && u128::from(s) & x == 0).then_some((self.start, len))
            }
            _ => None,
        }
    }
}

impl fmt::Display for TrafficSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_prefix() {
            Some((a, l)) => write!(f, "{a}/{l}")?,
            None => write!(f, "{}..{}", self.start, self.end)?,
        }
        if self.protocol != 0 || self.start_port != 0 || self.end_port != 65535 {
            write!(f, "[{}/", self.protocol)?;
            if self.start_port == self.end_port {
                write!(f, "{}]", self.start_port)?;
            } else {
                write!(f, "{}-{}]", self.start_port, self.end_port)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for TrafficSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Formats a list of selectors for logs.
pub fn list(ts: &[TrafficSelector]) -> String {
    ts.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" ")
}

pub fn parse_ts(body: &[u8]) -> Result<Vec<TrafficSelector>, ParseError> {
    let mut r = Reader::new(body, "TS payload");
    let n = r.u8()?;
    r.take(3)?;
    let mut out = Vec::new();
    for _ in 0..n {
        let t = r.u8()?;
        let proto = r.u8()?;
        let len = r.u16()? as usize;
        let sp = r.u16()?;
        let ep = r.u16()?;
        let (start, end) = match (t, len) {
            (TS_IPV4_ADDR_RANGE, 16) => {
                let s = r.take(4)?;
                let e = r.take(4)?;
                (IpAddr::V4(Ipv4Addr::new(s[0], s[1], s[2], s[3])), IpAddr::V4(Ipv4Addr::new(e[0], e[1], e[2], e[3])))
            }
            (TS_IPV6_ADDR_RANGE, 40) => {
                let mut s = [0u8; 16];
                s.copy_from_slice(r.take(16)?);
                let mut e = [0u8; 16];
                e.copy_from_slice(r.take(16)?);
                (IpAddr::V6(Ipv6Addr::from(s)), IpAddr::V6(Ipv6Addr::from(e)))
            }
            _ if len >= 8 => {
                // Unknown TS type: skip it (RFC 7296 §3.13.1 types we do not know).
                r.take(len - 8)?;
                continue;
            }
            _ => return Err(ParseError::BadLength { what: "traffic selector", length: len, have: r.remaining() }),
        };
        out.push(TrafficSelector { protocol: proto, start_port: sp, end_port: ep, start, end });
    }
    if r.remaining() != 0 {
        return Err(ParseError::Malformed("trailing bytes after the traffic selectors"));
    }
    Ok(out)
}

pub fn emit_ts(ts: &[TrafficSelector], out: &mut Vec<u8>) {
    out.push(ts.len() as u8);
    out.extend_from_slice(&[0, 0, 0]);
    for t in ts {
        match (t.start, t.end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => {
                out.extend_from_slice(&[TS_IPV4_ADDR_RANGE, t.protocol, 0, 16]);
                out.extend_from_slice(&t.start_port.to_be_bytes());
                out.extend_from_slice(&t.end_port.to_be_bytes());
                out.extend_from_slice(&s.octets());
                out.extend_from_slice(&e.octets());
            }
            (IpAddr::V6(s), IpAddr::V6(e)) => {
                out.extend_from_slice(&[TS_IPV6_ADDR_RANGE, t.protocol, 0, 40]);
                out.extend_from_slice(&t.start_port.to_be_bytes());
                out.extend_from_slice(&t.end_port.to_be_bytes());
                out.extend_from_slice(&s.octets());
                out.extend_from_slice(&e.octets());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_are_typed() {
        assert_eq!(TrafficSelector::parse("nope"), Err(TsParseError::Address("nope".into())));
        assert_eq!(TrafficSelector::parse("10.0.0.0/33"), Err(TsParseError::PrefixLength("10.0.0.0/33".into())));
        assert_eq!(TrafficSelector::parse("10.0.0.0/8[sctp]"), Err(TsParseError::Protocol { text: "10.0.0.0/8[sctp]".into(), protocol: "sctp".into() }));
        let e = TrafficSelector::parse("10.0.0.0/8[tcp/x]").unwrap_err();
        assert_eq!(e.to_string(), "traffic selector \"10.0.0.0/8[tcp/x]\": bad port");
    }

    #[test]
    fn narrowing_and_codec() {
        let a = TrafficSelector::parse("10.0.0.0/16").unwrap();
        let b = TrafficSelector::parse("10.0.5.0/24[tcp/443]").unwrap();
        let i = a.intersect(&b).unwrap();
        assert_eq!(i.to_string(), "10.0.5.0/24[6/443]");
        assert!(a.intersect(&TrafficSelector::parse("10.1.0.0/16").unwrap()).is_none());
        assert!(a.intersect(&TrafficSelector::parse("::/0").unwrap()).is_none());
        let v = vec![a, b, TrafficSelector::parse("2001:db8::/32").unwrap()];
        let mut out = Vec::new();
        emit_ts(&v, &mut out);
        assert_eq!(parse_ts(&out).unwrap(), v);
        for n in 0..out.len() {
            assert!(parse_ts(&out[..n]).is_err());
        }
        assert_eq!(TrafficSelector::parse("192.0.2.1").unwrap().to_string(), "192.0.2.1/32");
    }
}
