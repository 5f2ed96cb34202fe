//! SOCKS5 requests (RFC 1928 §4, §6, §7) on top of the TCP machinery.

use super::*;

impl Netstack {
    pub(super) fn socks_fail(&mut self, c: &mut TcpConn, rep: Reply) {
        self.stats.socks_errors += 1;
        if let Some(h) = c.handle.take() {
            self.sockets.get_mut::<tcp::Socket>(h).abort();
            self.closing.push(Closing {
                handle: h,
                port: c.local_port.take(),
                since: Instant::now(),
            });
        }
        c.to_os.extend(socks5::encode_reply(
            rep,
            SocketAddr::from(([0, 0, 0, 0], 0)),
        ));
        c.phase = Phase::SocksClosing;
        c.deadline = Some(Instant::now() + Duration::from_secs(2));
    }

    pub(super) fn socks_request(&mut self, c: &mut TcpConn, req: socks5::Request, now: Instant) {
        match req.command {
            Command::Connect => {}
            Command::UdpAssociate => return self.socks_udp_associate(c, req),
            Command::Bind => return self.socks_fail(c, Reply::CommandNotSupported),
        }
        let Some(dst) = req.address.to_socket_addr() else {
            // No DNS inside the tunnel: only IP literals.
            return self.socks_fail(c, Reply::AddressTypeNotSupported);
        };
        let has_family = if dst.is_ipv4() {
            self.iface.ipv4_addr().is_some()
        } else {
            self.iface.ipv6_addr().is_some()
        };
        if !has_family || dst.port() == 0 || dst.ip().is_unspecified() {
            return self.socks_fail(c, Reply::NetworkUnreachable);
        }
        let Some((h, port)) = self.inner_connect(dst) else {
            return self.socks_fail(c, Reply::GeneralFailure);
        };
        c.handle = Some(h);
        c.local_port = Some(port);
        c.phase = Phase::InnerConnecting;
        c.deadline = Some(now + CONNECT_TIMEOUT);
    }

    /// RFC 1928 §7: bind a relay next to the SOCKS listener, reply with its
    /// address, keep the association while the control connection is open.
    pub(super) fn socks_udp_associate(&mut self, c: &mut TcpConn, req: socks5::Request) {
        let (Ok(local), Ok(peer)) = (c.stream.local_addr(), c.stream.peer_addr()) else {
            return self.socks_fail(c, Reply::GeneralFailure);
        };
        let v4 = self.iface.ipv4_addr().is_some();
        let v6 = self.iface.ipv6_addr().is_some();
        let Some(port) = self.ports.allocate() else {
            return self.socks_fail(c, Reply::GeneralFailure);
        };
        let relay = mio::net::UdpSocket::bind(SocketAddr::new(local.ip(), 0)).and_then(|mut u| {
            self.poll
                .registry()
                .register(&mut u, SOCKS_UDP, Interest::READABLE)?;
            Ok(u)
        });
        let assoc = relay.and_then(|relay| {
            crate::socks_udp::SocksUdp::new(
                relay,
                port,
                peer.ip(),
                req.address.to_socket_addr(),
                (v4, v6),
                &mut self.sockets,
            )
        });
        match assoc {
            Ok(a) => {
                let bound = a.relay.local_addr().unwrap_or(local);
                c.to_os
                    .extend(socks5::encode_reply(Reply::Succeeded, bound));
                c.udp = Some(Box::new(a));
                c.phase = Phase::SocksUdp;
                c.deadline = None;
            }
            Err(_) => {
                self.ports.release(port);
                self.socks_fail(c, Reply::GeneralFailure);
            }
        }
    }
}
