//! The sans-IO IKEv2 endpoint: owns the IKE SAs, demultiplexes datagrams,
//! enforces message-ID windows (§2.3) and retransmissions (§2.1), runs
//! timers, and queues what the host must send and install. No sockets, no
//! clock: time comes in through `now`. Work per datagram and per timer is
//! O(log n) in the number of IKE SAs (see `index`).
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use esprit_crypto::Provider;
use rand::RngCore;
use tracing::info;

use crate::auth::AuthBackend;
use crate::config::{EndpointConfig, PeerConfig};
use crate::event::{Event, Transmit};
use crate::ike_sa::{IkeSa, IkeState, Task};
use crate::message::TrafficSelector;
use crate::stats::Stats;
use crate::types::{IkeSpi, Spi};

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
    pub children: Vec<(String, Spi, Spi, String)>,
    /// When this IKE SA was created, and when it is due for a rekey.
    pub created: Instant,
    pub rekey_at: Option<Instant>,
}

/// The IKEv2 endpoint.
pub struct Endpoint {
    cfg: EndpointConfig,
    /// Shared with the exchanges (an `Arc` clone, not a deep copy, per use).
    peers: Vec<Arc<PeerConfig>>,
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
    index: index::Index,
    /// Log lines for the half-open limits, at most one per interval.
    per_ip_log: RateLog,
    limit_log: RateLog,
    /// Shutting down ([`Endpoint::close_all`]): no new IKE SAs.
    closing: bool,
    /// Until when we wait for the answers to our DELETEs.
    close_deadline: Option<Instant>,
}

