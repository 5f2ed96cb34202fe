//! One IKE SA: its keys, message-ID windows, the request in flight with its
//! retransmissions, and its CHILD_SAs. Exchanges live in `exchange/`.
pub(crate) mod state;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use esprit_crypto::Provider;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::auth::AuthBackend;
use crate::config::{EndpointConfig, Mode, PeerConfig};
use crate::dh::KeyExchange;
use crate::event::{Event, Transmit};
use crate::message::payload::emit_chain;
use crate::message::{Header, Payload, TrafficSelector};
use crate::proposal::ChildAlgs;
use crate::stats::Stats;
use state::KeyState;
use crate::types::{flags, ExchangeType, IkeSpi, Spi};

/// Everything an exchange needs besides its IKE SA.
pub(crate) struct Ctx<'a> {
    pub now: Instant,
    pub cfg: &'a EndpointConfig,
    pub peers: &'a [Arc<PeerConfig>],
    pub rng: &'a mut dyn RngCore,
    pub auth: &'a mut dyn AuthBackend,
    pub provider: &'static dyn Provider,
    pub events: &'a mut VecDeque<Event>,
    pub transmits: &'a mut VecDeque<Transmit>,
    pub stats: &'a mut Stats,
    pub next_reqid: &'a mut u32,
    /// Virtual IPs handed out, per conn pool.
    pub leases: &'a mut Vec<(String, Ipv4Addr)>,
}

impl Ctx<'_> {
    pub fn spi32(&mut self) -> Spi {
        loop {
            let v = self.rng.next_u32();
            // SPIs 0..=255 are reserved (RFC 4303 §2.1).
            if v > 255 {
                return Spi(v);
            }
        }
    }
    pub fn nonce(&mut self) -> Vec<u8> {
        let mut n = vec![0u8; 32];
        self.rng.fill_bytes(&mut n);
        n
    }
    pub fn reqid(&mut self) -> u32 {
        *self.next_reqid += 1;
        *self.next_reqid
    }
}

/// IKE SA life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IkeState {
    /// Initiator: IKE_SA_INIT sent.
    InitSent,
    /// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH.
    HalfOpen,
    /// Initiator: IKE_AUTH sent.
    AuthSent,
    Established,
    /// Replaced by a rekeyed IKE SA; waiting for the delete.
    Rekeyed,
    /// Being deleted or failed: the endpoint removes it.
    Dead,
}

impl IkeState {
    /// The state's name as status, metrics and logs show it (a stable
    /// word, listed in `docs/status.schema.json`).
    pub fn name(self) -> &'static str {
        match self {
            IkeState::InitSent => "InitSent",
            IkeState::HalfOpen => "HalfOpen",
            IkeState::AuthSent => "AuthSent",
            IkeState::Established => "Established",
            IkeState::Rekeyed => "Rekeyed",
            IkeState::Dead => "Dead",
        }
    }
}

impl std::fmt::Display for IkeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A CHILD_SA as the IKE SA tracks it.
#[derive(Debug, Clone)]
pub struct ChildSa {
    pub cfg: usize,
    pub name: String,
    pub reqid: u32,
    pub spi_in: Spi,
    pub spi_out: Spi,
    pub algs: ChildAlgs,
    pub mode: Mode,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub rekey_at: Option<Instant>,
    /// A rekey of this SA is in progress (by us).
    pub rekeying: bool,
    /// Nonces of the exchange that created it (collision tie-break, §2.8.1).
    pub nonces: (Vec<u8>, Vec<u8>),
    /// We initiated the exchange that created it.
    pub created_by_us: bool,
    /// Responder of its rekey: not yet sending on it; the fallback time
    /// when we will anyway (see [`crate::event::ChildSaUp::defer_outbound`]).
    pub outbound_pending: Option<Instant>,
}

/// Fragments of one encrypted message (RFC 7383 §2.6.2).
#[derive(Default)]
pub(crate) struct Reassembly {
    pub mid: u32,
    pub response: bool,
    pub total: u16,
    pub first_inner: u8,
    pub parts: std::collections::BTreeMap<u16, Zeroizing<Vec<u8>>>,
    pub bytes: usize,
}

/// Most fragments and bytes of one reassembled message.
pub(crate) const MAX_FRAGMENTS: u16 = 64;
pub(crate) const MAX_REASSEMBLED: usize = 64 * 1024;

