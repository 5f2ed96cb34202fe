//! The sans-IO IKEv2 endpoint: owns the IKE SAs, demultiplexes datagrams,
//! enforces message-ID windows (§2.3) and retransmissions (§2.1), runs
//! timers, and queues what the host must send and install. No sockets, no
//! clock: time comes in through `now`.
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use esprit_crypto::Provider;
use rand::RngCore;
use tracing::{debug, info, warn};

use crate::auth::AuthBackend;
use crate::config::{EndpointConfig, PeerConfig};
use crate::event::{Event, Transmit};
use crate::exchange::err;
use crate::exchange::sa_init::{respond_sa_init, InitReply};
use crate::ike_sa::{Ctx, IkeSa, IkeState, Pending, Reassembly, Task, MAX_FRAGMENTS, MAX_REASSEMBLED};
use zeroize::Zeroizing;
use crate::message::payload::parse_chain;
use crate::message::{Header, ParseError, TrafficSelector, HEADER_LEN};
use crate::stats::Stats;
use crate::types::{notify as n, payload_type as pt, ExchangeType, IkeSpi};

/// A summary of one IKE SA for status output.
#[derive(Debug, Clone)]
pub struct SaSummary {
    pub conn: String,
    pub state: IkeState,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub spi_i: IkeSpi,
    pub spi_r: IkeSpi,
    pub initiator: bool,
    pub algs: String,
    pub peer_id: String,
    pub nat: bool,
    /// (name, spi_in, spi_out, algs)
    pub children: Vec<(String, u32, u32, String)>,
}

/// The IKEv2 endpoint.
pub struct Endpoint {
    cfg: EndpointConfig,
    peers: Vec<PeerConfig>,
    auth: Box<dyn AuthBackend>,
    rng: Box<dyn RngCore + Send>,
    provider: &'static dyn Provider,
    sas: HashMap<IkeSpi, IkeSa>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
    next_reqid: u32,
    leases: Vec<(String, std::net::Ipv4Addr)>,
    cookie_secret: [u8; 32],
}

macro_rules! ctx {
    ($s:ident, $now:expr) => {
        Ctx {
            now: $now,
            cfg: &$s.cfg,
            peers: &$s.peers,
            rng: &mut *$s.rng,
            auth: &mut *$s.auth,
            provider: $s.provider,
            events: &mut $s.events,
            transmits: &mut $s.transmits,
            stats: &mut $s.stats,
            next_reqid: &mut $s.next_reqid,
            leases: &mut $s.leases,
        }
    };
}

/// Offset of the SK/SKF payload's generic header, walking the outer chain.
fn sk_offset(msg: &[u8], first: u8) -> Option<(usize, u8)> {
    let mut off = HEADER_LEN;
    let mut t = first;
    while off + 4 <= msg.len() {
        if t == pt::SK || t == pt::SKF {
            return Some((off, t));
        }
        if t == pt::NONE {
            return None;
        }
        let len = u16::from_be_bytes([msg[off + 2], msg[off + 3]]) as usize;
        if len < 4 {
            return None;
        }
        t = msg[off];
        off += len;
    }
    None
}

impl Endpoint {
    pub fn new(cfg: EndpointConfig, peers: Vec<PeerConfig>, auth: Box<dyn AuthBackend>, mut rng: Box<dyn RngCore + Send>) -> Endpoint {
        let mut cookie_secret = [0u8; 32];
        rng.fill_bytes(&mut cookie_secret);
        Endpoint {
            cfg,
            peers,
            auth,
            rng,
            provider: esprit_crypto::default_provider(),
            sas: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            next_reqid: 0,
            leases: Vec::new(),
            cookie_secret,
        }
    }

    pub fn peers(&self) -> &[PeerConfig] {
        &self.peers
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sas.values().filter_map(|s| s.next_timeout()).min()
    }

