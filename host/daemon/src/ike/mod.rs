//! IKEv2 in the daemon: the sans-IO [`esprit_ike::Endpoint`] driven by the
//! event loop. Datagrams for port 500 and non-ESP-marked datagrams on the
//! NAT-T port come in through [`IkeHost::handle_datagram`]; what the
//! endpoint decides (CHILD_SAs up/down, virtual IPs) is applied to the data
//! plane in [`IkeHost::poll`]; ACQUIREs from the SPD start negotiations.
pub mod auth;
pub mod conf;
pub mod diff;
pub mod install;
pub mod outcome;
pub mod peers;
pub mod reload;
pub mod retry;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use esprit_ike::{Endpoint, EndpointConfig, Event, Spi, Transmit};
use esprit_plugin::host_crypto::KeyStore;
use esprit_plugin::PluginEngine;
use esprit_sadb::decider::Verdict;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::replicas::Replicas;
use conf::{Conn, Oe, Start};
use install::{ConnPolicies, Installed};
use peers::{Held, PeerRefs};

/// Operator commands from the control socket.
#[derive(Debug, Clone)]
pub enum Command {
    Up(String),
    Down(String),
    Rekey(String),
    RekeyIke(String),
}

/// What the event loop must do besides sending.
#[derive(Debug)]
pub enum Action {
    Send(Transmit),
    /// Use this virtual IP as our inner address.
    VirtualIp(Ipv4Addr),
    /// Something was installed: run the packets held for an SA again.
    Release,
    /// Route `prefix` into the TUN (`add`) or stop: an SA protects it, so
    /// what this host sends there must reach esprit (tun mode only; in
    /// netstack mode every inner packet reaches the data plane already).
    Route { add: bool, prefix: String },
}

/// One installed CHILD_SA.
#[derive(Debug)]
struct Child {
    conn: String,
    sas: Installed,
    held: Held,
}

/// The daemon's IKE side.
pub struct IkeHost {
    ep: Endpoint,
    conns: Vec<Conn>,
    local: IpAddr,
    /// Our IKE_SA_INIT port when we own a port-500 socket.
    pub ike_port: Option<u16>,
    /// The NAT-T port (the outer UDP socket's).
    pub natt_port: u16,
    policies: HashMap<String, ConnPolicies>,
    installed: HashMap<Spi, Child>,
    /// Per-peer policies and routes, counted by installed CHILD_SA.
    refs: PeerRefs,
    /// Inbound SPIs of CHILD_SAs whose outbound SA is on standby.
    standby: Vec<Spi>,
    /// When the inbound worker was last asked about the standby SAs.
    standby_checked: Option<Instant>,
    /// Next tries of `start = "start"` connections whose setup failed.
    retries: retry::Retries,
    /// [`IkeHost::shutdown`] ran: no new IKE SAs.
    shutting_down: bool,
    replay: u32,
    /// OE: when a private-or-clear attempt gives up, per peer.
    oe_deadline: HashMap<IpAddr, (Instant, String)>,
    clear_shunts: Vec<IpAddr>,
    /// The bypass policies of each clear shunt (removed when the peer later
    /// sets up an SA with us).
    shunt_policies: HashMap<IpAddr, ConnPolicies>,
    /// A shunt or SA was installed outside `poll`: release held packets.
    release: bool,
    /// Connections the operator took down (`esprit ike down`): traffic does
    /// not bring them back until `esprit ike up`.
    admin_down: std::collections::HashSet<String>,
    /// An IKE message or timer may have changed the IKE SAs without an
    /// event (e.g. a rekeyed IKE SA removed after its DELETE was answered):
    /// refresh the status JSON in the next `poll`. Without it `esprit
    /// status` kept showing the old IKE SA as "Rekeyed" until the next event.
    status_dirty: bool,
    /// When the status JSON was last built, and when it is due again: it
    /// visits every IKE SA, so it is built at most every
    /// [`STATUS_EVERY`] (issue 11: it was rebuilt per datagram, which a
    /// flood of IKE_SA_INITs turned into O(half-open SAs) per datagram).
    status_at: Option<Instant>,
    status_due: Option<Instant>,
    /// The IKE side of `esprit status`, rebuilt when it changes. Its ages
    /// are as of the last rebuild (`built`).
    pub status: Arc<Mutex<crate::status::model::IkeStatus>>,
    /// Commands from the control socket, with where to answer their outcome.
    pub commands: outcome::CommandQueue,
    waiters: outcome::Waiters,
    /// New connection sets from a reload (see [`reload`]).
    pub reloads: Arc<Mutex<Vec<reload::IkeReload>>>,
    /// Changed connections to start again once their old IKE SA is gone.
    restart: std::collections::HashSet<String>,
    _engine: PluginEngine,
}