/// A request of ours that waits for its response.
pub(crate) struct InFlight {
    pub mid: u32,
    /// The request's datagrams (several when fragmented, RFC 7383).
    pub datagrams: Vec<Vec<u8>>,
    pub sent: u32,
    pub next_at: Instant,
    pub pending: Pending,
}

/// What we asked, so the response can be handled.
pub(crate) enum Pending {
    SaInit { child: Option<usize> },
    Auth { child: Option<usize>, spi_in: Spi },
    CreateChild { child: usize, spi_in: Spi, nonce: Vec<u8>, ke: Option<KeyExchange>, rekey_of: Option<Spi> },
    RekeyIke { new_spi: IkeSpi, nonce: Vec<u8>, ke: Option<KeyExchange> },
    DeleteChild { spis: Vec<Spi> },
    DeleteIke,
    Dpd,
}

/// Work to start when the request window is free.
#[derive(Debug, Clone)]
pub(crate) enum Task {
    CreateChild { child: usize, local_ts: Option<Vec<TrafficSelector>>, remote_ts: Option<Vec<TrafficSelector>> },
    RekeyChild { spi_in: Spi },
    RekeyIke,
    DeleteChild { spi_in: Spi },
    DeleteIke,
    Dpd,
}

/// One IKE SA.
pub struct IkeSa {
    pub(crate) peer: usize,
    pub(crate) initiator: bool,
    pub(crate) spi_i: IkeSpi,
    pub(crate) spi_r: IkeSpi,
    pub(crate) state: IkeState,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) nat: bool,
    /// Keys (after IKE_SA_INIT) and the authenticated peer (after IKE_AUTH).
    pub(crate) key_state: KeyState,
    pub(crate) ni: Vec<u8>,
    pub(crate) nr: Vec<u8>,
    pub(crate) dh_group: u16,
    pub(crate) init_request: Vec<u8>,
    pub(crate) init_response: Vec<u8>,
    pub(crate) cookie: Option<Vec<u8>>,
    pub(crate) next_mid: u32,
    pub(crate) peer_mid: u32,
    pub(crate) last_response: Option<(u32, Vec<Vec<u8>>)>,
    /// The peer announced IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 §2.3).
    pub(crate) peer_fragmentation: bool,
    /// Encrypted fragments of one message being reassembled.
    pub(crate) reassembly: Option<Reassembly>,
    pub(crate) in_flight: Option<InFlight>,
    pub(crate) tasks: VecDeque<Task>,
    pub(crate) children: Vec<ChildSa>,
    pub(crate) created: Instant,
    pub(crate) last_heard: Instant,
    pub(crate) rekey_at: Option<Instant>,
    pub(crate) dpd_at: Option<Instant>,
    pub(crate) keepalive_at: Option<Instant>,
    pub(crate) vip: Option<Ipv4Addr>,
    /// Set when this SA replaced another (IKE rekey): children moved in.
    pub(crate) rekeyed_from: bool,
    /// A rekeyed successor the endpoint must add to its table.
    pub(crate) spawned: Option<Box<IkeSa>>,
    /// The peer sent INITIAL_CONTACT: older IKE SAs with it are stale.
    pub(crate) initial_contact: bool,
    /// Traffic selectors for the first CHILD_SA instead of the config's
    /// (the packet that triggered an opportunistic setup).
    pub(crate) ts_override: Option<(Vec<TrafficSelector>, Vec<TrafficSelector>)>,
    /// Responder: when this SA, still half-open, is dropped (RFC 7296 §2.6
    /// leaves the policy to us; strongSwan's `half_open_timeout`).
    pub(crate) half_open_until: Option<Instant>,
    /// Where the endpoint's indexes list this SA (kept by `endpoint::index`).
    pub(crate) ix: IndexEntry,
    /// CHILD_SAs (inbound SPI) that started (`true`) or stopped (`false`)
    /// waiting to send, for the endpoint's index of them.
    pub(crate) outbound_changes: Vec<(Spi, bool)>,
}