    /// IKE SAs for status output.
    pub fn summaries(&self) -> Vec<SaSummary> {
        let mut v: Vec<_> = self
            .sas
            .values()
            .map(|s| SaSummary {
                conn: self.peers[s.peer].name.clone(),
                state: s.state,
                local: s.local,
                remote: s.remote,
                spi_i: s.spi_i,
                spi_r: s.spi_r,
                initiator: s.initiator,
                algs: s.algs.map(|a| a.name()).unwrap_or_default(),
                peer_id: s.peer_id.as_ref().map(|i| i.to_string()).unwrap_or_default(),
                nat: s.nat,
                children: s.children.iter().map(|c| (c.name.clone(), c.spi_in, c.spi_out, c.algs.name())).collect(),
            })
            .collect();
        v.sort_by(|a, b| a.conn.cmp(&b.conn));
        v
    }

    fn conn_index(&self, conn: &str) -> Result<usize, String> {
        self.peers.iter().position(|p| p.name == conn).ok_or_else(|| format!("no connection named {conn:?}"))
    }

    fn sa_of_conn(&self, pi: usize) -> Option<IkeSpi> {
        self.sa_of(pi, None)
    }

    /// The live IKE SA of a connection (with this peer, when given).
    fn sa_of(&self, pi: usize, remote: Option<std::net::IpAddr>) -> Option<IkeSpi> {
        self.sas
            .iter()
            .filter(|(_, s)| s.peer == pi && !matches!(s.state, IkeState::Dead | IkeState::Rekeyed) && remote.is_none_or(|r| s.remote.ip() == r))
            .map(|(k, _)| *k)
            .next()
    }

    /// Starts (or reuses) an IKE SA for `conn` and brings up `child`
    /// (default: the conn's first child). `local` is our address and port
    /// to send from.
    pub fn initiate(&mut self, now: Instant, conn: &str, local: SocketAddr, child: Option<&str>) -> Result<(), String> {
        let pi = self.conn_index(conn)?;
        let peer = &self.peers[pi];
        let remote_ip = peer.remote.ok_or_else(|| format!("connection {conn} has remote = any; it can only respond"))?;
        let remote = SocketAddr::new(remote_ip, peer.remote_port);
        self.initiate_to(now, conn, local, remote, child, None)
    }

    /// Like [`Endpoint::initiate`], to a given peer (a connection with
    /// `remote = any`, e.g. an opportunistic group) and optionally with the
    /// traffic selectors of the packet that triggered it (RFC 7296 §2.9).
    pub fn initiate_to(
        &mut self,
        now: Instant,
        conn: &str,
        local: SocketAddr,
        remote: SocketAddr,
        child: Option<&str>,
        ts: Option<(Vec<TrafficSelector>, Vec<TrafficSelector>)>,
    ) -> Result<(), String> {
        let pi = self.conn_index(conn)?;
        let peer = &self.peers[pi];
        let ci = match child {
            Some(c) => Some(peer.children.iter().position(|x| x.name == c).ok_or_else(|| format!("connection {conn} has no child {c:?}"))?),
            None => None,
        };
        if let Some(spi) = self.sa_of(pi, Some(remote.ip())) {
            let sa = self.sas.get_mut(&spi).ok_or("vanished")?;
            if let Some(ci) = ci {
                if sa.state == IkeState::Established && !sa.children.iter().any(|c| c.cfg == ci) {
                    sa.tasks.push_back(Task::CreateChild { child: ci, local_ts: None, remote_ts: None });
                }
            }
            self.kick(now);
            return Ok(());
        }
        let mut spi = [0u8; 8];
        self.rng.fill_bytes(&mut spi);
        let group = peer.ike.first().and_then(|p| p.dh.first().copied()).ok_or("no IKE proposal")?;
        let mut sa = IkeSa::new(pi, true, IkeSpi(spi), IkeSpi::ZERO, local, remote, now);
        sa.ts_override = ts;
        info!(conn, peer = %remote, "initiating IKE SA");
        {
            let mut ctx = ctx!(self, now);
            sa.start_sa_init(&mut ctx, group, ci);
        }
        self.sas.insert(sa.local_spi(), sa);
        self.reap();
        Ok(())
    }

