//! The two sides of the daemon's packets: the inner one (TUN device or
//! smoltcp netstack) and the outer sockets (ESP in UDP, raw ESP/AH, the
//! clear-text raw socket), and how they are opened.
use super::*;
use crate::tun_state::Claim;

/// A worker's inner side (one per worker: its size does not matter).
#[allow(clippy::large_enum_variant)]
pub(super) enum Inner {
    Tun {
        /// Read by the outbound worker, written by the inbound one.
        tun: Option<Arc<Tun>>,
        cfg: TunConfig,
        /// Routes into the device, restored when it is recreated (the IKE
        /// thread adds and removes the routes of CHILD_SAs).
        plumbing: Option<Arc<Mutex<TunPlumbing>>>,
        gone_since: Option<Instant>,
        writer: Box<TunBatchWriter>,
        /// The current device, for the worker that writes it.
        slot: Arc<TunSlot>,
        /// The [`TunSlot`] generation this worker uses.
        seen: u64,
    },
    Netstack(Box<Netstack>),
}

/// The TUN device as the outbound worker last (re)created it: the inbound
/// worker picks a new one up between two batches (one atomic load a turn).
#[derive(Default)]
pub(super) struct TunSlot {
    tun: Mutex<Option<Arc<Tun>>>,
    generation: std::sync::atomic::AtomicU64,
}

impl TunSlot {
    pub(super) fn publish(&self, t: Arc<Tun>) {
        if let Ok(mut cur) = self.tun.lock() {
            *cur = Some(t);
            self.generation.fetch_add(1, Ordering::Release);
        }
    }
}

impl Inner {
    /// The inner side of the inbound worker: the same TUN device, its own
    /// write queue (`None` in netstack mode: one worker has both sides).
    pub(super) fn follower(&self) -> Option<Inner> {
        match self {
            Inner::Tun { tun, cfg, slot, seen, .. } => Some(Inner::Tun {
                tun: tun.clone(),
                cfg: cfg.clone(),
                plumbing: None,
                gone_since: None,
                writer: Box::default(),
                slot: Arc::clone(slot),
                seen: *seen,
            }),
            Inner::Netstack(_) => None,
        }
    }

    /// Takes up a device the outbound worker recreated.
    pub(super) fn follow(&mut self) {
        if let Inner::Tun { tun, slot, seen, .. } = self {
            let g = slot.generation.load(Ordering::Acquire);
            if g != *seen {
                if let Ok(cur) = slot.tun.lock() {
                    *tun = cur.clone();
                    *seen = g;
                }
            }
        }
    }
}

/// A worker's outer sockets: the inbound worker reads them (they are
/// registered with its poll), the outbound worker sends on its copies.
pub(super) struct Outer {
    /// Shared with the IKE thread, which sends IKE messages on it.
    pub(super) udp: Option<Arc<mio::net::UdpSocket>>,
    pub(super) raw_esp: Option<Socket>,
    pub(super) raw_ah: Option<Socket>,
    /// IPPROTO_RAW socket for bypass traffic in tun mode.
    pub(super) raw_clear: Option<Socket>,
    pub(super) local: Option<IpAddr>,
    /// ESP-in-UDP datagrams waiting to go out as one GSO send.
    pub(super) gso: crate::io_edge::gso::GsoSender,
    /// Buffers for batched reads of the UDP socket.
    /// UDP GRO is on for `udp` (the reader's buffers are made on its
    /// thread, see [`crate::io_edge::mmsg::UdpReceiver::with_gro`]).
    pub(super) gro: bool,
    /// One datagram of a GRO-coalesced buffer, copied out to be decapsulated.
    pub(super) gro_scratch: PacketBuf,
}

impl Outer {
    /// The same sockets for another worker, with buffers of its own.
    pub(super) fn for_sending(&self) -> Result<Outer> {
        let dup = |s: &Option<Socket>| s.as_ref().map(|s| s.try_clone()).transpose();
        Ok(Outer {
            udp: self.udp.clone(),
            raw_esp: dup(&self.raw_esp)?,
            raw_ah: dup(&self.raw_ah)?,
            raw_clear: dup(&self.raw_clear)?,
            local: self.local,
            gso: crate::io_edge::gso::GsoSender::new(),
            gro: self.gro,
            gro_scratch: PacketBuf::new(),
        })
    }
}

