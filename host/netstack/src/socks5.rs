//! SOCKS Protocol Version 5 (RFC 1928) message parsing and encoding, no I/O.
//!
//! Only the "NO AUTHENTICATION REQUIRED" method (X'00') is offered.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// RFC 1928 §3/§4: protocol version 5.
pub const VERSION: u8 = 0x05;
/// RFC 1928 §3: METHOD X'00' NO AUTHENTICATION REQUIRED.
pub const METHOD_NO_AUTH: u8 = 0x00;
/// RFC 1928 §3: METHOD X'FF' NO ACCEPTABLE METHODS.
pub const METHOD_NO_ACCEPTABLE: u8 = 0xFF;

/// Largest request: VER CMD RSV ATYP + (1 + 255 domain octets) + PORT.
pub const MAX_REQUEST_LEN: usize = 4 + 1 + 255 + 2;

/// RFC 1928 §4 CMD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Connect,
    Bind,
    UdpAssociate,
}

/// RFC 1928 §5 destination address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Ip(SocketAddr),
    /// ATYP X'03': a fully-qualified domain name and a port.
    Domain(String, u16),
}

impl Address {
    /// The socket address if this is an IP address, or a domain name that is
    /// an IP literal (this netstack does no DNS).
    pub fn to_socket_addr(&self) -> Option<SocketAddr> {
        match self {
            Address::Ip(a) => Some(*a),
            Address::Domain(name, port) => {
                let name = name
                    .strip_prefix('[')
                    .and_then(|n| n.strip_suffix(']'))
                    .unwrap_or(name);
                name.parse::<IpAddr>()
                    .ok()
                    .map(|ip| SocketAddr::new(ip, *port))
            }
        }
    }
}

/// A parsed request (RFC 1928 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub command: Command,
    pub address: Address,
}

/// RFC 1928 §6 REP field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Reply {
    Succeeded = 0x00,
    GeneralFailure = 0x01,
    NotAllowed = 0x02,
    NetworkUnreachable = 0x03,
    HostUnreachable = 0x04,
    ConnectionRefused = 0x05,
    TtlExpired = 0x06,
    CommandNotSupported = 0x07,
    AddressTypeNotSupported = 0x08,
}

/// What was wrong with a greeting or a request; each maps to the reply the
/// server sends before closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Socks5Error {
    #[error("SOCKS version {0} is not 5")]
    BadVersion(u8),
    #[error("greeting offers no method")]
    NoMethods,
    #[error("command {0:#04x} is not CONNECT, BIND or UDP ASSOCIATE")]
    UnknownCommand(u8),
    #[error("address type {0:#04x} is not supported")]
    UnknownAddressType(u8),
    #[error("domain name is empty or not UTF-8")]
    BadDomain,
}

impl Socks5Error {
    /// The REP code for a request with this error (RFC 1928 §6).
    pub fn reply(self) -> Reply {
        match self {
            Socks5Error::UnknownCommand(_) => Reply::CommandNotSupported,
            Socks5Error::UnknownAddressType(_) | Socks5Error::BadDomain => {
                Reply::AddressTypeNotSupported
            }
            Socks5Error::BadVersion(_) | Socks5Error::NoMethods => Reply::GeneralFailure,
        }
    }
}

/// Parse the method-selection message (RFC 1928 §3):
/// `VER | NMETHODS | METHODS`. Returns `Ok(None)` while incomplete, else
/// whether "no authentication" was offered and the octets consumed.
pub fn parse_greeting(buf: &[u8]) -> Result<Option<(bool, usize)>, Socks5Error> {
    let Some(&ver) = buf.first() else {
        return Ok(None);
    };
    if ver != VERSION {
        return Err(Socks5Error::BadVersion(ver));
    }
    let Some(&n) = buf.get(1) else {
        return Ok(None);
    };
    if n == 0 {
        return Err(Socks5Error::NoMethods);
    }
    let len = 2 + n as usize;
    match buf.get(2..len) {
        None => Ok(None),
        Some(methods) => Ok(Some((methods.contains(&METHOD_NO_AUTH), len))),
    }
}

/// Parse a request (RFC 1928 §4): `VER | CMD | RSV | ATYP | DST.ADDR | DST.PORT`.
/// Returns `Ok(None)` while incomplete.
pub fn parse_request(buf: &[u8]) -> Result<Option<(Request, usize)>, Socks5Error> {
    if buf.len() < 4 {
        if let Some(&v) = buf.first() {
            if v != VERSION {
                return Err(Socks5Error::BadVersion(v));
            }
        }
        return Ok(None);
    }
    if buf[0] != VERSION {
        return Err(Socks5Error::BadVersion(buf[0]));
    }
    let command = match buf[1] {
        0x01 => Command::Connect,
        0x02 => Command::Bind,
        0x03 => Command::UdpAssociate,
        c => return Err(Socks5Error::UnknownCommand(c)),
    };
    // buf[2] is RSV; RFC 1928 says X'00' but ignoring it is the robust choice.
    let Some((address, len)) = parse_address(&buf[3..])? else {
        return Ok(None);
    };
    Ok(Some((Request { command, address }, 3 + len)))
}

