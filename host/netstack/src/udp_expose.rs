//! UDP `expose`: peers send to `inner-address:port`; each peer endpoint gets
//! its own OS UDP socket connected to the local service, so the service's
//! replies go back to the right peer. Sessions are bounded and expire idle.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::{Interest, Registry, Token};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::wire::IpEndpoint;

const PACKETS: usize = 256;
const BYTES: usize = 256 * 1024;

struct Session {
    socket: mio::net::UdpSocket,
    last: Instant,
}

pub(crate) struct UdpExpose {
    handle: SocketHandle,
    local: SocketAddr,
    sessions: HashMap<IpEndpoint, Session>,
}

#[derive(Default)]
pub(crate) struct Pump {
    pub(crate) progress: bool,
    pub(crate) dropped: u64,
}

impl UdpExpose {
    pub(crate) fn new(
        port: u16,
        local: SocketAddr,
        sockets: &mut SocketSet<'static>,
    ) -> io::Result<Self> {
        let mut s = udp::Socket::new(
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; PACKETS], vec![0; BYTES]),
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; PACKETS], vec![0; BYTES]),
        );
        s.bind(port).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("udp expose {port}: {e}"),
            )
        })?;
        Ok(UdpExpose {
            handle: sockets.add(s),
            local,
            sessions: HashMap::new(),
        })
    }

    pub(crate) fn sessions(&self) -> usize {
        self.sessions.len()
    }

    pub(crate) fn pump(
        &mut self,
        now: Instant,
        sockets: &mut SocketSet<'static>,
        registry: &Registry,
        token: Token,
        max_sessions: usize,
        buf: &mut [u8],
    ) -> Pump {
        let mut out = Pump::default();
        let s = sockets.get_mut::<udp::Socket>(self.handle);
        // OS (service replies) → inner.
        for (peer, sess) in self.sessions.iter_mut() {
            loop {
                match sess.socket.recv(buf) {
                    Ok(n) => {
                        out.progress = true;
                        sess.last = now;
                        if s.send_slice(&buf[..n], *peer).is_err() {
                            out.dropped += 1;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // WouldBlock, or ECONNREFUSED from an earlier send.
                    Err(_) => break,
                }
            }
        }
        // Inner → OS service.
        while let Ok((data, meta)) = s.peek() {
            let peer = meta.endpoint;
            if !self.sessions.contains_key(&peer) {
                if self.sessions.len() >= max_sessions {
                    let _ = s.recv();
                    out.dropped += 1;
                    continue;
                }
                let bind: SocketAddr = if self.local.is_ipv4() {
                    "0.0.0.0:0".parse().expect("literal")
                } else {
                    "[::]:0".parse().expect("literal")
                };
                let opened = mio::net::UdpSocket::bind(bind).and_then(|mut u| {
                    u.connect(self.local)?;
                    registry.register(&mut u, token, Interest::READABLE)?;
                    Ok(u)
                });
                match opened {
                    Ok(socket) => {
                        self.sessions.insert(peer, Session { socket, last: now });
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "udp expose: cannot open session socket");
                        let _ = s.recv();
                        out.dropped += 1;
                        continue;
                    }
                }
            }
            let Some(sess) = self.sessions.get_mut(&peer) else {
                break;
            };
            match sess.socket.send(data) {
                Ok(_) => {
                    sess.last = now;
                    out.progress = true;
                    let _ = s.recv();
                }
                // Kernel buffer full: leave the datagram queued in smoltcp.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    let _ = s.recv();
                    out.dropped += 1;
                }
            }
        }
        out
    }

    pub(crate) fn expire(
        &mut self,
        now: Instant,
        idle: Duration,
        registry: &Registry,
    ) -> Option<Instant> {
        self.sessions.retain(|_, sess| {
            let keep = now.saturating_duration_since(sess.last) < idle;
            if !keep {
                let _ = registry.deregister(&mut sess.socket);
            }
            keep
        });
        self.sessions.values().map(|s| s.last + idle).min()
    }
}