/// `static_ends`: the addresses of the static SAs (for an `outer.listen`
/// on every address, see [`crate::local_addr`]).
pub(super) fn open_outer(cfg: &Config, poll: &Poll, static_ends: &[IpAddr]) -> Result<Outer> {
    let privileged = cfg.mode == Mode::Tun;
    let mut o = Outer {
        udp: None,
        raw_esp: None,
        raw_ah: None,
        raw_clear: None,
        local: None,
        gso: crate::io_edge::gso::GsoSender::new(),
        gro: false,
        gro_scratch: PacketBuf::new(),
    };
    match cfg.outer.transport {
        OuterTransport::Udp => {
            let listen = cfg.outer.listen;
            // The destination of inbound SAs (the socket may bind any address).
            let local = crate::local_addr::outer_local(cfg, static_ends)?;
            if listen.ip().is_unspecified() {
                info!(listen = %listen, local = %local, "outer socket on every address; inbound SAs are addressed to {local}");
            }
            let s = outer::udp_socket(listen, privileged.then_some(cfg.instance_ids().fwmark))?;
            s.set_nonblocking(true)?;
            let s = mio::net::UdpSocket::from_std(s);
            o.gro = crate::io_edge::mmsg::enable_gro(&s);
            if !o.gro {
                info!("UDP GRO is not available: datagrams are read one per buffer");
            }
            poll.registry().register(&mut SourceFd(&s.as_raw_fd()), UDP, Interest::READABLE)?;
            o.local = Some(local);
            o.udp = Some(Arc::new(s));
        }
        OuterTransport::Raw => {
            for (proto, tok) in [(outer::IPPROTO_ESP, RAW_ESP), (outer::IPPROTO_AH, RAW_AH)] {
                let s = outer::raw_socket(proto, cfg.instance_ids().fwmark)?;
                s.set_nonblocking(true)?;
                poll.registry().register(&mut SourceFd(&s.as_raw_fd()), tok, Interest::READABLE)?;
                if proto == outer::IPPROTO_ESP {
                    o.raw_esp = Some(s);
                } else {
                    o.raw_ah = Some(s);
                }
            }
        }
    }
    if privileged {
        if let Ok(s) = outer::raw_socket(255, cfg.instance_ids().fwmark) {
            o.raw_clear = Some(s);
        }
    }
    Ok(o)
}