/// Shortest interval between two builds of the status JSON once there are
/// more than [`STATUS_SMALL`] IKE SAs (below, it is rebuilt on every change,
/// so `esprit status` is exact at once).
const STATUS_EVERY: Duration = Duration::from_millis(200);
const STATUS_SMALL: usize = 256;

/// Warns about auth plugin specs (they may hold a PSK) that group or
/// others can read; once, at start.
pub fn warn_readable_auth_specs(cfg: &Config) -> Result<()> {
    for (path, _) in auth_plugin_specs(cfg)? {
        crate::secret_files::warn_if_readable(&path, "an auth plugin spec (it may hold a PSK)");
    }
    Ok(())
}

/// Names of the `[[plugin]]` specs that are auth plugins (named by a conn).
pub fn auth_plugin_specs(cfg: &Config) -> Result<Vec<(PathBuf, esprit_plugin::PluginSpec)>> {
    let mut out = Vec::new();
    for p in &cfg.plugin {
        let path = cfg.resolve(&p.spec);
        let spec = auth::read_spec(&path)?;
        if cfg.conn.iter().any(|c| c.auth == spec.name) {
            out.push((path, spec));
        }
    }
    Ok(out)
}

/// Checks every `[[conn]]` and that its `auth` names a `[[plugin]]` spec.
pub fn validate(cfg: &Config) -> Result<Vec<Conn>> {
    let conns = conf::conns(cfg)?;
    let mut names = Vec::new();
    for p in &cfg.plugin {
        names.push(auth::read_spec(&cfg.resolve(&p.spec))?.name);
    }
    for (c, section) in conns.iter().zip(&cfg.conn) {
        if !names.contains(&c.peer.auth) {
            anyhow::bail!(
                "{}: [[conn]] {}: auth = {:?}, but no [[plugin]] spec is named {:?} (add `[[plugin]] spec = \"{}.plugin.toml\"` whose `name` is {:?})",
                section.at,
                c.peer.name,
                c.peer.auth,
                c.peer.auth,
                c.peer.auth,
                c.peer.auth
            );
        }
    }
    Ok(conns)
}

/// The auth backend of `conns`: their private keys (`[[conn]] key`) in a
/// key store and the auth plugins their `[[plugin]]` specs name, loaded in
/// a Wasm engine of their own (at start and on every reload).
pub fn build_auth(cfg: &Config, conns: &[Conn]) -> Result<(PluginEngine, auth::PluginAuth)> {
    let specs = auth_plugin_specs(cfg)?;
    let mut keys = KeyStore::default();
    for c in conns {
        if let Some(k) = &c.key {
            let loaded = crate::pki::key_file::load_private_key(k).map_err(|e| anyhow::anyhow!("[[conn]] {}: key: {e}", c.peer.name))?;
            keys.insert_pkcs8(&c.peer.name, loaded.scheme().into(), loaded.pkcs8_der())
                .map_err(|e| anyhow::anyhow!("[[conn]] {}: {e}", c.peer.name))?;
        }
    }
    let engine = PluginEngine::shared().context("starting the Wasm engine")?;
    let backend = auth::PluginAuth::load(&engine, specs.into_iter().map(|(_, s)| s).collect(), Arc::new(keys))?;
    Ok((engine, backend))
}

/// How often the inbound worker is asked whether standby SAs have carried
/// a packet (make-before-break, see [`IkeHost::check_standby`]).
const STANDBY_CHECK: Duration = Duration::from_millis(20);

/// The key of a conn's per-peer policies in [`IkeHost::policies`].
fn peer_key(conn: &str, peer: IpAddr) -> String {
    format!("{conn}@{peer}")
}

