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
use smoltcp::iface::{Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};

use crate::config::{NetstackConfig, Proto};
use crate::device::InnerDevice;
use crate::ports::PortAllocator;
use crate::socks5::{self, Command, Reply};
use crate::tcp_bridge::{End, Phase, TcpConn};
use crate::udp_expose::UdpExpose;
use crate::udp_forward::UdpForward;

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
    /// OS accepts deferred / inner SYNs refused at `max_connections`.
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
    /// Build the interface, bind every OS listener of `cfg`.
    pub fn new(cfg: NetstackConfig) -> io::Result<Self> {
        if cfg.addresses.is_empty() {
            return Err(invalid("netstack needs at least one inner address".into()));
        }
        if cfg.mtu < 1280 && cfg.addresses.iter().any(|(a, _)| a.is_ipv6()) {
            return Err(invalid(format!("mtu {} is below IPv6's minimum 1280 (RFC 8200 §5)", cfg.mtu)));
        }
        if cfg.mtu < 576 {
            return Err(invalid(format!("mtu {} is below 576", cfg.mtu)));
        }
        let epoch = Instant::now();
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(epoch.elapsed().as_nanos());
            h.finish()
        };
        let mut device = InnerDevice::new(cfg.packet_queue, cfg.mtu);
        let mut icfg = Config::new(HardwareAddress::Ip);
        icfg.random_seed = seed;
        let mut iface = Interface::new(icfg, &mut device, smoltcp::time::Instant::ZERO);
        let mut v4 = None;
        let mut v6 = None;
        for (addr, prefix) in &cfg.addresses {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            if *prefix > max {
                return Err(invalid(format!("prefix /{prefix} too long for {addr}")));
            }
            match addr {
                IpAddr::V4(a) if v4.is_none() => v4 = Some(*a),
                IpAddr::V6(a) if v6.is_none() => v6 = Some(*a),
                _ => return Err(invalid(format!("at most one IPv4 and one IPv6 address ({addr})"))),
            }
        }
        iface.update_ip_addrs(|addrs| {
            for (addr, prefix) in &cfg.addresses {
                let _ = addrs.push(IpCidr::new(IpAddress::from(*addr), *prefix));
            }
        });
        // Everything not on-link goes out through the data plane: with
        // medium IP the gateway is only a placeholder, so use our own address.
        if let Some(a) = v4 {
            iface
                .routes_mut()
                .add_default_ipv4_route(a)
                .map_err(|_| invalid("route table full".into()))?;
        }
        if let Some(a) = v6 {
            iface
                .routes_mut()
                .add_default_ipv6_route(a)
                .map_err(|_| invalid("route table full".into()))?;
        }
        let family_ok = |ip: IpAddr| if ip.is_ipv4() { v4.is_some() } else { v6.is_some() };

        let poll = mio::Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        let mut listeners = Vec::new();
        let mut udp = Vec::new();
        for f in &cfg.forwards {
            if !family_ok(f.remote.ip()) {
                return Err(invalid(format!(
                    "forward to {} needs an inner address of the same family",
                    f.remote
                )));
            }
            match f.proto {
                Proto::Tcp => {
                    let mut l = mio::net::TcpListener::bind(f.listen)?;
                    poll.registry().register(
                        &mut l,
                        Token(LISTENER_BASE + listeners.len()),
                        Interest::READABLE,
                    )?;
                    listeners.push(OsListener {
                        listener: l,
                        kind: ListenerKind::Forward(f.remote),
                        readable: true,
                    });
                }
                Proto::Udp => {
                    let mut s = mio::net::UdpSocket::bind(f.listen)?;
                    poll.registry().register(
                        &mut s,
                        Token(UDP_BASE + udp.len()),
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    udp.push(UdpForward::new(s, f.remote));
                }
            }
        }
        if let Some(addr) = cfg.socks5 {
            let mut l = mio::net::TcpListener::bind(addr)?;
            poll.registry().register(
                &mut l,
                Token(LISTENER_BASE + listeners.len()),
                Interest::READABLE,
            )?;
            listeners.push(OsListener {
                listener: l,
                kind: ListenerKind::Socks5,
                readable: true,
            });
        }
        let mut exposes = Vec::new();
        let mut sockets = SocketSet::new(Vec::new());
        let mut udp_exposes = Vec::new();
        for e in &cfg.exposes {
            if e.port == 0 {
                return Err(invalid("expose port 0".into()));
            }
            if e.proto == Proto::Udp {
                udp_exposes.push(UdpExpose::new(e.port, e.local, &mut sockets)?);
                continue;
            }
            exposes.push(ExposePort {
                port: e.port,
                local: e.local,
                listening: Vec::new(),
            });
        }
        let mut ns = Netstack {
            epoch,
            iface,
            device,
            sockets,
            udp_exposes,
            poll,
            events: Events::with_capacity(256),
            waker,
            scratch: vec![0; 65536],
            cfg,
            listeners,
            exposes,
            conns: Vec::new(),
            free: Vec::new(),
            live: 0,
            closing: Vec::new(),
            udp,
            ports: PortAllocator::new(seed),
            stats: NetstackStats::default(),
        };
        ns.replenish_listeners(epoch);
        Ok(ns)
    }

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
        self.udp.iter().filter_map(|u| u.socket.local_addr().ok()).collect()
    }

    /// A decrypted inner packet addressed to us. Queued (bounded; a full
    /// queue or an oversized packet is dropped and counted) and processed by
    /// the next [`poll`](Self::poll).
    pub fn receive_inner(&mut self, pkt: &[u8]) {
        self.device.push_rx(pkt);
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
        smoltcp::time::Instant::from_micros(now.saturating_duration_since(self.epoch).as_micros() as i64)
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
                match self.iface.poll_ingress_single(ts, &mut self.device, &mut self.sockets) {
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
                match self.iface.poll_egress(ts, &mut self.device, &mut self.sockets) {
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

    fn insert_conn(&mut self, mut c: TcpConn) -> io::Result<usize> {
        let idx = self.free.pop().unwrap_or(self.conns.len());
        self.poll.registry().register(
            &mut c.stream,
            Token(idx),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        if idx == self.conns.len() {
            self.conns.push(Some(c));
        } else {
            self.conns[idx] = Some(c);
        }
        self.live += 1;
        self.stats.tcp_opened += 1;
        Ok(idx)
    }

    fn new_tcp_socket(&self) -> tcp::Socket<'static> {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; self.cfg.tcp_buffer]),
            tcp::SocketBuffer::new(vec![0; self.cfg.tcp_buffer]),
        );
        s.set_timeout(Some(smoltcp::time::Duration::from_secs(TCP_TIMEOUT.as_secs())));
        s.set_nagle_enabled(false);
        s.set_ack_delay(None);
        s
    }

    /// Open an inner TCP connection to `remote` from an ephemeral port.
    fn inner_connect(&mut self, remote: SocketAddr) -> Option<(SocketHandle, u16)> {
        let port = self.ports.allocate()?;
        let mut s = self.new_tcp_socket();
        if s
            .connect(self.iface.context(), IpEndpoint::from(remote), port)
            .is_err()
        {
            self.ports.release(port);
            return None;
        }
        Some((self.sockets.add(s), port))
    }

    /// Keep `listen_backlog` smoltcp listeners per exposed port and turn
    /// those that received a SYN into connections to the local service.
    fn replenish_listeners(&mut self, now: Instant) {
        for i in 0..self.exposes.len() {
            let mut j = 0;
            while j < self.exposes[i].listening.len() {
                let h = self.exposes[i].listening[j];
                let state = self.sockets.get::<tcp::Socket>(h).state();
                if state == tcp::State::Listen {
                    j += 1;
                    continue;
                }
                self.exposes[i].listening.swap_remove(j);
                if state == tcp::State::Closed {
                    self.sockets.remove(h);
                    continue;
                }
                let local = self.exposes[i].local;
                match mio::net::TcpStream::connect(local) {
                    Ok(stream) => {
                        let mut c = TcpConn::new(stream, Phase::OsConnecting);
                        c.handle = Some(h);
                        c.deadline = Some(now + CONNECT_TIMEOUT);
                        if self.insert_conn(c).is_err() {
                            self.sockets.get_mut::<tcp::Socket>(h).abort();
                            self.closing.push(Closing { handle: h, port: None, since: now });
                        }
                    }
                    Err(e) => {
                        tracing::debug!(%local, error = %e, "expose: local connect failed");
                        self.sockets.get_mut::<tcp::Socket>(h).abort();
                        self.stats.tcp_reset += 1;
                        self.closing.push(Closing { handle: h, port: None, since: now });
                    }
                }
            }
            let want = self.cfg.listen_backlog.max(1);
            while self.exposes[i].listening.len() < want {
                if self.live + self.exposes[i].listening.len() >= self.cfg.max_connections {
                    break;
                }
                let mut s = self.new_tcp_socket();
                if s.listen(self.exposes[i].port).is_err() {
                    break;
                }
                let h = self.sockets.add(s);
                self.exposes[i].listening.push(h);
            }
        }
    }

    /// Accept OS connections on forward and SOCKS5 listeners.
    fn accept_os(&mut self, now: Instant) -> bool {
        let mut progress = false;
        for i in 0..self.listeners.len() {
            while self.listeners[i].readable {
                if self.live >= self.cfg.max_connections {
                    // Leave them in the kernel's accept queue until a slot frees.
                    self.stats.tcp_limited += 1;
                    break;
                }
                let (stream, _peer) = match self.listeners[i].listener.accept() {
                    Ok(x) => x,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.listeners[i].readable = false;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // EMFILE and friends: back off until the next event.
                        tracing::warn!(error = %e, "netstack: accept failed");
                        self.listeners[i].readable = false;
                        break;
                    }
                };
                progress = true;
                let _ = stream.set_nodelay(true);
                match self.listeners[i].kind {
                    ListenerKind::Forward(remote) => {
                        let Some((h, port)) = self.inner_connect(remote) else {
                            self.stats.tcp_reset += 1;
                            let c = TcpConn::new(stream, Phase::Open);
                            c.reset_os();
                            continue;
                        };
                        let mut c = TcpConn::new(stream, Phase::InnerConnecting);
                        c.handle = Some(h);
                        c.local_port = Some(port);
                        c.deadline = Some(now + CONNECT_TIMEOUT);
                        if self.insert_conn(c).is_err() {
                            self.sockets.get_mut::<tcp::Socket>(h).abort();
                            self.closing.push(Closing { handle: h, port: Some(port), since: now });
                        }
                    }
                    ListenerKind::Socks5 => {
                        let mut c = TcpConn::new(stream, Phase::SocksGreeting);
                        c.is_socks = true;
                        c.deadline = Some(now + HANDSHAKE_TIMEOUT);
                        let _ = self.insert_conn(c);
                    }
                }
            }
        }
        progress
    }

    fn pump_conns(&mut self, now: Instant) -> bool {
        let mut progress = false;
        for idx in 0..self.conns.len() {
            let Some(mut c) = self.conns[idx].take() else {
                continue;
            };
            progress |= self.step_conn(&mut c, now);
            if c.end.is_some() {
                self.finish_conn(idx, c, now);
            } else {
                self.conns[idx] = Some(c);
            }
        }
        progress
    }

    /// Advance one connection through its phases; true if anything moved.
    fn step_conn(&mut self, c: &mut TcpConn, now: Instant) -> bool {
        let mut progress = false;
        loop {
            let before = c.phase;
            match c.phase {
                Phase::OsConnecting => {
                    match c.stream.take_error() {
                        Ok(None) => {}
                        Ok(Some(_)) | Err(_) => {
                            c.end = Some(End::Reset);
                            return true;
                        }
                    }
                    match c.stream.peer_addr() {
                        Ok(_) => {
                            c.phase = Phase::Open;
                            c.deadline = None;
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                            if c.deadline.is_some_and(|d| now >= d) {
                                c.end = Some(End::Reset);
                                return true;
                            }
                        }
                        Err(_) => {
                            c.end = Some(End::Reset);
                            return true;
                        }
                    }
                    if let Some(h) = c.handle {
                        let st = self.sockets.get::<tcp::Socket>(h).state();
                        if matches!(st, tcp::State::Listen | tcp::State::Closed) {
                            // The inner handshake failed before we got going.
                            c.end = Some(End::Reset);
                            return true;
                        }
                    }
                }
                Phase::InnerConnecting => {
                    let Some(h) = c.handle else {
                        c.end = Some(End::Reset);
                        return true;
                    };
                    let s = self.sockets.get::<tcp::Socket>(h);
                    match s.state() {
                        tcp::State::SynSent | tcp::State::SynReceived => {
                            if c.deadline.is_some_and(|d| now >= d) {
                                if c.is_socks {
                                    self.socks_fail(c, Reply::HostUnreachable);
                                } else {
                                    c.end = Some(End::Reset);
                                }
                                return true;
                            }
                        }
                        tcp::State::Closed | tcp::State::Listen => {
                            if c.is_socks {
                                self.socks_fail(c, Reply::ConnectionRefused);
                            } else {
                                c.end = Some(End::Reset);
                            }
                            return true;
                        }
                        _ => {
                            if c.is_socks {
                                let bound = s
                                    .local_endpoint()
                                    .map(|e| SocketAddr::new(e.addr.into(), e.port))
                                    .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
                                c.to_os = socks5::encode_reply(Reply::Succeeded, bound);
                            }
                            c.phase = Phase::Open;
                            c.deadline = None;
                        }
                    }
                }
                Phase::SocksGreeting => {
                    if !c.read_handshake(2 + 255) {
                        return true;
                    }
                    match socks5::parse_greeting(&c.hs) {
                        Ok(None) => {
                            if c.deadline.is_some_and(|d| now >= d) {
                                c.end = Some(End::Reset);
                                return true;
                            }
                        }
                        Ok(Some((true, n))) => {
                            c.hs.drain(..n);
                            c.to_os = vec![socks5::VERSION, socks5::METHOD_NO_AUTH];
                            c.phase = Phase::SocksRequest;
                        }
                        Ok(Some((false, _))) | Err(_) => {
                            // RFC 1928 §3: X'FF' and the client closes.
                            self.stats.socks_errors += 1;
                            c.to_os = vec![socks5::VERSION, socks5::METHOD_NO_ACCEPTABLE];
                            c.phase = Phase::SocksClosing;
                            c.deadline = Some(now + Duration::from_secs(2));
                        }
                    }
                }
                Phase::SocksRequest => {
                    if !c.flush_to_os() && c.end.is_some() {
                        return true;
                    }
                    if !c.read_handshake(socks5::MAX_REQUEST_LEN) {
                        return true;
                    }
                    match socks5::parse_request(&c.hs) {
                        Ok(None) => {
                            if c.deadline.is_some_and(|d| now >= d) {
                                c.end = Some(End::Reset);
                                return true;
                            }
                        }
                        Err(e) => {
                            self.socks_fail(c, e.reply());
                        }
                        Ok(Some((req, n))) => {
                            c.to_inner = c.hs.split_off(n);
                            c.hs = Vec::new();
                            self.socks_request(c, req, now);
                        }
                    }
                }
                Phase::SocksClosing => {
                    if c.flush_to_os() {
                        if !c.os_write_shut {
                            let _ = c.stream.shutdown(std::net::Shutdown::Write);
                            c.os_write_shut = true;
                        }
                        // Drain what the client still sends so closing does
                        // not turn into a RST that could eat our reply.
                        c.hs.clear();
                        if !c.read_handshake(socks5::MAX_REQUEST_LEN) {
                            c.end = Some(End::Graceful);
                            return true;
                        }
                        c.hs.clear();
                    }
                    if c.deadline.is_some_and(|d| now >= d) {
                        c.end = Some(End::Graceful);
                        return true;
                    }
                }
                Phase::SocksUdp => {
                    if !c.flush_to_os() && c.end.is_some() {
                        return true;
                    }
                    // The control connection carries nothing more; its
                    // close ends the association.
                    c.hs.clear();
                    if !c.read_handshake(socks5::MAX_REQUEST_LEN) {
                        c.end = Some(End::Graceful);
                        return true;
                    }
                    c.hs.clear();
                    if let Some(a) = c.udp.as_mut() {
                        let r = a.pump(&mut self.sockets, &mut self.scratch);
                        progress |= r.progress;
                        self.stats.udp_dropped += r.dropped;
                    }
                }
                Phase::Open => {
                    let Some(h) = c.handle else {
                        c.end = Some(End::Reset);
                        return true;
                    };
                    let s = self.sockets.get_mut::<tcp::Socket>(h);
                    progress |= c.pump_open(s);
                }
            }
            if c.phase == before || c.end.is_some() {
                break;
            }
            progress = true;
        }
        progress
    }

    fn socks_fail(&mut self, c: &mut TcpConn, rep: Reply) {
        self.stats.socks_errors += 1;
        if let Some(h) = c.handle.take() {
            self.sockets.get_mut::<tcp::Socket>(h).abort();
            self.closing.push(Closing {
                handle: h,
                port: c.local_port.take(),
                since: Instant::now(),
            });
        }
        c.to_os = socks5::encode_reply(rep, SocketAddr::from(([0, 0, 0, 0], 0)));
        c.phase = Phase::SocksClosing;
        c.deadline = Some(Instant::now() + Duration::from_secs(2));
    }

    fn socks_request(&mut self, c: &mut TcpConn, req: socks5::Request, now: Instant) {
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
    fn socks_udp_associate(&mut self, c: &mut TcpConn, req: socks5::Request) {
        let (Ok(local), Ok(peer)) = (c.stream.local_addr(), c.stream.peer_addr()) else {
            return self.socks_fail(c, Reply::GeneralFailure);
        };
        let v4 = self.iface.ipv4_addr().is_some();
        let v6 = self.iface.ipv6_addr().is_some();
        let Some(port) = self.ports.allocate() else {
            return self.socks_fail(c, Reply::GeneralFailure);
        };
        let relay = mio::net::UdpSocket::bind(SocketAddr::new(local.ip(), 0)).and_then(|mut u| {
            self.poll.registry().register(&mut u, SOCKS_UDP, Interest::READABLE)?;
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
                c.to_os = socks5::encode_reply(Reply::Succeeded, bound);
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

    fn finish_conn(&mut self, idx: usize, mut c: TcpConn, now: Instant) {
        let _ = self.poll.registry().deregister(&mut c.stream);
        if let Some(mut a) = c.udp.take() {
            let _ = self.poll.registry().deregister(&mut a.relay);
            self.sockets.remove(a.handle);
            self.ports.release(a.port);
        }
        let end = c.end.unwrap_or(End::Reset);
        if end == End::Reset {
            self.stats.tcp_reset += 1;
            c.reset_os();
        }
        if let Some(h) = c.handle.take() {
            if end == End::Reset {
                self.sockets.get_mut::<tcp::Socket>(h).abort();
            }
            self.closing.push(Closing {
                handle: h,
                port: c.local_port.take(),
                since: now,
            });
        }
        drop(c);
        self.free.push(idx);
        self.live -= 1;
    }

    fn pump_udp(&mut self, now: Instant) -> bool {
        let mut progress = false;
        for u in &mut self.udp {
            let r = u.pump(
                now,
                &mut self.sockets,
                &mut self.ports,
                self.cfg.udp_max_sessions,
                &mut self.scratch,
            );
            progress |= r.progress;
            self.stats.udp_dropped += r.dropped;
        }
        for u in &mut self.udp_exposes {
            let r = u.pump(
                now,
                &mut self.sockets,
                self.poll.registry(),
                UDP_EXPOSE,
                self.cfg.udp_max_sessions,
                &mut self.scratch,
            );
            progress |= r.progress;
            self.stats.udp_dropped += r.dropped;
        }
        progress
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
            if let Some(t) = u.expire(now, self.cfg.udp_idle_timeout, &mut self.sockets, &mut self.ports) {
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
mod tests {
    use super::*;
    use crate::config::{Expose, Forward};

    fn cfg(addrs: &[(&str, u8)]) -> NetstackConfig {
        NetstackConfig {
            addresses: addrs.iter().map(|(a, p)| (a.parse().unwrap(), *p)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn bad_configs_are_refused() {
        assert!(Netstack::new(cfg(&[])).is_err(), "no address");
        assert!(Netstack::new(cfg(&[("10.0.0.1", 33)])).is_err(), "prefix");
        assert!(Netstack::new(cfg(&[("10.0.0.1", 32), ("10.0.0.2", 32)])).is_err(), "two v4");
        let mut c = cfg(&[("2001:db8::1", 64)]);
        c.mtu = 1000;
        assert!(Netstack::new(c).is_err(), "v6 below 1280");
        let mut c = cfg(&[("10.0.0.1", 32)]);
        c.forwards.push(Forward {
            proto: Proto::Tcp,
            listen: "127.0.0.1:0".parse().unwrap(),
            remote: "[2001:db8::7]:80".parse().unwrap(),
        });
        assert!(Netstack::new(c).is_err(), "forward to a family we lack");
        let mut c = cfg(&[("10.0.0.1", 32)]);
        c.exposes.push(Expose { proto: Proto::Tcp, port: 0, local: "127.0.0.1:1".parse().unwrap() });
        assert!(Netstack::new(c).is_err(), "expose port 0");
    }

    #[test]
    fn answers_ping_and_drops_garbage() {
        let mut ns = Netstack::new(cfg(&[("192.0.2.1", 24)])).unwrap();
        // ICMP echo request 192.0.2.2 → 192.0.2.1 (checksums valid).
        let mut pkt = vec![
            0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 192, 0, 2, 2, 192, 0, 2, 1, 8, 0, 0, 0, 0x12, 0x34, 0, 1,
        ];
        let ip = smoltcp::wire::Ipv4Packet::new_checked(&mut pkt[..]).unwrap();
        let mut ip = ip;
        ip.fill_checksum();
        let c = !{
            let mut s = 0u32;
            for w in pkt[20..].chunks(2) {
                s += u32::from(u16::from_be_bytes([w[0], w[1]]));
            }
            while s > 0xffff {
                s = (s & 0xffff) + (s >> 16);
            }
            s as u16
        };
        pkt[22..24].copy_from_slice(&c.to_be_bytes());
        for garbage in [&[][..], &[0x45][..], &[0x60, 0, 0][..], &[0xff; 40][..], &vec![0x45; 5000][..]] {
            ns.receive_inner(garbage);
        }
        ns.receive_inner(&pkt);
        ns.poll(Instant::now());
        let mut out = Vec::new();
        ns.poll_outbound(&mut |p| out.push(p.to_vec()));
        assert_eq!(out.len(), 1, "exactly one echo reply");
        assert_eq!(&out[0][12..16], &[192, 0, 2, 1]);
        assert_eq!(out[0][20], 0, "echo reply");
        assert!(ns.stats().rx_dropped >= 2, "empty and oversized packets counted");
    }
}
