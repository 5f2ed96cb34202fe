//! CIDR prefixes (RFC 4632) for address selectors in plugin configs.
use core::fmt;
use core::net::IpAddr;
use core::str::FromStr;

/// An address prefix such as `10.0.0.0/8` or `2001:db8::/32`; a bare address
/// is a host prefix (/32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

/// A malformed prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(pub String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad prefix {:?}", self.0)
    }
}

fn mask(bits: u32, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        (!0u128) << (bits - u32::from(len))
    }
}

impl Cidr {
    /// The prefix length.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// True for /0.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `ip` lies inside the prefix (never across families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(p), IpAddr::V4(a)) => {
                let m = mask(32, self.len) as u32;
                u32::from(p) & m == u32::from(a) & m
            }
            (IpAddr::V6(p), IpAddr::V6(a)) => {
                let m = mask(128, self.len);
                u128::from(p) & m == u128::from(a) & m
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, CidrError> {
        let err = || CidrError(s.to_string());
        let (a, l) = match s.trim().split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a.parse().map_err(|_| err())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max).ok_or_else(err)?,
            None => max,
        };
        Ok(Cidr { addr, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_v4_v6_and_rejects_bad() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        let host: Cidr = "192.0.2.7".parse().unwrap();
        assert_eq!(host.len(), 32);
        for bad in ["10.0.0.0/33", "10.0.0/8", "x", "::/129", "1.2.3.4/-1", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }
}