/// Parse `ATYP | ADDR | PORT` (RFC 1928 §4–5), shared with the UDP header (§7).
pub fn parse_address(buf: &[u8]) -> Result<Option<(Address, usize)>, Socks5Error> {
    let Some(&atyp) = buf.first() else {
        return Ok(None);
    };
    let (addr_len, start) = match atyp {
        0x01 => (4, 1),
        0x04 => (16, 1),
        0x03 => match buf.get(1) {
            None => return Ok(None),
            Some(0) => return Err(Socks5Error::BadDomain),
            Some(&n) => (n as usize, 2),
        },
        t => return Err(Socks5Error::UnknownAddressType(t)),
    };
    let end = start + addr_len + 2;
    let Some(body) = buf.get(start..end) else {
        return Ok(None);
    };
    let (a, p) = body.split_at(addr_len);
    let port = u16::from_be_bytes([p[0], p[1]]);
    let address = match atyp {
        0x01 => {
            let o: [u8; 4] = a
                .try_into()
                .map_err(|_| Socks5Error::UnknownAddressType(atyp))?;
            Address::Ip(SocketAddr::new(Ipv4Addr::from(o).into(), port))
        }
        0x04 => {
            let o: [u8; 16] = a
                .try_into()
                .map_err(|_| Socks5Error::UnknownAddressType(atyp))?;
            Address::Ip(SocketAddr::new(Ipv6Addr::from(o).into(), port))
        }
        _ => {
            let name = std::str::from_utf8(a).map_err(|_| Socks5Error::BadDomain)?;
            Address::Domain(name.to_owned(), port)
        }
    };
    Ok(Some((address, end)))
}

/// Encode `ATYP | ADDR | PORT` for `addr` into `out`; returns the length
/// (at most 19).
pub fn encode_address(addr: SocketAddr, out: &mut [u8; 19]) -> usize {
    match addr.ip() {
        IpAddr::V4(ip) => {
            out[0] = 0x01;
            out[1..5].copy_from_slice(&ip.octets());
            out[5..7].copy_from_slice(&addr.port().to_be_bytes());
            7
        }
        IpAddr::V6(ip) => {
            out[0] = 0x04;
            out[1..17].copy_from_slice(&ip.octets());
            out[17..19].copy_from_slice(&addr.port().to_be_bytes());
            19
        }
    }
}

/// Encode a reply (RFC 1928 §6): `VER | REP | RSV | ATYP | BND.ADDR | BND.PORT`.
pub fn encode_reply(rep: Reply, bound: SocketAddr) -> Vec<u8> {
    let mut a = [0u8; 19];
    let n = encode_address(bound, &mut a);
    let mut v = Vec::with_capacity(3 + n);
    v.extend_from_slice(&[VERSION, rep as u8, 0x00]);
    v.extend_from_slice(&a[..n]);
    v
}