macro_rules! ctx {
    ($s:ident, $now:expr) => {
        $crate::ike_sa::Ctx {
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

mod close;
mod error;
mod index;
mod ratelog;
mod reconfig;
mod receive;
mod timers;

pub use error::CommandError;
use ratelog::RateLog;

impl Endpoint {
    pub fn new(cfg: EndpointConfig, peers: Vec<PeerConfig>, auth: Box<dyn AuthBackend>, mut rng: Box<dyn RngCore + Send>) -> Endpoint {
        let mut cookie_secret = [0u8; 32];
        rng.fill_bytes(&mut cookie_secret);
        Endpoint {
            cfg,
            peers: peers.into_iter().map(Arc::new).collect(),
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
            index: index::Index::default(),
            per_ip_log: RateLog::default(),
            limit_log: RateLog::default(),
            closing: false,
            close_deadline: None,
        }
    }

    pub fn peers(&self) -> &[Arc<PeerConfig>] {
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

    /// The next instant [`Endpoint::handle_timeout`] has work (O(log n)).
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.index.next_deadline(), self.close_deadline].into_iter().flatten().min()
    }

    /// Half-open responder IKE SAs now (the COOKIE and limit count).
    pub fn half_open(&self) -> usize {
        self.index.half_open()
    }

    /// IKE SAs in the table (any state).
    pub fn ike_sa_count(&self) -> usize {
        self.sas.len()
    }

    /// IKE SAs for status output (built on request: O(n)).
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
                algs: s.key_state.algs().map(|a| a.name()).unwrap_or_default(),
                peer_id: s.key_state.peer_id().map(|i| i.to_string()).unwrap_or_default(),
                nat: s.nat,
                children: s.children.iter().map(|c| (c.name.clone(), c.spi_in, c.spi_out, c.algs.name())).collect(),
                created: s.created,
                rekey_at: s.rekey_at,
            })
            .collect();
        v.sort_by(|a, b| a.conn.cmp(&b.conn));
        v
    }

    fn conn_index(&self, conn: &str) -> Result<usize, CommandError> {
        self.peers.iter().position(|p| p.name == conn).ok_or_else(|| CommandError::NoSuchConn(conn.into()))
    }

    fn usable(&self, spi: &IkeSpi) -> bool {
        self.sas.get(spi).is_some_and(|s| !matches!(s.state, IkeState::Dead | IkeState::Rekeyed))
    }

    /// The live IKE SA of a connection, with any peer (operator commands:
    /// visits the connection's peers).
    fn sa_of_conn(&self, pi: usize) -> Option<IkeSpi> {
        self.index.peer_keys(pi).flat_map(|v| v.iter()).find(|k| self.usable(k)).copied()
    }

    /// The live IKE SA of a connection with this peer.
    fn sa_of(&self, pi: usize, remote: std::net::IpAddr) -> Option<IkeSpi> {
        self.index.of_peer(pi, remote).iter().find(|k| self.usable(k)).copied()
    }

    /// Starts (or reuses) an IKE SA for `conn` and brings up `child`
    /// (default: the conn's first child). `local` is our address and port
    /// to send from.
    pub fn initiate(&mut self, now: Instant, conn: &str, local: SocketAddr, child: Option<&str>) -> Result<(), CommandError> {
        let pi = self.conn_index(conn)?;
        let peer = &self.peers[pi];
        let remote_ip = peer.remote.ok_or_else(|| CommandError::RespondOnly(conn.into()))?;
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
    ) -> Result<(), CommandError> {
        let pi = self.conn_index(conn)?;
        let peer = &self.peers[pi];
        let ci = match child {
            Some(c) => Some(peer.children.iter().position(|x| x.name == c).ok_or_else(|| CommandError::NoSuchChild { conn: conn.into(), child: c.into() })?),
            None => None,
        };
        if self.closing {
            return Err(CommandError::ShuttingDown);
        }
        if let Some(spi) = self.sa_of(pi, remote.ip()) {
            let sa = self.sas.get_mut(&spi).ok_or_else(|| CommandError::NoIkeSa(conn.into()))?;
            if let Some(ci) = ci {
                if sa.state == IkeState::Established && !sa.children.iter().any(|c| c.cfg == ci) {
                    sa.tasks.push_back(Task::CreateChild { child: ci, local_ts: None, remote_ts: None });
                }
            }
            self.touch(spi);
            self.flush(now);
            return Ok(());
        }
        let mut spi = [0u8; 8];
        self.rng.fill_bytes(&mut spi);
        let group = peer.ike.first().and_then(|p| p.dh.first().copied()).ok_or_else(|| CommandError::NoProposal(conn.into()))?;
        let mut sa = IkeSa::new(pi, true, IkeSpi(spi), IkeSpi::ZERO, local, remote, now);
        sa.ts_override = ts;
        info!(conn, peer = %remote, "initiating IKE SA");
        {
            let mut ctx = ctx!(self, now);
            sa.start_sa_init(&mut ctx, group, ci);
        }
        let spi = sa.local_spi();
        self.put_back(spi, sa);
        self.flush(now);
        Ok(())
    }

    /// Deletes the IKE SA of `conn` (and its CHILD_SAs) with the peer.
    pub fn terminate(&mut self, now: Instant, conn: &str) -> Result<(), CommandError> {
        let pi = self.conn_index(conn)?;
        let spi = self.sa_of_conn(pi).ok_or_else(|| CommandError::NoIkeSa(conn.into()))?;
        if let Some(sa) = self.sas.get_mut(&spi) {
            if sa.state == IkeState::Established {
                sa.tasks.clear();
                sa.tasks.push_back(Task::DeleteIke);
            } else {
                let mut ctx = ctx!(self, now);
                sa.die(&mut ctx, "terminated before it was established");
            }
        }
        self.touch(spi);
        self.flush(now);
        Ok(())
    }

    /// Rekeys every CHILD_SA of `conn` now (operator command, tests).
    pub fn rekey_children(&mut self, now: Instant, conn: &str) -> Result<(), CommandError> {
        let pi = self.conn_index(conn)?;
        let spi = self.sa_of_conn(pi).ok_or_else(|| CommandError::NoIkeSa(conn.into()))?;
        if let Some(sa) = self.sas.get_mut(&spi) {
            let spis: Vec<Spi> = sa.children.iter().map(|c| c.spi_in).collect();
            for s in spis {
                sa.tasks.push_back(Task::RekeyChild { spi_in: s });
            }
        }
        self.touch(spi);
        self.flush(now);
        Ok(())
    }

    /// The host saw a packet arrive on inbound SA `spi_in` of a CHILD_SA
    /// installed with [`crate::ChildSaUp::defer_outbound`]: the peer has
    /// installed it, so we start sending on it ([`Event::ChildOutbound`]).
    /// Returns whether that SA was waiting (O(1)).
    pub fn child_inbound_seen(&mut self, now: Instant, spi_in: Spi) -> bool {
        let Some(spi) = self.index.deferred(spi_in) else { return false };
        let Some(mut sa) = self.sas.remove(&spi) else { return false };
        let found = {
            let mut ctx = ctx!(self, now);
            sa.inbound_seen(&mut ctx, spi_in)
        };
        self.put_back(spi, sa);
        self.flush(now);
        found
    }

    /// Rekeys the IKE SA of `conn` now.
    pub fn rekey_ike(&mut self, now: Instant, conn: &str) -> Result<(), CommandError> {
        let pi = self.conn_index(conn)?;
        let spi = self.sa_of_conn(pi).ok_or_else(|| CommandError::NoIkeSa(conn.into()))?;
        if let Some(sa) = self.sas.get_mut(&spi) {
            sa.tasks.push_back(Task::RekeyIke);
        }
        self.touch(spi);
        self.flush(now);
        Ok(())
    }

}