/// `extra_routes`: prefixes routed into the TUN besides the protected ones
/// (see [`crate::ike::IkeHost::responder_routes`]).
pub(super) fn open_inner(cfg: &Config, dp: &Dataplane, poll: &Poll, extra_routes: &[String]) -> Result<Inner> {
    match cfg.mode {
        Mode::Netstack => {
            let ns = cfg.netstack.as_ref().context("netstack section")?;
            let addresses = ns.address.iter().map(|a| crate::config::parse_prefix(a)).collect::<Result<Vec<_>>>()?;
            let proto = |p: L4| match p {
                L4::Tcp => esprit_netstack::Proto::Tcp,
                L4::Udp => esprit_netstack::Proto::Udp,
            };
            let tcp_buffer = ns.tcp_buffer.unwrap_or(crate::config::tcp_buffer::DEFAULT);
            let nc = NetstackConfig {
                addresses,
                mtu: ns.mtu.map(|m| m as usize).unwrap_or(1400),
                forwards: ns
                    .forward
                    .iter()
                    .map(|f| esprit_netstack::Forward { proto: proto(f.proto), listen: f.listen, remote: f.to })
                    .collect(),
                exposes: ns
                    .expose
                    .iter()
                    .map(|e| esprit_netstack::Expose { proto: proto(e.proto), port: e.port, local: e.to })
                    .collect(),
                socks5: ns.socks5,
                max_connections: ns.max_connections.unwrap_or(NetstackConfig::default().max_connections),
                tcp_buffer,
                // A full receive window arrives as one burst the worker reads
                // before the netstack runs: the inbound queue holds two
                // windows' worth of full-size segments (1 MiB: 2,048).
                packet_queue: crate::config::tcp_buffer::packet_queue(tcp_buffer, NetstackConfig::default().packet_queue),
                ..NetstackConfig::default()
            };
            let netstack = Netstack::new(nc).context("starting the netstack")?;
            for a in netstack.listen_addrs() {
                info!(listen = %a, "netstack TCP listener");
            }
            poll.registry().register(&mut SourceFd(&netstack.as_raw_fd()), INNER, Interest::READABLE)?;
            Ok(Inner::Netstack(Box::new(netstack)))
        }
        Mode::Tun => {
            let t = cfg.tun.clone().unwrap_or(crate::config::TunSection {
                name: "esprit0".into(),
                address: Vec::new(),
                mtu: None,
                routes: Vec::new(),
                source: None,
                table: None,
                priority: None,
                offload: true,
                workers: Default::default(),
                pin_workers: false,
            });
            // Claim the instance before touching the kernel: a live instance
            // of the same name refuses this start instead of losing its plumbing.
            let ids = cfg.instance_ids();
            let socket = cfg.control_socket.clone().unwrap_or_else(|| crate::control::default_socket(&cfg.name));
            let claim = Claim::take(&crate::tun_state::path_for(&socket, &cfg.name), &cfg.name, ids, &crate::tun_setup::nft_table_name(&cfg.name))?;
            // IKE's SAs come after start: size for its [[conn]]s too.
            let overhead = dp.max_overhead().max(crate::ike::conf::max_overhead(cfg));
            let mtu = t.mtu.unwrap_or_else(|| (1500 - overhead.min(200)) as u32);
            let tc = TunConfig {
                name: Some(t.name.clone()),
                addresses: t.address.iter().map(|a| crate::config::parse_prefix(a)).collect::<Result<Vec<_>>>()?,
                mtu: u16::try_from(mtu).unwrap_or(1400),
                routes: Vec::new(),
                offload: t.offload,
            };
            // A device of that name in use by another instance cannot be opened.
            let existed = std::path::Path::new("/sys/class/net").join(&t.name).exists();
            let tun = Tun::create(&tc).map_err(|e| match e {
                e @ TunError::NotPermitted(_) => anyhow::anyhow!("{e}"),
                other if existed => anyhow::anyhow!(
                    "creating TUN device {}: {other}: a device of that name exists (another esprit instance?); give each instance its own [tun] name",
                    t.name
                ),
                other => anyhow::anyhow!("creating TUN device {}: {other}", t.name),
            })?;
            tun_register(&tun, poll)?;
            let mut routes: Vec<(String, Option<IpAddr>)> = t.routes.iter().map(|r| (r.clone(), t.source)).collect();
            for p in dp.protected_prefixes().into_iter().chain(extra_routes.iter().cloned()) {
                if !routes.iter().any(|(r, _)| *r == p) {
                    routes.push((p, t.source));
                }
            }
            let mut plumbing = TunPlumbing::install(tun.name(), ids, &routes, claim)?;
            let rules = crate::tun_setup::enforcement_rules(dp);
            let ports: Vec<u16> = vec![cfg.outer.listen.port()];
            plumbing.enforce(&cfg.name, &rules, &ports)?;
            info!(dev = tun.name(), mtu, table = ids.table, fwmark = ids.fwmark, priority = ids.priority, routes = ?routes.iter().map(|r| &r.0).collect::<Vec<_>>(), "TUN device up");
            let tun = Arc::new(tun);
            let slot = Arc::new(TunSlot::default());
            slot.publish(Arc::clone(&tun));
            Ok(Inner::Tun {
                tun: Some(tun),
                cfg: tc,
                plumbing: Some(Arc::new(Mutex::new(plumbing))),
                gone_since: None,
                writer: Box::default(),
                seen: slot.generation.load(Ordering::Acquire),
                slot,
            })
        }
    }
}

pub(super) fn tun_register(tun: &Tun, poll: &Poll) -> io::Result<()> {
    poll.registry().register(&mut SourceFd(&tun.as_raw_fd()), INNER, Interest::READABLE)
}