/// Where an IKE SA appears in the endpoint's indexes, so it can be removed
/// or moved without a scan.
#[derive(Debug, Default, Clone)]
pub(crate) struct IndexEntry {
    /// Its key in the deadline index.
    pub sched: Option<Instant>,
    /// Counted as half-open from this peer address.
    pub half_open_ip: Option<IpAddr>,
    /// Its key in the (connection, peer address) index.
    pub peer_key: Option<(usize, IpAddr)>,
    /// Responder: its key in the IKE_SA_INIT retransmission index.
    pub init_key: Option<(IkeSpi, SocketAddr)>,
    /// Queued for the next index update.
    pub dirty: bool,
}

impl IkeSa {
    pub(crate) fn new(peer: usize, initiator: bool, spi_i: IkeSpi, spi_r: IkeSpi, local: SocketAddr, remote: SocketAddr, now: Instant) -> IkeSa {
        IkeSa {
            peer,
            initiator,
            spi_i,
            spi_r,
            state: if initiator { IkeState::InitSent } else { IkeState::HalfOpen },
            local,
            remote,
            nat: false,
            key_state: KeyState::default(),
            ni: Vec::new(),
            nr: Vec::new(),
            dh_group: 0,
            init_request: Vec::new(),
            init_response: Vec::new(),
            cookie: None,
            next_mid: 0,
            peer_mid: 0,
            last_response: None,
            peer_fragmentation: false,
            reassembly: None,
            in_flight: None,
            tasks: VecDeque::new(),
            children: Vec::new(),
            created: now,
            last_heard: now,
            rekey_at: None,
            dpd_at: None,
            keepalive_at: None,
            vip: None,
            rekeyed_from: false,
            spawned: None,
            initial_contact: false,
            ts_override: None,
            half_open_until: None,
            ix: IndexEntry::default(),
            outbound_changes: Vec::new(),
        }
    }

    /// Our SPI (the table key).
    pub fn local_spi(&self) -> IkeSpi {
        if self.initiator {
            self.spi_i
        } else {
            self.spi_r
        }
    }

    pub fn state(&self) -> IkeState {
        self.state
    }

    fn header(&self, exchange: ExchangeType, mid: u32, response: bool) -> Header {
        let mut f = 0;
        if self.initiator {
            f |= flags::INITIATOR;
        }
        if response {
            f |= flags::RESPONSE;
        }
        Header { spi_i: self.spi_i, spi_r: self.spi_r, next_payload: 0, major: 2, minor: 0, exchange, flags: f, message_id: mid, length: 0 }
    }

    /// An unencrypted message (IKE_SA_INIT).
    pub(crate) fn plain_message(&self, exchange: ExchangeType, mid: u32, response: bool, payloads: &[Payload]) -> Vec<u8> {
        let mut h = self.header(exchange, mid, response);
        let mut body = Vec::new();
        h.next_payload = emit_chain(payloads, &mut body);
        h.length = (crate::message::HEADER_LEN + body.len()) as u32;
        let mut m = Vec::with_capacity(h.length as usize);
        h.emit(&mut m);
        m.extend_from_slice(&body);
        m
    }

    /// An encrypted message: one SK datagram, or SKF fragments (RFC 7383)
    /// when the peer supports them and the message exceeds the fragment size.
    pub(crate) fn sealed_messages(&self, ctx: &mut Ctx<'_>, exchange: ExchangeType, mid: u32, response: bool, payloads: &[Payload]) -> Vec<Vec<u8>> {
        let mut inner = Zeroizing::new(Vec::new());
        let first = emit_chain(payloads, &mut inner);
        let h = self.header(exchange, mid, response);
        let Some(sk) = self.key_state.sk() else { return Vec::new() };
        let single = sk.seal(h, first, &inner, None, ctx.rng);
        let ip_udp = if self.remote.is_ipv4() { 28 } else { 48 };
        let marker = if self.remote.port() != 500 { 4 } else { 0 };
        let limit = ctx.cfg.fragment_size.saturating_sub(ip_udp + marker);
        if !self.peer_fragmentation || single.len() <= limit {
            return vec![single];
        }
        // Header, SKF header, IV, padding and ICV around each chunk.
        let overhead = single.len() - inner.len() + 4 + 16;
        let chunk = limit.saturating_sub(overhead).max(64);
        let parts: Vec<&[u8]> = inner.chunks(chunk).collect();
        let total = parts.len() as u16;
        ctx.stats.fragments_sent += u64::from(total);
        parts
            .iter()
            .enumerate()
            .map(|(i, c)| sk.seal(h, if i == 0 { first } else { 0 }, c, Some((i as u16 + 1, total)), ctx.rng))
            .collect()
    }

