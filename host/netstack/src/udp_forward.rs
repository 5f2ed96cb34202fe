//! UDP `forward`: datagrams to a local OS socket are carried to an inner
//! destination. Each OS client address gets a session: a smoltcp UDP socket
//! on its own ephemeral inner port, so replies find their way back (the
//! same mapping a NAT keeps, RFC 4787 "endpoint-independent mapping" per
//! client). Sessions are bounded in number and expire when idle.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::wire::IpEndpoint;

use crate::ports::PortAllocator;

/// Datagrams and payload octets a session's smoltcp socket holds per direction.
const SESSION_PACKETS: usize = 64;
const SESSION_BYTES: usize = 64 * 1024;

pub(crate) struct UdpSession {
    handle: SocketHandle,
    port: u16,
    last: Instant,
}

pub(crate) struct UdpForward {
    pub(crate) socket: mio::net::UdpSocket,
    remote: SocketAddr,
    sessions: HashMap<SocketAddr, UdpSession>,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
}

/// What a pump did, for the caller's counters.
#[derive(Default)]
pub(crate) struct UdpPump {
    pub(crate) progress: bool,
    pub(crate) dropped: u64,
}

impl UdpForward {
    pub(crate) fn new(socket: mio::net::UdpSocket, remote: SocketAddr) -> Self {
        UdpForward {
            socket,
            remote,
            sessions: HashMap::new(),
            readable: true,
            writable: true,
        }
    }

    pub(crate) fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Move datagrams both ways; `buf` is scratch space of at least the MTU.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn pump(
        &mut self,
        now: Instant,
        sockets: &mut SocketSet<'static>,
        ports: &mut PortAllocator,
        max_sessions: usize,
        buf: &mut [u8],
    ) -> UdpPump {
        let mut out = UdpPump::default();
        let remote = IpEndpoint::from(self.remote);
        // Inner → OS first: it frees smoltcp buffers.
        for (client, sess) in self.sessions.iter_mut() {
            let s = sockets.get_mut::<udp::Socket>(sess.handle);
            while self.writable {
                let Ok((data, meta)) = s.peek() else { break };
                if meta.endpoint != remote {
                    let _ = s.recv();
                    out.dropped += 1;
                    continue;
                }
                match self.socket.send_to(data, *client) {
                    Ok(_) => {
                        let _ = s.recv();
                        sess.last = now;
                        out.progress = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        let _ = s.recv();
                        out.dropped += 1;
                    }
                }
            }
        }
        // OS → inner.
        while self.readable {
            let (n, client) = match self.socket.recv_from(buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP errors from earlier sends surface here; keep going.
                Err(_) => continue,
            };
            out.progress = true;
            if !self.sessions.contains_key(&client) {
                if self.sessions.len() >= max_sessions {
                    out.dropped += 1;
                    continue;
                }
                let Some(port) = ports.allocate() else {
                    out.dropped += 1;
                    continue;
                };
                let mut s = udp::Socket::new(
                    udp::PacketBuffer::new(
                        vec![udp::PacketMetadata::EMPTY; SESSION_PACKETS],
                        vec![0; SESSION_BYTES],
                    ),
                    udp::PacketBuffer::new(
                        vec![udp::PacketMetadata::EMPTY; SESSION_PACKETS],
                        vec![0; SESSION_BYTES],
                    ),
                );
                if s.bind(port).is_err() {
                    ports.release(port);
                    out.dropped += 1;
                    continue;
                }
                let handle = sockets.add(s);
                self.sessions.insert(
                    client,
                    UdpSession {
                        handle,
                        port,
                        last: now,
                    },
                );
            }
            if let Some(sess) = self.sessions.get_mut(&client) {
                sess.last = now;
                let s = sockets.get_mut::<udp::Socket>(sess.handle);
                if s.send_slice(&buf[..n], remote).is_err() {
                    // Buffer full: UDP is allowed to drop, and we count it.
                    out.dropped += 1;
                }
            }
        }
        out
    }

    /// Remove sessions idle for longer than `idle`; returns the earliest
    /// remaining expiry.
    pub(crate) fn expire(
        &mut self,
        now: Instant,
        idle: Duration,
        sockets: &mut SocketSet<'static>,
        ports: &mut PortAllocator,
    ) -> Option<Instant> {
        self.sessions.retain(|_, sess| {
            if now.saturating_duration_since(sess.last) >= idle {
                sockets.remove(sess.handle);
                ports.release(sess.port);
                false
            } else {
                true
            }
        });
        self.sessions.values().map(|s| s.last + idle).min()
    }
}
