//! The rootless netstack: a smoltcp [`Interface`] (medium IP) that owns the
//! inner addresses, bridged to OS sockets for `forward`, `expose` and SOCKS5.
//!
//! Driver model (sans-IO towards the data plane, mio towards the OS): the
//! netstack owns a `mio::Poll` for its OS sockets; its epoll fd is exposed
//! through [`AsRawFd`] so a single-threaded event loop can wait on it next to
//! its own sockets, or the netstack can run on a thread of its own with
//! [`Netstack::wait`] and be woken by [`Netstack::waker`].
//!
//! ```text
//! loop {
//!     for pkt in decrypted { ns.receive_inner(pkt) }
//!     let delay = ns.poll(Instant::now());
//!     ns.poll_outbound(&mut |pkt| encrypt_and_send(pkt));
//!     wait(ns.as_raw_fd(), delay)            // or ns.wait(delay)
//! }
//! ```

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Token};
use smoltcp::iface::{
    Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet,
};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};

use crate::config::{NetstackConfig, Proto};
use crate::device::InnerDevice;
use crate::ports::PortAllocator;
use crate::socks5::{self, Command, Reply};
use crate::tcp_bridge::{End, Phase, TcpConn};
use crate::udp_expose::UdpExpose;
use crate::udp_forward::UdpForward;

mod conns;
mod setup;
mod socks;
mod udp_pump;

const LISTENER_BASE: usize = 1 << 40;
const UDP_BASE: usize = 1 << 41;
const UDP_EXPOSE: Token = Token(1 << 42);
const SOCKS_UDP: Token = Token(1 << 43);
const WAKER: Token = Token(usize::MAX);
/// Time a SOCKS client has to complete its handshake, and an inner or OS
/// connect has to complete.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Inactivity timeout of inner TCP connections (no ACK for this long).
const TCP_TIMEOUT: Duration = Duration::from_secs(120);
/// Bounded work per `poll` call before handing control back.
const MAX_ROUNDS: usize = 8;
const MAX_EGRESS_PER_ROUND: usize = 256;

/// Counters and gauges, for `esprit status` and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetstackStats {
    /// Inbound packets dropped because the queue was full or they were malformed.
    pub rx_dropped: u64,
    pub rx_queue: usize,
    pub tx_queue: usize,
    /// Live bridged TCP connections.
    pub tcp_active: usize,
    /// smoltcp sockets finishing their close (FIN handshake, TIME-WAIT, RST).
    pub tcp_closing: usize,
    pub tcp_opened: u64,
    pub tcp_reset: u64,
    /// Local connections reset / inner SYNs refused at `max_connections`.
    pub tcp_limited: u64,
    /// Octets held in smoltcp buffers by live connections.
    pub tcp_buffered: usize,
    pub socks_errors: u64,
    pub udp_sessions: usize,
    pub udp_dropped: u64,
}

enum ListenerKind {
    Forward(SocketAddr),
    Socks5,
}

struct OsListener {
    listener: mio::net::TcpListener,
    kind: ListenerKind,
    readable: bool,
}

struct ExposePort {
    port: u16,
    local: SocketAddr,
    listening: Vec<SocketHandle>,
}

/// A smoltcp socket whose OS side is gone, kept until its close completes.
struct Closing {
    handle: SocketHandle,
    port: Option<u16>,
    since: Instant,
}

/// The rootless inner side. See the module documentation for the driver loop.
pub struct Netstack {
    epoch: Instant,
    iface: Interface,
    device: InnerDevice,
    sockets: SocketSet<'static>,
    poll: mio::Poll,
    events: Events,
    waker: Arc<mio::Waker>,
    cfg: NetstackConfig,
    listeners: Vec<OsListener>,
    exposes: Vec<ExposePort>,
    conns: Vec<Option<TcpConn>>,
    free: Vec<usize>,
    live: usize,
    closing: Vec<Closing>,
    udp: Vec<UdpForward>,
    udp_exposes: Vec<UdpExpose>,
    ports: PortAllocator,
    scratch: Vec<u8>,
    stats: NetstackStats,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
impl Netstack {
    /// Local addresses of the OS listeners, in config order (forwards with
    /// TCP, then SOCKS5) — useful when binding to port 0.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.listener.local_addr().ok())
            .collect()
    }

