//! `esprit run --config FILE`: the daemon, as wiring. Packet workers
//! (`worker.rs`: an outbound and an inbound one in tun mode, one for both in
//! netstack mode) each own a replica of the [`Dataplane`] and the sources
//! of their direction, read with mio until drained; the IKE thread
//! (`crate::ike_thread`), the reloader and the control socket change and
//! read the replicas only through the workers' queues
//! ([`crate::replicas`]), so no packet waits for a lock.

use std::fs::File;
use std::io::{self, BufWriter};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use esprit_netstack::tun_batch::TunBatchWriter;
use esprit_netstack::{Netstack, NetstackConfig, Tun, TunConfig, TunError};
use esprit_wire::udp_encap::{classify, Payload};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use socket2::Socket;
use tracing::{error, info, warn};

use crate::config::{Config, Mode, OuterTransport, L4};
use crate::control;
use esprit_dataplane::{Batch, Dataplane, Out, PacketBuf, PathDrop};
use crate::ike_thread::{IkeLink, IkeThread};
use crate::replicas::{Replicas, Role};
use crate::keylog::KeyLog;
use crate::outer;
use crate::pcap::{LinkType, Writer};
use crate::tun_setup::TunPlumbing;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The TOML configuration file.
    #[arg(long, short)]
    pub config: PathBuf,
    /// Capture outer (protected) packets to this pcap file.
    #[arg(long)]
    pub pcap_outer: Option<PathBuf>,
    /// Capture inner (plain) packets to this pcap file.
    #[arg(long)]
    pub pcap_inner: Option<PathBuf>,
    /// Write every SA's keys in Wireshark's esp_sa format (secret!).
    #[arg(long)]
    pub keylog: Option<PathBuf>,
}

const UDP: Token = Token(0);
const RAW_ESP: Token = Token(1);
const RAW_AH: Token = Token(2);
const INNER: Token = Token(3);
/// A wake-up from the IKE thread (see [`ToData`]).
const WAKE: Token = Token(4);
/// Sources polled by the event loop (indexed by token).
const SOURCES: usize = 4;

/// Datagrams (or TUN packets) read from one source per turn of the event
/// loop. The sockets are edge-triggered: a source left readable when its
/// budget runs out stays marked as pending and is read again on the next
/// turn (with a zero poll timeout), so a burst larger than the budget never
/// leaves a backlog that no wake-up will ever announce. The budget only
/// keeps one flooded source from starving the others.
const BUDGET: usize = 1024;

/// TUN packets read before they go through the data plane together: room
/// for one offload super-segment (64 KiB cut at the smallest MSS).
const TUN_BATCH: usize = esprit_netstack::tun::MAX_SEGMENTS;

/// What a read pass over one source ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drain {
    /// The source returned `WouldBlock` (or is gone): wait for its next edge.
    Empty,
    /// The budget ran out with the source still readable: read it again.
    More,
}

mod control_handler;
mod path;
mod sides;
mod pin;
mod worker;

use path::*;
use sides::*;


