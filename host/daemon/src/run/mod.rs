//! `esprit run --config FILE`: the daemon. The packet thread's event loop
//! (mio, edge-triggered, every source drained) owns the outer sockets and
//! the inner side (TUN device or smoltcp netstack) and moves packets
//! through the [`Dataplane`]; the IKE thread (`crate::ike_thread`) and the
//! control socket reach the data plane under its lock, briefly.

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
use esprit_sadb::decider::{Direction, Level, Verdict};
use esprit_sadb::spd::Action;
use esprit_wire::udp_encap::{classify, Payload};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use socket2::Socket;
use tracing::{error, info, warn};

use crate::config::{Config, Mode, OuterTransport, L4};
use crate::control;
use esprit_dataplane::{Batch, Dataplane, Out, PacketBuf, PathDrop};
use crate::ike_thread::{IkeLink, IkeThread, ToData};
use crate::keylog::KeyLog;
use crate::outer;
use crate::pcap::{LinkType, Writer};
use crate::tun_setup::{EnforceRule, TunPlumbing};

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
    let mut dp = crate::dataplane::from_setkey(&loaded.statements, provider, cfg.ipsec.replay_window, keylog.as_ref(), now)
        .map_err(|e| loaded.locate(e, &cfg.path))?;
    if !cfg.conn.is_empty() {
        crate::ike::validate(&cfg)?;
        crate::ike::warn_readable_auth_specs(&cfg)?;
    }
    let plugins = crate::plugins::install(&cfg, dp.sadb_mut(), true)?;
    let ike = crate::ike::IkeHost::new(&cfg, &mut dp, provider, now)?;
    let ike_status = ike.as_ref().map(|i| (Arc::clone(&i.status), Arc::clone(&i.commands)));
    let plugin_list = plugins.as_ref().map(|p| p.loaded.clone()).unwrap_or_default();
    info!(
        name = %cfg.name,
        sas = dp.sadb().sad().len(),
        policies = dp.sadb().spd().len(),
        crypto = provider.name(),
        "esprit starting in {:?} mode",
        cfg.mode
    );
    if keylog.is_some() {
        warn!("--keylog is on: SA keys are being written to disk");
    }
    let shared = Arc::new(Mutex::new(dp));
    let ike_reloads = ike.as_ref().map(|i| Arc::clone(&i.reloads));

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }

    let mut poll = Poll::new()?;
    let data_waker = Arc::new(mio::Waker::new(poll.registry(), WAKE)?);
    let (to_data, from_ike) = std::sync::mpsc::channel::<ToData>();
    // The inner side first: in tun mode it gives the clearest error without privileges.
    let responder_routes = ike.as_ref().map(|i| i.responder_routes()).unwrap_or_default();
    let mut inner = open_inner(&cfg, &shared, &poll, &responder_routes)?;
    let static_ends: Vec<IpAddr> = {
        let dp = shared.lock().map_err(|_| anyhow::anyhow!("lock"))?;
        dp.sadb().sad().iter().flat_map(|(_, e)| [e.state.config().src, e.state.config().dst]).collect()
    };
    let mut outer = open_outer(&cfg, &poll, &static_ends)?;
    // The IKE thread: the endpoint, its own socket, and the NAT-T socket to send on.
    let mut ike_parts = None;
    // The IKE thread's end (no IKE: nothing to wait for).
    let ike_done = Arc::new(AtomicBool::new(ike.is_none()));
    if let Some(host) = ike {
        let ike_poll = Poll::new()?;
        let (link, ike_waker, from_data) = crate::ike_thread::channel(&ike_poll)?;
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
            from_data,
            to_data: to_data.clone(),
            data_waker: Arc::clone(&data_waker),
            shared: Arc::clone(&shared),
            keylog: keylog.clone(),
            tun_dev,
            done: Arc::clone(&ike_done),
        };
        thread.register()?;
        ike_parts = Some((thread, link, ike_waker));
    }
    // SIGHUP and `esprit reload`: one reloader, one reload at a time.
    let reloader = Arc::new(Mutex::new(crate::reload::Reloader {
        cfg: cfg.clone(),
        statements: loaded.statements,
        provider,
        keylog: keylog.clone(),
        shared: Arc::clone(&shared),
        ike: match (ike_reloads, &ike_parts) {
            (Some(reloads), Some((_, _, waker))) => Some(crate::reload::IkeHandle { reloads, waker: Arc::clone(waker) }),
            _ => None,
        },
    }));
    crate::reload::on_sighup(sighup, Arc::clone(&reloader))?;
    let nft_table = match &inner {
        Inner::Tun { plumbing: Some(p), .. } => p.table_name().map(str::to_string),
        _ => None,
    };

    let socket = cfg.control_socket.clone().unwrap_or_else(|| control::default_socket(&cfg.name));
    let netstack_stats = Arc::new(Mutex::new(None));
    let sources = Arc::new(control_handler::Sources {
        shared: Arc::clone(&shared),
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
    match crate::sd_notify::ready() {
        Ok(true) => info!("told systemd we are ready (READY=1)"),
        Ok(false) => {}
        Err(e) => warn!("sd_notify READY=1: {e}"),
    }

    let mut caps = Captures {
        outer: open_capture(args.pcap_outer.as_ref())?,
        inner: open_capture(args.pcap_inner.as_ref())?,
    };
    let (ike_thread, mut ike_link) = match ike_parts {
        Some((thread, link, _)) => {
            let stop = Arc::clone(&stop);
            let h = std::thread::Builder::new().name("ike".into()).spawn(move || thread.run(&stop))?;
            (Some(h), Some(link))
        }
        None => (None, None),
    };
    let result = event_loop(&cfg, &shared, &mut poll, &mut outer, &mut inner, &mut caps, (&stop, &ike_done), ike_link.as_mut(), &from_ike, &netstack_stats);
    stop.store(true, Ordering::Relaxed);
    if let Some(h) = ike_thread {
        if h.join().is_err() {
            error!("the IKE thread panicked");
        }
    }
    caps.flush();
    let _ = std::fs::remove_file(&socket);
    info!("esprit stopped");
    result
}

/// A capture file: created 0600 without following symlinks (the inner
/// capture holds what IPsec protects; see [`crate::secret_files`]).
fn open_capture(p: Option<&PathBuf>) -> Result<Option<Writer<BufWriter<File>>>> {
    let Some(p) = p else { return Ok(None) };
    let f = crate::secret_files::open_private(p, true).with_context(|| format!("creating capture file {}", p.display()))?;
    Ok(Some(Writer::new(BufWriter::new(f), LinkType::Raw)?))
}

#[allow(clippy::too_many_arguments)]
fn event_loop(
    cfg: &Config,
    shared: &Arc<Mutex<Dataplane>>,
    poll: &mut Poll,
    outer: &mut Outer,
    inner: &mut Inner,
    caps: &mut Captures,
    (stop, ike_done): (&AtomicBool, &AtomicBool),
    mut ike: Option<&mut IkeLink>,
    from_ike: &std::sync::mpsc::Receiver<ToData>,
    netstack_stats: &Mutex<Option<crate::status::model::Counters>>,
) -> Result<()> {
    if let (Inner::Netstack(ns), Ok(mut st)) = (&*inner, netstack_stats.lock()) {
        *st = Some(crate::status::counters::netstack(ns.stats()));
    }
    let mut events = Events::with_capacity(256);
    // One buffer for single packets (netstack output, outer sockets), a
    // batch for TUN reads.
    let mut pbuf = PacketBuf::new();
    let mut batch = Batch::with_capacity(TUN_BATCH);
    // The raw TUN read (a super-segment and its virtio-net header).
    let mut tun_scratch = vec![0u8; 65_536 + 64];
    let mut next_tick = Instant::now() + Duration::from_secs(1);
    // Sources left readable by the last pass (see [`BUDGET`]).
    let mut pending = [false; SOURCES];
    // After a stop signal the packets keep moving until the IKE thread has
    // deleted its IKE SAs (the answers arrive on the NAT-T socket).
    while !(stop.load(Ordering::Relaxed) && ike_done.load(Ordering::SeqCst)) {
        let now = Instant::now();
        let mut timeout = next_tick.saturating_duration_since(now).min(Duration::from_millis(250));
        if let Inner::Netstack(ns) = inner {
            if let Some(t) = ns.poll(now) {
                timeout = timeout.min(t);
            }
            let mut dp = lock(shared)?;
            let pb = &mut pbuf;
            ns.poll_outbound(&mut |pkt| {
                Captures::write(&mut caps.inner, pkt);
                if pb.load(pkt) {
                    send_out(cfg, outer, &mut dp, caps, pb, pkt.len(), Instant::now());
                } else {
                    dp.count_drop(PathDrop::TooBig);
                }
            });
            flush_sends(outer, &mut dp);
            if let Some(l) = ike.as_deref_mut() {
                l.announce_acquires(&dp);
            }
        }
        if pending.iter().any(|p| *p) {
            timeout = Duration::ZERO;
        }
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        for ev in events.iter() {
            if let Some(p) = pending.get_mut(ev.token().0) {
                *p = true;
            }
            if ev.token() == WAKE {
                handle_ike_requests(cfg, outer, inner, shared, caps, from_ike, &mut pbuf)?;
            }
        }
        // Every readable source is read until WouldBlock, one budget per turn.
        for (i, p) in pending.iter_mut().enumerate() {
            if !*p {
                continue;
            }
            let drained = match Token(i) {
                UDP => recv_udp(outer, inner, shared, caps, ike.as_deref_mut())?,
                RAW_ESP | RAW_AH => recv_raw(outer, inner, shared, caps, &mut pbuf, Token(i))?,
                INNER => match inner {
                    Inner::Tun { tun, gone_since, .. } => read_tun(cfg, tun, gone_since, poll, outer, shared, caps, (&mut batch, &mut tun_scratch), ike.as_deref_mut())?,
                    // The netstack reads its own device in `ns.poll`.
                    Inner::Netstack(_) => Drain::Empty,
                },
                _ => Drain::Empty,
            };
            *p = drained == Drain::More;
        }
        let now = Instant::now();
        if now >= next_tick {
            next_tick = now + Duration::from_secs(1);
            // The netstack belongs to this thread: status and metrics read this copy.
            if let (Inner::Netstack(ns), Ok(mut st)) = (&*inner, netstack_stats.lock()) {
                *st = Some(crate::status::counters::netstack(ns.stats()));
            }
            for notice in lock(shared)?.tick(now) {
                if notice.is_warning() {
                    warn!("{notice}");
                } else {
                    info!("{notice}");
                }
            }
            caps.flush();
            if let Inner::Tun { tun, cfg: tc, gone_since, plumbing, .. } = inner {
                if gone_since.is_some_and(|since| now.duration_since(since) >= Duration::from_secs(5)) {
                    *gone_since = Some(now);
                    match Tun::create(tc) {
                        Ok(t) => {
                            tun_register(&t, poll)?;
                            if let Some(p) = plumbing {
                                if let Err(e) = p.restore_routes() {
                                    warn!("restoring routes: {e:#}");
                                }
                            }
                            info!(dev = t.name(), "TUN device recreated");
                            *tun = Some(t);
                            *gone_since = None;
                        }
                        Err(e) => warn!("TUN device still missing: {e}"),
                    }
                }
            }
        }
    }
    Ok(())
}

/// What the IKE thread asked for: held packets to send (an SA was
/// installed), routes for a peer's selectors into the TUN, a virtual IP for
/// the netstack.
fn handle_ike_requests(
    cfg: &Config,
    outer: &mut Outer,
    inner: &mut Inner,
    shared: &Arc<Mutex<Dataplane>>,
    caps: &mut Captures,
    from_ike: &std::sync::mpsc::Receiver<ToData>,
    pb: &mut PacketBuf,
) -> Result<()> {
    while let Ok(m) = from_ike.try_recv() {
        match m {
            ToData::ReleaseHeld => {
                let mut dp = lock(shared)?;
                let now = Instant::now();
                let held = dp.take_held(now);
                if !held.is_empty() {
                    info!(packets = held.len(), "sending the packets held while IKE negotiated");
                }
                for p in held {
                    if pb.load(&p) {
                        send_out(cfg, outer, &mut dp, caps, pb, p.len(), now);
                    }
                }
                flush_sends(outer, &mut dp);
            }
            ToData::Route { add, prefix } => {
                // Netstack mode needs nothing: every inner packet reaches the data plane.
                if let Inner::Tun { plumbing: Some(p), .. } = inner {
                    p.route(add, &prefix, cfg.tun.as_ref().and_then(|t| t.source));
                }
            }
            ToData::VirtualIp(a) => {
                if let Inner::Netstack(ns) = inner {
                    if let Err(e) = ns.set_addresses(&[(IpAddr::V4(a), 32)]) {
                        warn!("setting the virtual IP: {e}");
                    }
                    info!(vip = %a, "netstack now uses the virtual IP {a}");
                }
            }
        }
    }
    Ok(())
}

fn lock(shared: &Arc<Mutex<Dataplane>>) -> Result<std::sync::MutexGuard<'_, Dataplane>> {
    shared.lock().map_err(|_| anyhow::anyhow!("data plane lock poisoned"))
}


/// `tun` or `netstack`, as the status shows it.
fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Tun => "tun",
        Mode::Netstack => "netstack",
    }
}