impl IkeHost {
    /// Builds the IKE side if the config has `[[conn]]`s.
    pub fn new(cfg: &Config, dp: &mut Replicas, now: Instant) -> Result<Option<IkeHost>> {
        if cfg.conn.is_empty() {
            return Ok(None);
        }
        let conns = validate(cfg)?;
        let local = conf::local_ip(cfg)?;
        let (engine, backend) = build_auth(cfg, &conns)?;
        let ike = cfg.ike.clone().unwrap_or_default();
        let udp_outer = cfg.outer.transport == crate::config::OuterTransport::Udp;
        let natt_port = if udp_outer { cfg.outer.listen.port() } else { ike.port.unwrap_or(500) };
        let default_port = if cfg.mode == crate::config::Mode::Tun { Some(500) } else { None };
        let ike_port = match ike.port.or(default_port) {
            Some(0) => None,
            Some(p) if udp_outer && p == natt_port => None,
            other => other,
        };
        let ecfg = EndpointConfig {
            cookie_threshold: ike.cookie_threshold.unwrap_or(64),
            retransmit_timeout: ike.retransmit_timeout.unwrap_or(Duration::from_secs(1)),
            retransmit_tries: ike.retransmit_tries.unwrap_or(5),
            keepalive: ike.keepalive.unwrap_or(Duration::from_secs(20)),
            natt_port,
            ..EndpointConfig::default()
        };
        let ecfg = EndpointConfig {
            half_open_timeout: ike.half_open_timeout.unwrap_or(ecfg.half_open_timeout),
            half_open_limit: ike.half_open_limit.unwrap_or(ecfg.half_open_limit),
            half_open_per_ip: ike.half_open_per_ip.unwrap_or(ecfg.half_open_per_ip),
            ..ecfg
        };
        let rng = Box::new(<rand::rngs::StdRng as rand::SeedableRng>::from_entropy());
        let ep = Endpoint::new(ecfg, conns.iter().map(|c| c.peer.clone()).collect(), Box::new(backend), rng);
        dp.apply(|d, _| d.hold_on_acquire = true);
        let mut host = IkeHost {
            ep,
            conns,
            local,
            ike_port,
            natt_port,
            policies: HashMap::new(),
            installed: HashMap::new(),
            refs: PeerRefs::default(),
            standby: Vec::new(),
            standby_checked: None,
            retries: retry::Retries::default(),
            shutting_down: false,
            replay: cfg.ipsec.replay_window.unwrap_or(esprit_esp::DEFAULT_REPLAY_WINDOW),
            oe_deadline: HashMap::new(),
            clear_shunts: Vec::new(),
            shunt_policies: HashMap::new(),
            release: false,
            admin_down: std::collections::HashSet::new(),
            status_dirty: false,
            status_at: None,
            status_due: None,
            status: Arc::new(Mutex::new(crate::status::model::IkeStatus::default())),
            commands: Arc::new(Mutex::new(Vec::new())),
            reloads: Arc::new(Mutex::new(Vec::new())),
            restart: std::collections::HashSet::new(),
            waiters: outcome::Waiters::default(),
            _engine: engine,
        };
        // Policies for connections we initiate (ACQUIRE needs them) and for OE groups.
        for i in 0..host.conns.len() {
            let c = host.conns[i].clone();
            if c.start != Start::None || c.oe.is_some() {
                host.ensure_policies(dp, &c.peer.name, c.oe)?;
            }
        }
        host.start(now);
        host.update_status(now);
        Ok(Some(host))
    }

    fn conn(&self, name: &str) -> Option<&Conn> {
        self.conns.iter().find(|c| c.peer.name == name)
    }