    pub(crate) fn transmit(&mut self, ctx: &mut Ctx<'_>, data: Vec<u8>) {
        ctx.stats.sent += 1;
        let non_esp_marker = crate::event::uses_non_esp_marker(self.local, self.remote, ctx.cfg.natt_port);
        ctx.transmits.push_back(Transmit { local: self.local, remote: self.remote, non_esp_marker, data });
        if self.nat {
            self.keepalive_at = Some(ctx.now + ctx.cfg.keepalive);
        }
    }

    pub(crate) fn transmit_all(&mut self, ctx: &mut Ctx<'_>, data: &[Vec<u8>]) {
        for d in data {
            self.transmit(ctx, d.clone());
        }
    }

    /// Sends a new request and keeps it for retransmission.
    pub(crate) fn send_request(&mut self, ctx: &mut Ctx<'_>, exchange: ExchangeType, payloads: &[Payload], pending: Pending) {
        let mid = self.next_mid;
        self.next_mid = self.next_mid.wrapping_add(1);
        let data = if exchange == ExchangeType::IkeSaInit {
            vec![self.plain_message(exchange, mid, false, payloads)]
        } else {
            self.sealed_messages(ctx, exchange, mid, false, payloads)
        };
        self.transmit_all(ctx, &data);
        self.in_flight = Some(InFlight { mid, datagrams: data, sent: 1, next_at: ctx.now + ctx.cfg.retransmit_timeout, pending });
    }

    /// Sends (and remembers, for retransmitted requests) a response.
    pub(crate) fn send_response(&mut self, ctx: &mut Ctx<'_>, exchange: ExchangeType, mid: u32, payloads: &[Payload]) {
        let data = if exchange == ExchangeType::IkeSaInit {
            vec![self.plain_message(exchange, mid, true, payloads)]
        } else {
            self.sealed_messages(ctx, exchange, mid, true, payloads)
        };
        self.transmit_all(ctx, &data);
        self.last_response = Some((mid, data));
    }

    /// The nearest deadline of this SA.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut upd = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |y| y.min(x)));
            }
        };
        upd(self.in_flight.as_ref().map(|f| f.next_at));
        if self.state == IkeState::HalfOpen {
            upd(self.half_open_until);
        }
        if self.state == IkeState::Established {
            upd(self.rekey_at);
            upd(self.dpd_at);
            upd(self.keepalive_at);
            for c in &self.children {
                if !c.rekeying {
                    upd(c.rekey_at);
                }
                upd(c.outbound_pending);
            }
        }
        t
    }

    pub(crate) fn find_child(&self, spi_in: Spi) -> Option<usize> {
        self.children.iter().position(|c| c.spi_in == spi_in)
    }

    pub(crate) fn emit_child_down(&self, ctx: &mut Ctx<'_>, c: &ChildSa) {
        ctx.events.push_back(Event::ChildDown {
            conn: ctx.peers[self.peer].name.clone(),
            child: c.name.clone(),
            reqid: c.reqid,
            spi_in: c.spi_in,
            spi_out: c.spi_out,
            local: self.local,
            remote: self.remote,
        });
    }

    /// Tears down every CHILD_SA and marks the SA dead.
    pub(crate) fn die(&mut self, ctx: &mut Ctx<'_>, reason: &str) {
        let children = std::mem::take(&mut self.children);
        for c in &children {
            if c.outbound_pending.is_some() {
                self.outbound_changes.push((c.spi_in, false));
            }
            self.emit_child_down(ctx, c);
        }
        if matches!(self.state, IkeState::InitSent | IkeState::AuthSent | IkeState::HalfOpen) {
            ctx.events.push_back(Event::SetupFailed { conn: ctx.peers[self.peer].name.clone(), remote: self.remote, reason: reason.to_string() });
        } else if self.state != IkeState::Rekeyed {
            ctx.events.push_back(Event::IkeDown { conn: ctx.peers[self.peer].name.clone(), remote: self.remote, reason: reason.to_string() });
        }
        if let Some(v) = self.vip.take() {
            ctx.leases.retain(|(_, a)| *a != v);
        }
        self.state = IkeState::Dead;
        self.in_flight = None;
        self.tasks.clear();
    }
}
