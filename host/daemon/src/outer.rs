//! The outer sockets: ESP-in-UDP (RFC 3948) on an unprivileged UDP socket,
//! and raw IPv4 sockets for IP protocols 50 (ESP) and 51 (AH).
//!
//! Raw sockets send with IP_HDRINCL: the engine builds the whole outer header
//! (AH's ICV covers it, so the kernel must not choose fields). They carry a
//! fwmark so that policy routing sends them out the real interface, never back
//! into esprit's TUN. IPv6 outer traffic uses ESP-in-UDP.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// IANA protocol numbers (RFC 4303, RFC 4302).
pub const IPPROTO_ESP: i32 = 50;
pub const IPPROTO_AH: i32 = 51;

/// Bound UDP socket for ESP-in-UDP (and IKE, later) on port 4500 style traffic.
pub fn udp_socket(listen: SocketAddr, fwmark: Option<u32>) -> io::Result<std::net::UdpSocket> {
    let domain = if listen.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if let Some(mark) = fwmark {
        s.set_mark(mark)?;
    }
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.bind(&listen.into())
        .map_err(|e| io::Error::new(e.kind(), format!("binding UDP {listen}: {e}")))?;
    Ok(s.into())
}

/// A raw IPv4 socket for one IPsec protocol, sending with IP_HDRINCL.
pub fn raw_socket(proto: i32, fwmark: u32) -> io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(proto))).map_err(|e| {
        if e.kind() == io::ErrorKind::PermissionDenied {
            io::Error::new(e.kind(), "raw ESP/AH sockets need root or CAP_NET_RAW (or use outer.transport = \"udp\")")
        } else {
            e
        }
    })?;
    s.set_header_included_v4(true)?;
    s.set_mark(fwmark)?;
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    Ok(s)
}

/// Receives one whole IPv4 packet (header included) from a raw socket.
pub fn recv_raw(s: &Socket, buf: &mut [u8]) -> io::Result<usize> {
    use std::io::Read;
    let mut r: &Socket = s;
    r.read(buf)
}

/// Sends a whole IPv4 packet on a raw IP_HDRINCL socket to its destination.
pub fn send_raw_v4(s: &Socket, packet: &[u8]) -> io::Result<usize> {
    let dst = packet
        .get(16..20)
        .map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "short IPv4 packet"))?;
    s.send_to(packet, &SockAddr::from(SocketAddrV4::new(dst, 0)))
}