    /// Local addresses of the UDP forward sockets, in config order.
    pub fn udp_listen_addrs(&self) -> Vec<SocketAddr> {
        self.udp
            .iter()
            .filter_map(|u| u.socket.local_addr().ok())
            .collect()
    }

    /// A decrypted inner packet addressed to us. Queued (bounded) and
    /// processed by the next [`poll`](Self::poll); returns false when it was
    /// dropped and counted (queue full: call `poll` more often; empty or
    /// larger than the MTU).
    pub fn receive_inner(&mut self, pkt: &[u8]) -> bool {
        self.device.push_rx(pkt)
    }

    /// Replace the inner addresses, e.g. with the virtual IP a gateway
    /// assigned through the IKEv2 configuration payload (RFC 7296 §3.15).
    /// Connections bound to a removed address stop working; forwards and
    /// exposes continue on the new address.
    pub fn set_addresses(&mut self, addresses: &[(IpAddr, u8)]) -> io::Result<()> {
        let (v4, v6) = setup::check_addresses(addresses)?;
        self.iface.update_ip_addrs(|addrs| {
            addrs.clear();
            for (addr, prefix) in addresses {
                let _ = addrs.push(IpCidr::new(IpAddress::from(*addr), *prefix));
            }
        });
        let routes = self.iface.routes_mut();
        routes.remove_default_ipv4_route();
        routes.remove_default_ipv6_route();
        setup::default_routes(&mut self.iface, v4, v6)?;
        self.cfg.addresses = addresses.to_vec();
        Ok(())
    }

    /// Inner packets to encrypt and send, oldest first.
    pub fn poll_outbound(&mut self, emit: &mut dyn FnMut(&[u8])) {
        self.device.drain_tx(emit);
    }

    /// Wakes [`wait`](Self::wait) (or the epoll fd) from another thread.
    pub fn waker(&self) -> Arc<mio::Waker> {
        self.waker.clone()
    }