    /// Deletes the IKE SA of `conn` (and its CHILD_SAs) with the peer.
    pub fn terminate(&mut self, now: Instant, conn: &str) -> Result<(), String> {
        let pi = self.conn_index(conn)?;
        let spi = self.sa_of_conn(pi).ok_or_else(|| format!("connection {conn} has no IKE SA"))?;
        if let Some(sa) = self.sas.get_mut(&spi) {
            if sa.state == IkeState::Established {
                sa.tasks.clear();
                sa.tasks.push_back(Task::DeleteIke);
            } else {
                let mut ctx = ctx!(self, now);
                sa.die(&mut ctx, "terminated before it was established");
            }
        }
        self.kick(now);
        self.reap();
        Ok(())
    }

    /// Rekeys every CHILD_SA of `conn` now (operator command, tests).
    pub fn rekey_children(&mut self, now: Instant, conn: &str) -> Result<(), String> {
        let pi = self.conn_index(conn)?;
        let spi = self.sa_of_conn(pi).ok_or_else(|| format!("connection {conn} has no IKE SA"))?;
        if let Some(sa) = self.sas.get_mut(&spi) {
            let spis: Vec<u32> = sa.children.iter().map(|c| c.spi_in).collect();
            for s in spis {
                sa.tasks.push_back(Task::RekeyChild { spi_in: s });
            }
        }
        self.kick(now);
        Ok(())
    }

    /// Rekeys the IKE SA of `conn` now.
    pub fn rekey_ike(&mut self, now: Instant, conn: &str) -> Result<(), String> {
        let pi = self.conn_index(conn)?;
        let spi = self.sa_of_conn(pi).ok_or_else(|| format!("connection {conn} has no IKE SA"))?;
        if let Some(sa) = self.sas.get_mut(&spi) {
            sa.tasks.push_back(Task::RekeyIke);
        }
        self.kick(now);
        Ok(())
    }

    fn half_open(&self) -> usize {
        self.sas.values().filter(|s| s.state == IkeState::HalfOpen).count()
    }