pub fn run(args: RunArgs) -> Result<()> {
    // SIGHUP is reload; until the reloader is ready it waits.
    let sighup = crate::reload::catch_sighup()?;
    // No core dumps and no ptrace by other processes of our user: the
    // daemon holds keys (PSKs, SA keys, private keys) in memory.
    if let Err(e) = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable) {
        warn!("prctl(PR_SET_DUMPABLE, 0) failed: {e}; a core dump could contain keys");
    }
    let cfg = Config::load(&args.config)?;
    let provider = match cfg.crypto {
        Some(b) => esprit_crypto::provider_by_name(b.name())?,
        None => esprit_crypto::default_provider(),
    };
    let loaded = crate::setkey_files::load_statements(&cfg)?;
    let keylog = match &args.keylog {
        Some(p) => Some(KeyLog::create(p).with_context(|| format!("creating key log {}", p.display()))?),
        None => None,
    };
    let now = Instant::now();
    // The control side's replica of the data plane (see `crate::replicas`);
    // each packet worker's replica is built by the same operations.
    let mirror = crate::dataplane::from_setkey(&loaded.statements, provider, cfg.ipsec.replay_window, keylog.as_ref(), now)
        .map_err(|e| loaded.locate(e, &cfg.path))?;
    let build: crate::replicas::Op = {
        let statements = Arc::new(loaded.statements.clone());
        let replay = cfg.ipsec.replay_window;
        Arc::new(move |dp: &mut Dataplane, ctx: &crate::replicas::OpCtx<'_>| match crate::dataplane::from_setkey(&statements, ctx.provider, replay, None, now) {
            Ok(d) => *dp = d,
            Err(e) => error!("building a data plane replica: {e:#}"),
        })
    };
    let mut replicas = Replicas::new(provider, keylog.clone(), build, mirror);
    // ESP in UDP: tunnel-mode ESP is sealed and opened without an IP header.
    let esp_in_udp = cfg.outer.transport == OuterTransport::Udp;
    replicas.apply(move |d, _| d.esp_in_udp = esp_in_udp);
    if !cfg.conn.is_empty() {
        crate::ike::validate(&cfg)?;
        crate::ike::warn_readable_auth_specs(&cfg)?;
    }
    let plugins = crate::plugins::load(&cfg, true)?;
    if let Some(p) = &plugins {
        let (deciders, policies) = (p.loaded.clone(), p.policies.clone());
        replicas.apply(move |d, _| crate::plugins::install(&deciders, &policies, d.sadb_mut()))?;
    }
    let ike = crate::ike::IkeHost::new(&cfg, &mut replicas, now)?;
    let ike_status = ike.as_ref().map(|i| (Arc::clone(&i.status), Arc::clone(&i.commands)));
    let plugin_list = plugins.as_ref().map(|p| p.loaded.clone()).unwrap_or_default();
    info!(
        name = %cfg.name,
        sas = replicas.mirror().sadb().sad().len(),
        policies = replicas.mirror().sadb().spd().len(),
        crypto = provider.name(),
        "esprit starting in {:?} mode",
        cfg.mode
    );
    if keylog.is_some() {
        warn!("--keylog is on: SA keys are being written to disk");
    }
    let ike_reloads = ike.as_ref().map(|i| Arc::clone(&i.reloads));

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }

    // The packet workers' polls and queues: per direction in tun mode, one
    // for both in netstack mode (smoltcp is single-threaded).
    // In tun mode `[tun] workers` chooses between the two.
    let per_direction = cfg.mode == Mode::Tun && cfg.tun.as_ref().map(|t| t.workers).unwrap_or_default().per_direction();
    let roles: &[Role] = if per_direction { &[Role::Outbound, Role::Inbound] } else { &[Role::Both] };
    info!(workers = roles.len(), "packet workers: {}", if per_direction { "one per direction" } else { "one for both directions" });
    let mut lanes = Vec::new();
    let mut handles = Vec::new();
    for r in roles {
        let (l, h) = worker::lane(*r)?;
        lanes.push(l);
        handles.push(h);
    }
    let (out_lane, in_lane) = match lanes.as_slice() {
        [both] => (both, both),
        [o, i] => (o, i),
        _ => anyhow::bail!("unexpected packet workers"),
    };
    // The inner side first: in tun mode it gives the clearest error without privileges.
    let responder_routes = ike.as_ref().map(|i| i.responder_routes()).unwrap_or_default();
    let inner = open_inner(&cfg, replicas.mirror(), &out_lane.poll, &responder_routes)?;
    let static_ends: Vec<IpAddr> = replicas.mirror().sadb().sad().iter().flat_map(|(_, e)| [e.state.config().src, e.state.config().dst]).collect();
    let outer = open_outer(&cfg, &in_lane.poll, &static_ends)?;
    let plumbing = match &inner {
        Inner::Tun { plumbing, .. } => plumbing.clone(),
        Inner::Netstack(_) => None,
    };
    let nft_table = plumbing.as_ref().and_then(|p| p.lock().ok().and_then(|p| p.table_name().map(str::to_string)));
    let replicas = Arc::new(Mutex::new(replicas));
    // The IKE thread: the endpoint, its own socket, and the NAT-T socket to send on.
    let mut ike_parts = None;
    // The IKE thread's end (no IKE: nothing to wait for).
    let ike_done = Arc::new(AtomicBool::new(ike.is_none()));
    if let Some(host) = ike {
        let ike_poll = Poll::new()?;
        let (link, inbox) = crate::ike_thread::channel(&ike_poll)?;
        let sock = match host.ike_port {
            Some(port) => {
                let local = crate::ike::conf::local_ip(&cfg)?;
                let s = outer::udp_socket(SocketAddr::new(local, port), (cfg.mode == Mode::Tun).then_some(cfg.instance_ids().fwmark))
                    .with_context(|| format!("IKE needs UDP port {port} (set [ike] port = 0 to use only the NAT-T port)"))?;
                s.set_nonblocking(true)?;
                info!(listen = %SocketAddr::new(local, port), "IKE listening");
                Some(mio::net::UdpSocket::from_std(s))
            }
            None => None,
        };
        let tun_dev = match &inner {
            Inner::Tun { tun: Some(t), .. } => Some(t.name().to_string()),
            _ => None,
        };
        let mut thread = IkeThread {
            host,
            poll: ike_poll,
            sock,
            natt: outer.udp.clone(),
            from_data: inbox.datagrams,
            acquires: inbox.acquires,
            replicas: Arc::clone(&replicas),
            plumbing: plumbing.clone(),
            route_source: cfg.tun.as_ref().and_then(|t| t.source),
            tun_dev,
            done: Arc::clone(&ike_done),
        };
        thread.register()?;
        ike_parts = Some((thread, link, inbox.waker));
    }
    // SIGHUP and `esprit reload`: one reloader, one reload at a time.
    let reloader = Arc::new(Mutex::new(crate::reload::Reloader {
        cfg: cfg.clone(),
        statements: loaded.statements,
        provider,
        replicas: Arc::clone(&replicas),
        ike: match (ike_reloads, &ike_parts) {
            (Some(reloads), Some((_, _, waker))) => Some(crate::reload::IkeHandle { reloads, waker: Arc::clone(waker) }),
            _ => None,
        },
        policy_plugins: plugin_list.iter().map(|h| esprit_sadb::decider::PolicyDecider::name(h.as_ref()).to_string()).collect(),
        plumbing: plumbing.as_ref().map(|t| crate::reload_policies::Plumbing {
            tun: Arc::clone(t),
            source: cfg.tun.as_ref().and_then(|t| t.source),
            name: cfg.name.clone(),
            ports: vec![cfg.outer.listen.port()],
        }),
    }));
    crate::reload::on_sighup(sighup, Arc::clone(&reloader))?;

    let socket = cfg.control_socket.clone().unwrap_or_else(|| control::default_socket(&cfg.name));
    let netstack_stats = Arc::new(Mutex::new(None));
    let sources = Arc::new(control_handler::Sources {
        workers: handles.clone(),
        name: cfg.name.clone(),
        mode: mode_name(cfg.mode).into(),
        plugins: plugin_list,
        ike: ike_status.map(|(status, commands)| control_handler::IkeControl {
            status,
            commands,
            waker: ike_parts.as_ref().map(|(_, _, w)| Arc::clone(w)),
        }),
        reloader: Arc::clone(&reloader),
        nft_table,
        control: Arc::new(control::ControlStats::default()),
        netstack: Arc::clone(&netstack_stats),
    });
    {
        let sources = Arc::clone(&sources);
        let group = cfg.control_socket_group.as_deref().map(control::group::resolve).transpose()?;
        control::serve_with(&socket, group, Arc::clone(&sources.control), move |req| sources.handle(req))?;
    }
    info!(socket = %socket.display(), "control socket ready");
    if let Some(addr) = cfg.metrics_listen {
        let sources = Arc::clone(&sources);
        crate::metrics::serve(addr, Arc::new(move || sources.snapshot()))?;
    }

    let caps = Captures { outer: open_capture(args.pcap_outer.as_ref())?, inner: open_capture(args.pcap_inner.as_ref())? };
    let ike_link = ike_parts.as_ref().map(|(_, l, _)| l.clone());
    // Each worker's replica: the operations so far, replayed; from now on
    // operations reach it through its queue.
    let sides: Vec<(Outer, Inner)> = if per_direction {
        // In the order of `roles`: the outbound worker reads the TUN and
        // sends on copies of the sockets; the inbound worker reads the
        // sockets (registered with its poll) and writes the TUN.
        let send = outer.for_sending()?;
        let follower = inner.follower().context("the inbound worker's TUN side")?;
        vec![(send, inner), (outer, follower)]
    } else {
        vec![(outer, inner)]
    };
    let mut workers = Vec::new();
    {
        let mut rep = replicas.lock().map_err(|_| anyhow::anyhow!("data plane replicas poisoned"))?;
        for ((lane, handle), (outer, inner)) in lanes.into_iter().zip(handles).zip(sides) {
            let empty = crate::dataplane::from_setkey(&[], provider, None, None, now)?;
            let dp = rep.replay(empty);
            rep.attach(handle);
            workers.push(worker::Worker {
                lane,
                dp,
                provider,
                outer,
                inner,
                caps: caps.clone(),
                ike: ike_link.clone(),
                netstack_stats: Arc::clone(&netstack_stats),
            });
        }
        // Every replica is built: the operations' log (keys among them) goes.
        rep.forget_log();
    }
    let pin = cfg.mode == Mode::Tun && cfg.tun.as_ref().is_some_and(|t| t.pin_workers);
    let allowed = if pin { pin::allowed_cores() } else { Vec::new() };
    let count = workers.len();
    let threads = workers
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            let (cfg, stop, ike_done) = (cfg.clone(), Arc::clone(&stop), Arc::clone(&ike_done));
            let name = w.lane.role.name();
            let core = if pin { pin::core_for(i, count, &allowed) } else { None };
            if pin && core.is_none() && i == 0 {
                info!(workers = count, cores = allowed.len(), "pin_workers: not pinned (a single worker, or fewer cores than workers)");
            }
            std::thread::Builder::new().name(name.into()).spawn(move || {
                if let Some(c) = core {
                    match pin::pin_current(c) {
                        Ok(()) => info!(worker = name, core = c, "packet worker pinned"),
                        Err(e) => warn!(worker = name, core = c, "pinning the packet worker: {e}"),
                    }
                }
                let r = w.run(&cfg, &stop, &ike_done);
                if r.is_err() {
                    // One worker failing stops the daemon.
                    stop.store(true, Ordering::Relaxed);
                }
                r
            })
        })
        .collect::<io::Result<Vec<_>>>()?;
    match crate::sd_notify::ready() {
        Ok(true) => info!("told systemd we are ready (READY=1)"),
        Ok(false) => {}
        Err(e) => warn!("sd_notify READY=1: {e}"),
    }
    let ike_thread = match ike_parts {
        Some((thread, _, _)) => {
            let stop = Arc::clone(&stop);
            Some(std::thread::Builder::new().name("ike".into()).spawn(move || thread.run(&stop))?)
        }
        None => None,
    };
    let mut result = Ok(());
    for t in threads {
        match t.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error!("a packet worker stopped: {e:#}");
                result = Err(e);
            }
            Err(_) => {
                error!("a packet worker panicked");
                stop.store(true, Ordering::Relaxed);
                result = Err(anyhow::anyhow!("a packet worker panicked"));
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(h) = ike_thread {
        if h.join().is_err() {
            error!("the IKE thread panicked");
        }
    }
    caps.flush();
    // The plumbing is shared (IKE thread, reloader): take it down now.
    if let Some(Ok(mut p)) = plumbing.as_ref().map(|p| p.lock()) {
        p.teardown();
    }
    let _ = std::fs::remove_file(&socket);
    info!("esprit stopped");
    result
}

/// A capture file: created 0600 without following symlinks (the inner
/// capture holds what IPsec protects; see [`crate::secret_files`]).
fn open_capture(p: Option<&PathBuf>) -> Result<Capture> {
    let Some(p) = p else { return Ok(None) };
    let f = crate::secret_files::open_private(p, true).with_context(|| format!("creating capture file {}", p.display()))?;
    Ok(Some(Arc::new(Mutex::new(Writer::new(BufWriter::new(f), LinkType::Raw)?))))
}

/// `tun` or `netstack`, as the status shows it.
fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Tun => "tun",
        Mode::Netstack => "netstack",
    }
}
