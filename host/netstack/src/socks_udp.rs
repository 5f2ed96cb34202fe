//! SOCKS5 UDP ASSOCIATE (RFC 1928 §7): a relay UDP socket on the OS side and
//! a smoltcp UDP socket on an ephemeral inner port. Datagrams from the client
//! carry a SOCKS UDP header naming the inner destination; replies get a
//! header naming their inner source. The association lives as long as the
//! TCP control connection.

use std::io;
use std::net::{IpAddr, SocketAddr};

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::wire::IpEndpoint;

use crate::socks5;

const PACKETS: usize = 64;
const BYTES: usize = 64 * 1024;

pub(crate) struct SocksUdp {
    pub(crate) relay: mio::net::UdpSocket,
    pub(crate) handle: SocketHandle,
    pub(crate) port: u16,
    /// Only datagrams from the control connection's client IP are relayed.
    client_ip: IpAddr,
    /// Fixed by the request's DST, or by the first datagram when it was 0.
    client: Option<SocketAddr>,
    v4: bool,
    v6: bool,
}

#[derive(Default)]
pub(crate) struct Pump {
    pub(crate) progress: bool,
    pub(crate) dropped: u64,
}

impl SocksUdp {
    pub(crate) fn new(
        relay: mio::net::UdpSocket,
        port: u16,
        client_ip: IpAddr,
        requested: Option<SocketAddr>,
        families: (bool, bool),
        sockets: &mut SocketSet<'static>,
    ) -> io::Result<Self> {
        let mut s = udp::Socket::new(
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; PACKETS], vec![0; BYTES]),
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; PACKETS], vec![0; BYTES]),
        );
        s.bind(port)
            .map_err(|e| io::Error::new(io::ErrorKind::AddrInUse, e.to_string()))?;
        let client = requested.filter(|a| a.port() != 0 && !a.ip().is_unspecified());
        Ok(SocksUdp {
            relay,
            handle: sockets.add(s),
            port,
            client_ip,
            client,
            v4: families.0,
            v6: families.1,
        })
    }

    pub(crate) fn pump(&mut self, sockets: &mut SocketSet<'static>, buf: &mut [u8]) -> Pump {
        let mut out = Pump::default();
        let s = sockets.get_mut::<udp::Socket>(self.handle);
        // Client → inner.
        loop {
            let (n, from) = match self.relay.recv_from(buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            out.progress = true;
            if from.ip() != self.client_ip || self.client.is_some_and(|c| c != from) {
                out.dropped += 1;
                continue;
            }
            self.client = Some(from);
            let dst = match socks5::parse_udp_header(&buf[..n]) {
                // §7: a relay without fragmentation support drops FRAG != 0.
                Ok(Some((addr, 0, off))) => addr.to_socket_addr().map(|d| (d, off)),
                _ => None,
            };
            let Some((dst, off)) = dst else {
                out.dropped += 1;
                continue;
            };
            let family_ok = if dst.is_ipv4() { self.v4 } else { self.v6 };
            if !family_ok
                || dst.port() == 0
                || s.send_slice(&buf[off..n], IpEndpoint::from(dst)).is_err()
            {
                out.dropped += 1;
            }
        }
        // Inner → client, with the §7 header naming the inner source.
        let Some(client) = self.client else {
            return out;
        };
        while let Ok((data, meta)) = s.peek() {
            let src = SocketAddr::new(meta.endpoint.addr.into(), meta.endpoint.port);
            let mut hdr = [0u8; 19];
            let h = socks5::encode_address(src, &mut hdr);
            let total = 3 + h + data.len();
            if total > buf.len() {
                let _ = s.recv();
                out.dropped += 1;
                continue;
            }
            buf[..3].copy_from_slice(&[0, 0, 0]);
            buf[3..3 + h].copy_from_slice(&hdr[..h]);
            buf[3 + h..total].copy_from_slice(data);
            match self.relay.send_to(&buf[..total], client) {
                Ok(_) => {
                    out.progress = true;
                    let _ = s.recv();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    let _ = s.recv();
                    out.dropped += 1;
                }
            }
        }
        out
    }
}