    /// One datagram from the network (without the non-ESP marker).
    pub fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        self.stats.received += 1;
        if data == [0xff] {
            return; // NAT-T keepalive
        }
        let hdr = match Header::parse(data) {
            Ok(h) => h,
            Err(e) => {
                self.stats.malformed += 1;
                debug!(peer = %remote, "dropping malformed IKE message: {e}");
                return;
            }
        };
        let msg = &data[..hdr.length as usize];
        if hdr.major != 2 {
            self.stats.malformed += 1;
            warn!(peer = %remote, "IKE major version {} (we speak 2); answering INVALID_MAJOR_VERSION", hdr.major);
            if !hdr.is_response() && hdr.exchange == ExchangeType::IkeSaInit {
                let mut sa = IkeSa::new(0, false, hdr.spi_i, hdr.spi_r, local, remote, now);
                let m = sa.plain_message(ExchangeType::IkeSaInit, hdr.message_id, true, &[err(n::INVALID_MAJOR_VERSION)]);
                let mut ctx = ctx!(self, now);
                sa.transmit(&mut ctx, m);
            }
            return;
        }
        if hdr.exchange == ExchangeType::IkeSaInit && !hdr.is_response() {
            self.handle_sa_init_request(now, local, remote, &hdr, msg);
            return;
        }
        let local_spi = if hdr.is_initiator() { hdr.spi_r } else { hdr.spi_i };
        let Some(mut sa) = self.sas.remove(&local_spi) else {
            self.stats.unknown_spi += 1;
            debug!(peer = %remote, "IKE message for unknown SPI {local_spi}");
            return;
        };
        self.handle_for_sa(now, &mut sa, &hdr, msg, local, remote);
        if std::mem::take(&mut sa.initial_contact) && sa.state == IkeState::Established {
            self.drop_stale(now, &sa);
        }
        let spawned = sa.spawned.take();
        self.sas.insert(sa.local_spi(), sa);
        if let Some(new) = spawned {
            self.sas.insert(new.local_spi(), *new);
        }
        self.kick(now);
        self.reap();
    }

    fn handle_sa_init_request(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, hdr: &Header, msg: &[u8]) {
        if !hdr.spi_r.is_zero() {
            self.stats.malformed += 1;
            return;
        }
        // A retransmitted IKE_SA_INIT: answer with the same response.
        if let Some(sa) = self.sas.values_mut().find(|s| !s.initiator && s.spi_i == hdr.spi_i && s.remote == remote) {
            if sa.init_request == msg {
                self.stats.retransmitted_requests += 1;
                let d = sa.init_response.clone();
                let mut ctx = ctx!(self, now);
                sa.transmit(&mut ctx, d);
            }
            return;
        }
        let ps = match parse_chain(hdr.next_payload, &msg[HEADER_LEN..]) {
            Ok(p) => p,
            Err(e) => {
                self.stats.malformed += 1;
                warn!(peer = %remote, "malformed IKE_SA_INIT: {e}");
                let t = if let ParseError::UnsupportedCritical(_) = e { n::UNSUPPORTED_CRITICAL_PAYLOAD } else { n::INVALID_SYNTAX };
                let mut sa = IkeSa::new(0, false, hdr.spi_i, IkeSpi::ZERO, local, remote, now);
                let m = sa.plain_message(ExchangeType::IkeSaInit, hdr.message_id, true, &[err(t)]);
                let mut ctx = ctx!(self, now);
                sa.transmit(&mut ctx, m);
                return;
            }
        };
        let half = self.half_open();
        let secret = self.cookie_secret;
        let reply = {
            let mut ctx = ctx!(self, now);
            respond_sa_init(&mut ctx, local, remote, hdr, &ps, msg, half, &secret)
        };
        match reply {
            InitReply::Created(sa) => {
                self.sas.insert(sa.local_spi(), *sa);
            }
            InitReply::Stateless(m) => {
                self.stats.sent += 1;
                self.transmits.push_back(Transmit { local, remote, non_esp_marker: remote.port() != 500, data: m });
            }
            InitReply::Drop => {}
        }
    }

    fn handle_for_sa(&mut self, now: Instant, sa: &mut IkeSa, hdr: &Header, msg: &[u8], local: SocketAddr, remote: SocketAddr) {
        if sa.state == IkeState::Dead {
            return;
        }
        let mut ctx = ctx!(self, now);
        if hdr.is_response() {
            match &sa.in_flight {
                Some(f) if f.mid == hdr.message_id => {}
                _ => {
                    ctx.stats.bad_message_id += 1;
                    debug!(peer = %remote, "response with message ID {} matches no request of ours", hdr.message_id);
                    return;
                }
            }
        } else if hdr.message_id != sa.peer_mid {
            if hdr.message_id.wrapping_add(1) == sa.peer_mid {
                if let Some((mid, d)) = &sa.last_response {
                    // A retransmitted request (or its first fragment, RFC 7383 §2.6.1).
                    let first_or_whole = !(hdr.next_payload == pt::SKF && msg.len() > HEADER_LEN + 6 && u16::from_be_bytes([msg[HEADER_LEN + 4], msg[HEADER_LEN + 5]]) != 1);
                    if *mid == hdr.message_id && first_or_whole {
                        ctx.stats.retransmitted_requests += 1;
                        let d = d.clone();
                        sa.transmit_all(&mut ctx, &d);
                        return;
                    }
                    if *mid == hdr.message_id {
                        return;
                    }
                }
            }
            ctx.stats.bad_message_id += 1;
            debug!(peer = %remote, "request with message ID {} outside the window (expect {})", hdr.message_id, sa.peer_mid);
            return;
        }
        // IKE_SA_INIT response: unencrypted.
        if hdr.exchange == ExchangeType::IkeSaInit {
            let ps = match parse_chain(hdr.next_payload, &msg[HEADER_LEN..]) {
                Ok(p) => p,
                Err(e) => {
                    ctx.stats.malformed += 1;
                    warn!(peer = %remote, "malformed IKE_SA_INIT response: {e}");
                    return;
                }
            };
            if sa.state != IkeState::InitSent {
                return;
            }
            let Some(f) = sa.in_flight.take() else { return };
            let Pending::SaInit { child } = f.pending else { return };
            sa.last_heard = now;
            sa.handle_sa_init_response(&mut ctx, hdr, &ps, msg, child);
            return;
        }
        let Some((off, t)) = sk_offset(msg, hdr.next_payload) else {
            ctx.stats.malformed += 1;
            debug!(peer = %remote, "{:?} message without an encrypted payload", hdr.exchange);
            return;
        };
        let Some(sk) = &sa.sk else { return };
        let (inner, inner_first) = if t == pt::SKF {
            if msg.len() < off + 8 {
                ctx.stats.malformed += 1;
                return;
            }
            let number = u16::from_be_bytes([msg[off + 4], msg[off + 5]]);
            let total = u16::from_be_bytes([msg[off + 6], msg[off + 7]]);
            if number == 0 || total == 0 || number > total || total > MAX_FRAGMENTS {
                ctx.stats.malformed += 1;
                debug!(peer = %remote, "encrypted fragment {number}/{total} out of range");
                return;
            }
            let part = match sk.open(msg, off, true) {
                Ok(p) => p,
                Err(e) => {
                    ctx.stats.decrypt_failed += 1;
                    debug!(peer = %remote, "dropping IKE fragment that fails to decrypt: {e}");
                    return;
                }
            };
            let r = sa.reassembly.get_or_insert_with(Reassembly::default);
            if r.mid != hdr.message_id || r.response != hdr.is_response() || r.total != total {
                *r = Reassembly { mid: hdr.message_id, response: hdr.is_response(), total, ..Reassembly::default() };
            }
            if number == 1 {
                r.first_inner = msg[off];
            }
            r.bytes += part.len();
            if r.bytes > MAX_REASSEMBLED {
                ctx.stats.malformed += 1;
                warn!(peer = %remote, "IKE message in fragments exceeds {MAX_REASSEMBLED} bytes; dropped");
                sa.reassembly = None;
                return;
            }
            ctx.stats.fragments_received += 1;
            r.parts.insert(number, part);
            if r.parts.len() < usize::from(total) {
                return;
            }
            let Some(r) = sa.reassembly.take() else { return };
            let mut whole = Zeroizing::new(Vec::with_capacity(r.bytes));
            for p in r.parts.values() {
                whole.extend_from_slice(p);
            }
            (whole, r.first_inner)
        } else {
            match sk.open(msg, off, false) {
                Ok(p) => (p, msg[off]),
                Err(e) => {
                    ctx.stats.decrypt_failed += 1;
                    debug!(peer = %remote, "dropping IKE message that fails to decrypt: {e}");
                    return;
                }
            }
        };
        let ps = match parse_chain(inner_first, &inner) {
            Ok(p) => p,
            Err(e) => {
                ctx.stats.malformed += 1;
                warn!(peer = %remote, "malformed encrypted payloads: {e}");
                if !hdr.is_response() {
                    let t = if let ParseError::UnsupportedCritical(_) = e { n::UNSUPPORTED_CRITICAL_PAYLOAD } else { n::INVALID_SYNTAX };
                    sa.peer_mid = sa.peer_mid.wrapping_add(1);
                    sa.send_response(&mut ctx, hdr.exchange, hdr.message_id, &[err(t)]);
                }
                return;
            }
        };
        sa.last_heard = now;
        if sa.nat && remote != sa.remote {
            // RFC 7296 §2.23: follow the peer's NAT mapping once authenticated.
            info!(old = %sa.remote, new = %remote, "peer address changed behind its NAT");
            sa.remote = remote;
        }
        if local != sa.local {
            // RFC 7296 §2.11/§2.23: answer from the port the peer now sends
            // to. As responder, IKE_SA_INIT arrived on 500 and the initiator
            // floats to 4500 with IKE_AUTH; without this we answered from
            // port 500 without the non-ESP marker, which strongSwan drops
            // ("unsupported IKE version"), so strongSwan-initiated SAs failed.
            debug!(old = %sa.local, new = %local, "peer now sends to our port {}", local.port());
            sa.local = local;
        }
        if hdr.is_response() {
            let Some(f) = sa.in_flight.take() else { return };
            match f.pending {
                p @ Pending::Auth { .. } => sa.handle_ike_auth_response(&mut ctx, &ps, p),
                p @ Pending::CreateChild { .. } => sa.handle_create_child_response(&mut ctx, &ps, p),
                p @ Pending::RekeyIke { .. } => sa.spawned = sa.handle_rekey_ike_response(&mut ctx, &ps, p),
                p => sa.handle_informational_response(&mut ctx, p),
            }
            return;
        }
        sa.peer_mid = sa.peer_mid.wrapping_add(1);
        match (hdr.exchange, sa.state) {
            (ExchangeType::IkeAuth, IkeState::HalfOpen) => sa.respond_ike_auth(&mut ctx, hdr.message_id, &ps),
            (ExchangeType::CreateChildSa, IkeState::Established) => sa.spawned = sa.respond_create_child(&mut ctx, hdr.message_id, &ps),
            (ExchangeType::Informational, IkeState::Established | IkeState::Rekeyed) => sa.respond_informational(&mut ctx, hdr.message_id, &ps),
            (ExchangeType::CreateChildSa, IkeState::Rekeyed) => sa.send_response(&mut ctx, hdr.exchange, hdr.message_id, &[err(n::TEMPORARY_FAILURE)]),
            (ex, st) => {
                ctx.stats.malformed += 1;
                warn!(peer = %remote, "unexpected {ex:?} request in state {st:?}");
                sa.send_response(&mut ctx, ex, hdr.message_id, &[err(n::INVALID_SYNTAX)]);
            }
        }
    }

    /// Starts queued work on SAs whose request window is free.
    fn kick(&mut self, now: Instant) {
        let keys: Vec<IkeSpi> = self.sas.keys().copied().collect();
        for k in keys {
            let Some(mut sa) = self.sas.remove(&k) else { continue };
            {
                let mut ctx = ctx!(self, now);
                while sa.in_flight.is_none() && matches!(sa.state, IkeState::Established | IkeState::Rekeyed) {
                    let Some(t) = sa.tasks.pop_front() else { break };
                    if sa.state == IkeState::Rekeyed && !matches!(t, Task::DeleteIke) {
                        continue;
                    }
                    match t {
                        Task::CreateChild { child, local_ts, remote_ts } => {
                            let cfg = &ctx.peers[sa.peer].children[child];
                            let l = local_ts.unwrap_or_else(|| cfg.local_ts.clone());
                            let r = remote_ts.unwrap_or_else(|| cfg.remote_ts.clone());
                            sa.start_create_child(&mut ctx, child, l, r, None);
                        }
                        Task::RekeyChild { spi_in } => {
                            if let Some(i) = sa.find_child(spi_in) {
                                let c = sa.children[i].clone();
                                sa.start_create_child(&mut ctx, c.cfg, c.local_ts, c.remote_ts, Some(spi_in));
                            }
                        }
                        Task::RekeyIke => sa.start_rekey_ike(&mut ctx),
                        Task::DeleteChild { spi_in } => sa.start_delete_child(&mut ctx, spi_in),
                        Task::DeleteIke => sa.start_delete_ike(&mut ctx),
                        Task::Dpd => sa.start_dpd(&mut ctx),
                    }
                }
            }
            let spawned = sa.spawned.take();
            self.sas.insert(sa.local_spi(), sa);
            if let Some(n) = spawned {
                self.sas.insert(n.local_spi(), *n);
            }
        }
    }

    /// INITIAL_CONTACT (RFC 7296 §2.4): the peer restarted; every other
    /// IKE SA with the same identity on this connection is stale.
    fn drop_stale(&mut self, now: Instant, fresh: &IkeSa) {
        let stale: Vec<IkeSpi> = self
            .sas
            .iter()
            .filter(|(_, s)| s.peer == fresh.peer && s.peer_id == fresh.peer_id && s.remote.ip() == fresh.remote.ip() && s.state != IkeState::Dead)
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            if let Some(s) = self.sas.get_mut(&k) {
                info!(conn = %self.peers[s.peer].name, peer = %s.remote, "peer sent INITIAL_CONTACT: removing its older IKE SA {k} and its CHILD_SAs");
                let mut ctx = ctx!(self, now);
                s.die(&mut ctx, "replaced: the peer restarted (INITIAL_CONTACT)");
            }
        }
    }

    fn reap(&mut self) {
        self.sas.retain(|_, s| s.state != IkeState::Dead);
    }

    /// Runs due timers: retransmissions, rekeys, liveness checks, keepalives.
    pub fn handle_timeout(&mut self, now: Instant) {
        let keys: Vec<IkeSpi> = self.sas.keys().copied().collect();
        for k in keys {
            let Some(mut sa) = self.sas.remove(&k) else { continue };
            {
                let mut ctx = ctx!(self, now);
                let tries = ctx.cfg.retransmit_tries;
                if let Some(f) = &mut sa.in_flight {
                    if f.next_at <= now {
                        if f.sent > tries {
                            ctx.stats.dead_peers += 1;
                            let what = match f.pending {
                                Pending::SaInit { .. } => "IKE_SA_INIT",
                                Pending::Auth { .. } => "IKE_AUTH",
                                Pending::Dpd => "the liveness check",
                                _ => "our request",
                            };
                            warn!(conn = %ctx.peers[sa.peer].name, peer = %sa.remote, "peer did not answer {what} after {} retransmissions; giving up", tries);
                            let r = format!("peer not responding ({what} unanswered after {tries} retransmissions)");
                            sa.die(&mut ctx, &r);
                        } else {
                            let d = f.datagrams.clone();
                            let backoff = ctx.cfg.retransmit_timeout * 2u32.saturating_pow(f.sent.min(16));
                            f.sent += 1;
                            f.next_at = now + backoff;
                            ctx.stats.retransmits += 1;
                            sa.transmit_all(&mut ctx, &d);
                        }
                    }
                }
                if sa.state == IkeState::HalfOpen && now.duration_since(sa.created) > ctx.cfg.half_open_timeout {
                    sa.state = IkeState::Dead;
                }
                if sa.state == IkeState::Established {
                    let conn = &ctx.peers[sa.peer];
                    if sa.rekey_at.is_some_and(|t| t <= now) {
                        sa.rekey_at = None;
                        sa.tasks.push_back(Task::RekeyIke);
                    }
                    let mut due = Vec::new();
                    for c in &mut sa.children {
                        if !c.rekeying && c.rekey_at.is_some_and(|t| t <= now) {
                            c.rekey_at = None;
                            due.push(c.spi_in);
                        }
                    }
                    for s in due {
                        sa.tasks.push_back(Task::RekeyChild { spi_in: s });
                    }
                    if let (Some(t), Some(d)) = (sa.dpd_at, conn.dpd) {
                        if t <= now {
                            if now.duration_since(sa.last_heard) >= d && sa.in_flight.is_none() {
                                sa.tasks.push_back(Task::Dpd);
                            }
                            sa.dpd_at = Some(now + d);
                        }
                    }
                    if sa.keepalive_at.is_some_and(|t| t <= now) {
                        ctx.transmits.push_back(Transmit { local: sa.local, remote: sa.remote, non_esp_marker: false, data: vec![0xff] });
                        sa.keepalive_at = Some(now + ctx.cfg.keepalive);
                    }
                }
            }
            self.sas.insert(sa.local_spi(), sa);
        }
        self.kick(now);
        self.reap();
    }
}