    /// Block until an OS socket is ready, the waker fires, or `timeout`.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        self.apply_events();
        Ok(())
    }

    pub fn stats(&self) -> NetstackStats {
        let mut s = self.stats.clone();
        s.rx_dropped = self.device.rx_dropped;
        s.rx_queue = self.device.rx_len();
        s.tx_queue = self.device.tx_len();
        s.tcp_active = self.live;
        s.tcp_closing = self.closing.len();
        s.tcp_buffered = self
            .conns
            .iter()
            .flatten()
            .filter_map(|c| c.handle)
            .map(|h| TcpConn::buffered(self.sockets.get::<tcp::Socket>(h)))
            .sum();
        s.udp_sessions = self.udp.iter().map(|u| u.sessions()).sum::<usize>()
            + self.udp_exposes.iter().map(|u| u.sessions()).sum::<usize>();
        s
    }

    fn smol_now(&self, now: Instant) -> smoltcp::time::Instant {
        smoltcp::time::Instant::from_micros(
            now.saturating_duration_since(self.epoch).as_micros() as i64
        )
    }

    /// Drive everything: inbound packets, OS sockets, smoltcp timers and
    /// egress. Returns when to call again at the latest (`None`: only on I/O).
    pub fn poll(&mut self, now: Instant) -> Option<Duration> {
        let ts = self.smol_now(now);
        self.collect_events();
        let mut rounds = 0;
        loop {
            rounds += 1;
            let mut progress = false;
            // Ingress one packet at a time so exposed ports always have a
            // listening socket for the next SYN.
            while self.device.rx_pending() {
                self.replenish_listeners(now);
                match self
                    .iface
                    .poll_ingress_single(ts, &mut self.device, &mut self.sockets)
                {
                    PollIngressSingleResult::None => break,
                    _ => progress = true,
                }
            }
            self.replenish_listeners(now);
            progress |= self.accept_os(now);
            progress |= self.pump_conns(now);
            progress |= self.pump_udp(now);
            let mut n = 0;
            while n < MAX_EGRESS_PER_ROUND && !self.device.tx_full() {
                match self
                    .iface
                    .poll_egress(ts, &mut self.device, &mut self.sockets)
                {
                    PollResult::None => break,
                    PollResult::SocketStateChanged => {
                        progress = true;
                        n += 1;
                    }
                }
            }
            if !progress || rounds >= MAX_ROUNDS {
                break;
            }
        }
        let mut next = self.reap(now);
        if self.device.rx_pending() || self.device.tx_full() || rounds >= MAX_ROUNDS {
            return Some(Duration::ZERO);
        }
        if let Some(d) = self.iface.poll_delay(ts, &self.sockets) {
            let d = Duration::from_micros(d.total_micros());
            next = Some(next.map_or(d, |n| n.min(d)));
        }
        next
    }

    fn collect_events(&mut self) {
        loop {
            match self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
            let full = self.events.iter().count() >= self.events.capacity();
            self.apply_events();
            if !full {
                return;
            }
        }
    }

    fn apply_events(&mut self) {
        for ev in self.events.iter() {
            let t = ev.token().0;
            let r = ev.is_readable() || ev.is_read_closed() || ev.is_error();
            let w = ev.is_writable() || ev.is_write_closed() || ev.is_error();
            if t == WAKER.0 || t == UDP_EXPOSE.0 || t == SOCKS_UDP.0 {
                // Wake-ups only: UDP expose sessions are tried on every poll.
                continue;
            } else if t >= UDP_BASE {
                if let Some(u) = self.udp.get_mut(t - UDP_BASE) {
                    u.readable |= r;
                    u.writable |= w;
                }
            } else if t >= LISTENER_BASE {
                if let Some(l) = self.listeners.get_mut(t - LISTENER_BASE) {
                    l.readable |= r;
                }
            } else if let Some(Some(c)) = self.conns.get_mut(t) {
                c.readable |= r;
                c.writable |= w;
            }
        }
    }

    /// Remove finished smoltcp sockets and idle UDP sessions; returns the
    /// next timer of our own.
    fn reap(&mut self, now: Instant) -> Option<Duration> {
        let cap = self.cfg.max_connections;
        let over = self.closing.len().saturating_sub(cap);
        let sockets = &mut self.sockets;
        let ports = &mut self.ports;
        let mut n = 0;
        self.closing.retain(|cl| {
            let s = sockets.get_mut::<tcp::Socket>(cl.handle);
            let done = match s.state() {
                tcp::State::Closed => s.remote_endpoint().is_none(),
                tcp::State::Listen => true,
                _ => false,
            };
            // Too many closing sockets, or stuck for long: cut them short.
            let force = n < over || now.saturating_duration_since(cl.since) > TCP_TIMEOUT;
            n += 1;
            if done || force {
                sockets.remove(cl.handle);
                if let Some(p) = cl.port {
                    ports.release(p);
                }
                false
            } else {
                true
            }
        });
        let mut next: Option<Instant> = None;
        for u in &mut self.udp {
            if let Some(t) = u.expire(
                now,
                self.cfg.udp_idle_timeout,
                &mut self.sockets,
                &mut self.ports,
            ) {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        for u in &mut self.udp_exposes {
            if let Some(t) = u.expire(now, self.cfg.udp_idle_timeout, self.poll.registry()) {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        for c in self.conns.iter().flatten() {
            if let Some(t) = c.deadline {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        next.map(|t| t.saturating_duration_since(now))
    }
}

impl AsRawFd for Netstack {
    /// The epoll fd of the netstack's OS sockets: readable when
    /// [`poll`](Netstack::poll) has OS work to do.
    fn as_raw_fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }
}

#[cfg(test)]
mod tests;