    fn ensure_policies(&mut self, dp: &mut Replicas, conn: &str, oe: Option<Oe>) -> Result<ConnPolicies> {
        if let Some(p) = self.policies.get(conn) {
            return Ok(*p);
        }
        let c = self.conn(conn).context("conn")?.clone();
        let child = &c.peer.children[0];
        let remote = c.peer.remote.unwrap_or(self.local);
        let verdict = match oe {
            Some(Oe::PrivateOrClear) => Some(Verdict::PrivateOrClear),
            Some(Oe::Private) => Some(Verdict::Private),
            // Clear unless a peer sets up OE with us (its CHILD_SA adds
            // per-peer protect policies ahead of this one).
            Some(Oe::ClearOrPrivate) => Some(Verdict::Bypass),
            None => None,
        };
        let p = install::add_policies(dp, &child.local_ts[0], &child.remote_ts[0], c.protocol, child.mode, self.local, remote, verdict)
            .with_context(|| format!("[[conn]] {conn}: policies"))?;
        self.policies.insert(conn.to_string(), p);
        Ok(p)
    }

    /// Policies for one peer of a `remote = any` connection (road warriors,
    /// opportunistic groups), from the negotiated selectors, ahead of the
    /// connection's own: each peer's traffic gets its own bound SA.
    fn ensure_peer_policies(&mut self, dp: &mut Replicas, c: &esprit_ike::ChildSaUp) -> Result<ConnPolicies> {
        let key = peer_key(&c.conn, c.remote.ip());
        if let Some(p) = self.policies.get(&key) {
            return Ok(*p);
        }
        let conn = self.conn(&c.conn).context("conn")?.clone();
        let (Some(l), Some(r)) = (c.local_ts.first(), c.remote_ts.first()) else { anyhow::bail!("CHILD_SA without selectors") };
        let p = install::add_policies_at(dp, l, r, conn.protocol, c.mode, c.local.ip(), c.remote.ip(), None, install::IKE_PRIORITY - 10)
            .with_context(|| format!("[[conn]] {}: policies for {}", c.conn, c.remote.ip()))?;
        self.policies.insert(key, p);
        Ok(p)
    }

    fn local_for(&self, remote_port: u16) -> SocketAddr {
        match self.ike_port {
            Some(p) if remote_port == 500 => SocketAddr::new(self.local, p),
            _ => SocketAddr::new(self.local, self.natt_port),
        }
    }

    fn start(&mut self, now: Instant) {
        let names: Vec<(String, u16)> = self.conns.iter().filter(|c| c.start == Start::Start).map(|c| (c.peer.name.clone(), c.peer.remote_port)).collect();
        for (n, port) in names {
            let local = self.local_for(port);
            if let Err(e) = self.ep.initiate(now, &n, local, None) {
                warn!(conn = %n, "cannot initiate: {e}");
            }
        }
    }

    /// A datagram for IKE (marker already removed).
    pub fn handle_datagram(&mut self, now: Instant, local_port: u16, from: SocketAddr, data: &[u8]) {
        self.ep.handle_datagram(now, SocketAddr::new(self.local, local_port), from, data);
        self.status_dirty = true;
    }

    /// Prefixes the TUN device must route to us although no policy covers
    /// them yet: the remote_ts of respond-only connections (`start = "none"`)
    /// to a known peer. Their policies only appear with the first CHILD_SA
    /// the peer negotiates; without these routes the replies to the peer's
    /// traffic never reached the TUN (strongSwan-initiated tunnels were
    /// one-way). Until a CHILD_SA exists such packets are dropped, not sent
    /// in the clear.
    pub fn responder_routes(&self) -> Vec<String> {
        self.conns
            .iter()
            .filter(|c| c.start == Start::None && c.oe.is_none() && c.peer.remote.is_some())
            .flat_map(|c| c.peer.children.iter().flat_map(|ch| ch.remote_ts.iter()))
            .filter_map(|ts| ts.as_prefix().map(|(a, l)| format!("{a}/{l}")))
            .collect()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let oe = self.oe_deadline.values().map(|(t, _)| *t).min();
        [self.ep.poll_timeout(), oe, self.retries.next(), self.status_due].into_iter().flatten().min()
    }

    /// Shutdown (SIGTERM/SIGINT): sends an INFORMATIONAL DELETE for every
    /// IKE SA (RFC 7296 §1.4.1; the peer removes the CHILD_SAs with it),
    /// drops the ones being set up and refuses new ones. The event loop
    /// keeps running (datagrams, `handle_timeout`, `poll`, sending the
    /// `Action::Send`s) until [`IkeHost::shutdown_done`] or `grace` passed
    /// (see `IkeThread::run`).
    pub fn shutdown(&mut self, now: Instant, grace: Duration) {
        self.shutting_down = true;
        self.retries.cancel(None);
        self.oe_deadline.clear();
        self.ep.close_all(now, grace);
        self.status_dirty = true;
    }