/// Parse the UDP request header (RFC 1928 §7):
/// `RSV(2) | FRAG | ATYP | DST.ADDR | DST.PORT | DATA`.
/// Returns the destination, the fragment number and the data offset.
pub fn parse_udp_header(buf: &[u8]) -> Result<Option<(Address, u8, usize)>, Socks5Error> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let frag = buf[2];
    let Some((addr, n)) = parse_address(&buf[3..])? else {
        return Ok(None);
    };
    Ok(Some((addr, frag, 3 + n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_with_no_auth() {
        assert_eq!(parse_greeting(&[5, 2, 2, 0]), Ok(Some((true, 4))));
        assert_eq!(parse_greeting(&[5, 1, 2]), Ok(Some((false, 3))));
    }

    #[test]
    fn greeting_incomplete() {
        assert_eq!(parse_greeting(&[]), Ok(None));
        assert_eq!(parse_greeting(&[5]), Ok(None));
        assert_eq!(parse_greeting(&[5, 3, 0]), Ok(None));
    }

    #[test]
    fn greeting_bad_version_and_no_methods() {
        assert_eq!(parse_greeting(&[4, 1, 0]), Err(Socks5Error::BadVersion(4)));
        assert_eq!(parse_greeting(&[5, 0]), Err(Socks5Error::NoMethods));
    }

    #[test]
    fn connect_ipv4() {
        let r = parse_request(&[5, 1, 0, 1, 198, 51, 100, 7, 0, 80, 0xAA])
            .unwrap()
            .unwrap();
        assert_eq!(r.1, 10);
        assert_eq!(r.0.command, Command::Connect);
        assert_eq!(r.0.address, Address::Ip("198.51.100.7:80".parse().unwrap()));
    }

    #[test]
    fn connect_ipv6() {
        let mut m = vec![5, 1, 0, 4];
        m.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        m.extend_from_slice(&[1, 187]);
        let r = parse_request(&m).unwrap().unwrap();
        assert_eq!(
            r.0.address,
            Address::Ip("[2001:db8::7]:443".parse().unwrap())
        );
        assert_eq!(r.1, m.len());
    }

    #[test]
    fn connect_domain_that_is_an_ip_literal() {
        let mut m = vec![5, 1, 0, 3, 12];
        m.extend_from_slice(b"198.51.100.7");
        m.extend_from_slice(&[0, 80]);
        let (r, _) = parse_request(&m).unwrap().unwrap();
        assert_eq!(
            r.address.to_socket_addr(),
            Some("198.51.100.7:80".parse().unwrap())
        );
        let mut m = vec![5, 1, 0, 3, 11];
        m.extend_from_slice(b"example.org");
        m.extend_from_slice(&[0, 80]);
        let (r, _) = parse_request(&m).unwrap().unwrap();
        assert_eq!(r.address.to_socket_addr(), None);
        let mut m = vec![5, 1, 0, 3, 13];
        m.extend_from_slice(b"[2001:db8::1]");
        m.extend_from_slice(&[0, 80]);
        let (r, _) = parse_request(&m).unwrap().unwrap();
        assert_eq!(
            r.address.to_socket_addr(),
            Some("[2001:db8::1]:80".parse().unwrap())
        );
    }

    #[test]
    fn request_incomplete_at_every_length() {
        let m = [5, 1, 0, 1, 10, 0, 0, 1, 0, 80];
        for n in 0..m.len() {
            assert_eq!(parse_request(&m[..n]), Ok(None), "len {n}");
        }
    }

    #[test]
    fn request_errors_map_to_reply_codes() {
        let e = parse_request(&[4, 1, 0, 1]).unwrap_err();
        assert_eq!(e.reply(), Reply::GeneralFailure);
        let e = parse_request(&[5, 9, 0, 1, 1, 2, 3, 4, 0, 1]).unwrap_err();
        assert_eq!(e, Socks5Error::UnknownCommand(9));
        assert_eq!(e.reply(), Reply::CommandNotSupported);
        let e = parse_request(&[5, 1, 0, 7, 1, 2]).unwrap_err();
        assert_eq!(e.reply(), Reply::AddressTypeNotSupported);
        let e = parse_request(&[5, 1, 0, 3, 0, 0, 80]).unwrap_err();
        assert_eq!(e, Socks5Error::BadDomain);
        let e = parse_request(&[5, 1, 0, 3, 2, 0xff, 0xfe, 0, 80]).unwrap_err();
        assert_eq!(e, Socks5Error::BadDomain);
    }

    #[test]
    fn bind_and_udp_associate_parse() {
        let (r, _) = parse_request(&[5, 2, 0, 1, 0, 0, 0, 0, 0, 0])
            .unwrap()
            .unwrap();
        assert_eq!(r.command, Command::Bind);
        let (r, _) = parse_request(&[5, 3, 0, 1, 0, 0, 0, 0, 0, 0])
            .unwrap()
            .unwrap();
        assert_eq!(r.command, Command::UdpAssociate);
    }

    #[test]
    fn reply_encoding() {
        assert_eq!(
            encode_reply(Reply::Succeeded, "10.0.0.1:4660".parse().unwrap()),
            vec![5, 0, 0, 1, 10, 0, 0, 1, 0x12, 0x34]
        );
        let v = encode_reply(Reply::ConnectionRefused, "[::1]:1".parse().unwrap());
        assert_eq!(v.len(), 22);
        assert_eq!(&v[..4], &[5, 5, 0, 4]);
    }

    #[test]
    fn udp_header() {
        let m = [0, 0, 0, 1, 198, 51, 100, 7, 0, 53, b'x'];
        let (a, frag, off) = parse_udp_header(&m).unwrap().unwrap();
        assert_eq!(a, Address::Ip("198.51.100.7:53".parse().unwrap()));
        assert_eq!((frag, off), (0, 10));
        assert_eq!(parse_udp_header(&m[..6]), Ok(None));
        assert!(parse_udp_header(&[0, 0, 0, 9, 1]).is_err());
    }
}