    /// Every IKE SA is deleted (answered, or given up after the grace time).
    pub fn shutdown_done(&self) -> bool {
        self.shutting_down && self.ep.is_closed()
    }

    /// Rekeys we answered whose new outbound SA is on standby: the first
    /// packet on the new inbound SA says the peer installed it (RFC 7296
    /// §2.8 make-before-break). Few at a time; checked every `poll`.
    fn check_standby(&mut self, now: Instant, dp: &Replicas) {
        if self.standby.is_empty() || self.standby_checked.is_some_and(|t| now < t + STANDBY_CHECK) {
            return;
        }
        self.standby_checked = Some(now);
        let children: Vec<install::Installed> = self.standby.iter().filter_map(|s| self.installed.get(s).map(|ch| ch.sas)).collect();
        for s in install::inbound_used(dp, children) {
            self.standby.retain(|x| *x != s);
            self.ep.child_inbound_seen(now, s);
        }
    }

    /// Runs operator commands queued by the control socket.
    pub fn handle_commands(&mut self, now: Instant) {
        let cmds: Vec<(Command, Option<outcome::Reply>)> = self.commands.lock().map(|mut c| std::mem::take(&mut *c)).unwrap_or_default();
        for (c, reply) in cmds {
            let r = match &c {
                Command::Up(_) if self.shutting_down => Err(esprit_ike::CommandError::ShuttingDown),
                Command::Up(n) => {
                    self.admin_down.remove(n);
                    self.retries.cancel(Some(n));
                    let port = self.conn(n).map(|c| c.peer.remote_port).unwrap_or(500);
                    let local = self.local_for(port);
                    self.ep.initiate(now, n, local, None)
                }
                Command::Down(n) => {
                    self.admin_down.insert(n.clone());
                    self.retries.cancel(Some(n));
                    self.ep.terminate(now, n)
                }
                Command::Rekey(n) => self.ep.rekey_children(now, n),
                Command::RekeyIke(n) => self.ep.rekey_ike(now, n),
            };
            match r {
                Ok(()) => {
                    info!("operator command {c:?}");
                    if let Some(reply) = reply {
                        self.waiters.add(c, reply, now);
                    }
                }
                Err(e) => {
                    warn!("operator command {c:?} failed: {e}");
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(e.to_string()));
                    }
                }
            }
        }
    }

    /// Runs timers.
    pub fn handle_timeout(&mut self, now: Instant, dp: &mut Replicas) {
        self.ep.handle_timeout(now);
        self.status_dirty = true;
        for n in self.retries.take_due(now) {
            if self.admin_down.contains(&n) || self.shutting_down {
                continue;
            }
            let port = self.conn(&n).map(|c| c.peer.remote_port).unwrap_or(500);
            let local = self.local_for(port);
            info!(conn = %n, "trying to set up the connection again");
            if let Err(e) = self.ep.initiate(now, &n, local, None) {
                warn!(conn = %n, "cannot initiate: {e}");
            }
        }
        // OE: give up on peers that did not answer in time.
        let due: Vec<IpAddr> = self.oe_deadline.iter().filter(|(_, (t, _))| *t <= now).map(|(a, _)| *a).collect();
        for a in due {
            if let Some((_, conn)) = self.oe_deadline.remove(&a) {
                self.install_clear_shunt(dp, &conn, a);
            }
        }
    }

    fn install_clear_shunt(&mut self, dp: &mut Replicas, conn: &str, peer: IpAddr) {
        if self.clear_shunts.contains(&peer) {
            return;
        }
        let Some(c) = self.conn(conn).cloned() else { return };
        let local_ts = c.peer.children[0].local_ts[0];
        let host = esprit_ike::TrafficSelector::from_prefix(peer, if peer.is_ipv4() { 32 } else { 128 });
        match install::add_policies_at(dp, &local_ts, &host, c.protocol, c.peer.children[0].mode, self.local, peer, Some(Verdict::Bypass), install::IKE_PRIORITY - 10) {
            Ok(p) => {
                self.shunt_policies.insert(peer, p);
                self.release = true;
                warn!(conn, peer = %peer, "opportunistic encryption: {peer} did not answer IKE within {:?}; traffic to it now flows in the clear (private-or-clear)", c.oe_timeout);
                self.clear_shunts.push(peer);
            }
            Err(e) => error!("installing a clear shunt for {peer}: {e:#}"),
        }
    }

    /// ACQUIREs from the SPD: negotiate for the policy's connection.
    pub fn handle_acquires(&mut self, now: Instant, acquires: Vec<esprit_sadb::acquire::Acquire>) {
        for acq in acquires {
            if self.shutting_down {
                continue;
            }
            let by_policy = self.policies.iter().find(|(_, p)| p.out == acq.policy_id).map(|(n, _)| n.clone());
            // A policy decided elsewhere (e.g. a Wasm policy plugin's protect
            // verdict): the connection whose selectors cover the packet.
            let by_flow = || {
                self.conns
                    .iter()
                    .find(|c| {
                        c.peer.remote.is_some()
                            && c.peer.children.iter().any(|ch| ch.local_ts.iter().any(|t| t.contains(acq.flow.src)) && ch.remote_ts.iter().any(|t| t.contains(acq.flow.dst)))
                    })
                    .map(|c| c.peer.name.clone())
            };
            let Some(name) = by_policy.or_else(by_flow) else {
                info!("ACQUIRE for policy {} ({} -> {}) belongs to no IKE connection; packets are dropped", acq.policy_id, acq.flow.src, acq.flow.dst);
                continue;
            };
            let Some(c) = self.conn(&name).cloned() else { continue };
            if self.admin_down.contains(&name) {
                info!(conn = %name, "ACQUIRE for {} -> {}: the connection was taken down (esprit ike down); packets are dropped until `esprit ike up {name}`", acq.flow.src, acq.flow.dst);
                continue;
            }
            info!(conn = %name, "ACQUIRE: first packet {} -> {} needs an SA; starting IKE", acq.flow.src, acq.flow.dst);
            if matches!(c.oe, Some(Oe::PrivateOrClear)) {
                self.oe_deadline.entry(acq.flow.dst).or_insert((now + c.oe_timeout, name.clone()));
            }
            let local = self.local_for(c.peer.remote_port);
            let r = match c.peer.remote {
                Some(_) => self.ep.initiate(now, &name, local, None),
                None => {
                    // An opportunistic group: the packet's destination is the peer,
                    // and the packet's addresses are the traffic selectors.
                    let host = |a: IpAddr| esprit_ike::TrafficSelector::from_prefix(a, if a.is_ipv4() { 32 } else { 128 });
                    let ts = (vec![host(acq.flow.src)], vec![host(acq.flow.dst)]);
                    self.ep.initiate_to(now, &name, local, SocketAddr::new(acq.flow.dst, c.peer.remote_port), None, Some(ts))
                }
            };
            if let Err(e) = r {
                warn!(conn = %name, "cannot initiate: {e}");
            }
        }
    }

    /// Applies endpoint events to the data plane; returns what to send.
    pub fn poll(&mut self, now: Instant, dp: &mut Replicas) -> Vec<Action> {
        let mut out = Vec::new();
        let mut changed = std::mem::take(&mut self.status_dirty);
        let mut release = std::mem::take(&mut self.release);
        self.check_standby(now, dp);
        while let Some(ev) = self.ep.poll_event() {
            changed = true;
            self.waiters.event(&ev);
            match ev {
                Event::ChildUp(c) => {
                    let installed = self.child_up(dp, &c, now, &mut out);
                    self.waiters.child_up(&c, installed);
                    release |= installed;
                }
                Event::ChildOutbound { spi_in, spi_out, conn, why, .. } => {
                    self.standby.retain(|x| *x != spi_in);
                    match self.installed.get_mut(&spi_in) {
                        Some(ch) => match install::take_outbound(dp, &mut ch.sas) {
                            Ok(()) => {
                                info!(conn = %conn, "sending on the rekeyed CHILD_SA {spi_out:08x} now: {why}");
                                release = true;
                            }
                            Err(e) => error!(conn = %conn, "cannot switch to the rekeyed CHILD_SA {spi_out:08x}: {e:#}"),
                        },
                        None => warn!(conn = %conn, "CHILD_SA {spi_in:08x} should take over, but it was not installed"),
                    }
                }
                Event::ChildDown { spi_in, conn, .. } => {
                    self.standby.retain(|x| *x != spi_in);
                    self.child_down(dp, spi_in, &conn, &mut out)
                }
                Event::IkeUp { conn, remote, peer_id, algs, rekeyed, .. } => {
                    self.retries.succeeded(&conn);
                    if !rekeyed {
                        info!(conn = %conn, peer = %remote, "IKE SA up with {peer_id} ({algs})");
                    }
                }
                Event::IkeDown { conn, remote, reason } => {
                    info!(conn = %conn, peer = %remote, "IKE SA down: {reason}");
                    self.restart_changed(now, &conn);
                }
                Event::SetupFailed { conn, remote, reason } => {
                    warn!(conn = %conn, peer = %remote, "IKE setup failed: {reason}");
                    self.restart_changed(now, &conn);
                    let retry = self.conn(&conn).is_some_and(|c| c.start == Start::Start && c.peer.remote.is_some());
                    if retry && !self.shutting_down && !self.admin_down.contains(&conn) {
                        let (wait, n) = self.retries.failed(now, &conn);
                        warn!(conn = %conn, "setup failed {n} time(s) in a row; next try in {wait:?}");
                    }
                    if let Some(c) = self.conn(&conn).cloned() {
                        if c.oe == Some(Oe::PrivateOrClear) {
                            self.oe_deadline.remove(&remote.ip());
                            self.install_clear_shunt(dp, &conn, remote.ip());
                        }
                    }
                }
                Event::VirtualIp { addr, .. } => out.push(Action::VirtualIp(addr)),
            }
        }
        while let Some(t) = self.ep.poll_transmit() {
            out.push(Action::Send(t));
        }
        if release {
            out.push(Action::Release);
        }
        if changed || self.status_due.is_some_and(|t| t <= now) {
            match self.status_at {
                Some(t) if now < t + STATUS_EVERY && self.ep.ike_sa_count() > STATUS_SMALL => self.status_due = Some(t + STATUS_EVERY),
                _ => {
                    self.update_status(now);
                    self.status_at = Some(now);
                    self.status_due = None;
                }
            }
        }
        out
    }

    /// Installs a CHILD_SA: its policies (per peer for `remote = "any"`
    /// and opportunistic conns), its SAs, and the routes that bring this
    /// host's traffic for its remote selectors to esprit. `true` if it was
    /// installed (held packets can go).
    fn child_up(&mut self, dp: &mut Replicas, c: &esprit_ike::ChildSaUp, now: Instant, out: &mut Vec<Action>) -> bool {
        let Some(conn) = self.conn(&c.conn).cloned() else {
            error!(conn = %c.conn, "CHILD_SA {:08x}/{:08x} for an unknown conn", c.spi_in, c.spi_out);
            return false;
        };
        if conn.oe.is_some() && !peers::only_the_peer(&c.remote_ts, c.remote.ip()) {
            let ts: Vec<String> = c.remote_ts.iter().map(|t| t.to_string()).collect();
            error!(conn = %c.conn, peer = %c.remote.ip(), "opportunistic encryption: the peer negotiated remote selectors [{}] beyond its own address; CHILD_SA {:08x}/{:08x} is not installed (an unauthenticated peer must not attract traffic for other hosts)", ts.join(", "), c.spi_in, c.spi_out);
            return false;
        }
        // A clear-or-private conn's own policies say bypass: an SA bound to
        // them would never carry a packet. Such SAs get per-peer policies
        // like those of `remote = "any"` conns.
        let per_peer = conn.peer.remote.is_none() || conn.oe == Some(Oe::ClearOrPrivate);
        let pol = if per_peer { self.ensure_peer_policies(dp, c) } else { self.ensure_policies(dp, &c.conn, conn.oe) };
        let pol = match pol {
            Ok(p) => p,
            Err(e) => {
                error!(conn = %c.conn, "cannot install policies: {e:#}");
                return false;
            }
        };
        let held = Held { policy_key: per_peer.then(|| peer_key(&c.conn, c.remote.ip())), routes: peers::route_prefixes(&c.remote_ts) };
        let sas = match install::install_child(dp, c, pol, self.replay, now) {
            Ok(i) => i,
            Err(e) => {
                error!(conn = %c.conn, "cannot install CHILD_SA {:08x}/{:08x}: {e:#}", c.spi_in, c.spi_out);
                if let Some(k) = &held.policy_key {
                    self.remove_unused_peer_policies(dp, k);
                }
                return false;
            }
        };
        let peer = c.remote.ip();
        self.oe_deadline.remove(&peer);
        self.remove_clear_shunt(dp, peer);
        for prefix in self.refs.up(&held) {
            out.push(Action::Route { add: true, prefix });
        }
        if sas.standby {
            self.standby.push(c.spi_in);
        }
        self.installed.insert(c.spi_in, Child { conn: c.conn.clone(), sas, held });
        true
    }

    /// Removes a CHILD_SA's SAs, and its per-peer policies and routes when
    /// no other CHILD_SA uses them.
    fn child_down(&mut self, dp: &mut Replicas, spi_in: Spi, conn: &str, out: &mut Vec<Action>) {
        let Some(ch) = self.installed.remove(&spi_in) else {
            warn!(conn = %conn, "CHILD_SA {spi_in:08x} down, but it was not installed");
            return;
        };
        install::remove_child(dp, &ch.sas);
        let (last, routes) = self.refs.down(&ch.held);
        if let (true, Some(k)) = (last, &ch.held.policy_key) {
            self.remove_unused_peer_policies(dp, k);
        }
        for prefix in routes {
            out.push(Action::Route { add: false, prefix });
        }
        tracing::debug!(conn = %ch.conn, "CHILD_SA {spi_in:08x} removed");
    }

    /// Removes the per-peer policies `key` unless a CHILD_SA uses them.
    fn remove_unused_peer_policies(&mut self, dp: &mut Replicas, key: &str) {
        if self.refs.policy_in_use(key) {
            return;
        }
        if let Some(p) = self.policies.remove(key) {
            install::remove_policies(dp, p);
            info!("removed the per-peer policies {key}: its last CHILD_SA is gone");
        }
    }

    /// A peer we had given up on (clear shunt) set up an SA after all: its
    /// traffic is protected from now on.
    fn remove_clear_shunt(&mut self, dp: &mut Replicas, peer: IpAddr) {
        let Some(p) = self.shunt_policies.remove(&peer) else { return };
        install::remove_policies(dp, p);
        self.clear_shunts.retain(|a| *a != peer);
        info!(peer = %peer, "opportunistic encryption: {peer} set up an SA after all; its clear shunt is removed");
    }

    pub fn update_status(&self, now: Instant) {
        use crate::status::model::{ChildStatus, IkeSaStatus, IkeStatus};
        let ike_sas = self
            .ep
            .summaries()
            .into_iter()
            .map(|s| IkeSaStatus {
                conn: s.conn,
                state: s.state.name().to_string(),
                local: s.local.to_string(),
                remote: s.remote.to_string(),
                spi_i: s.spi_i.to_string(),
                spi_r: s.spi_r.to_string(),
                initiator: s.initiator,
                algs: s.algs,
                peer_id: s.peer_id,
                nat: s.nat,
                age_s: now.saturating_duration_since(s.created).as_secs(),
                rekey_in_s: s.rekey_at.map(|t| t.saturating_duration_since(now).as_secs()),
                children: s
                    .children
                    .into_iter()
                    .map(|(name, i, o, algs)| ChildStatus { name, spi_in: format!("{i:08x}"), spi_out: format!("{o:08x}"), algs })
                    .collect(),
            })
            .collect();
        let v = IkeStatus {
            ike_sas,
            half_open: self.ep.half_open() as u64,
            stats: crate::status::counters::ike(self.ep.stats().clone()),
            clear_shunts: self.clear_shunts.iter().map(|a| a.to_string()).collect(),
            built: Some(now),
        };
        if let Ok(mut s) = self.status.lock() {
            *s = v;
        }
    }
}
