//! The IKE thread: owns the IKE endpoint, so Diffie-Hellman, the Wasm auth
//! plugins (IKE_AUTH), retransmissions, ACQUIRE handling and operator
//! commands never run on the packet thread or while it waits.
//!
//! It reads its own UDP 500 socket; IKE messages that arrive on the NAT-T
//! socket (non-ESP marker, RFC 3948 §2.2) are handed over by the inbound
//! worker through a bounded queue, and ACQUIREs come from the outbound
//! worker. What IKE decides goes to the packet workers' data planes as
//! operations on their replicas ([`crate::replicas`]); what only a worker
//! may touch (held packets, the netstack's address) goes to it as a
//! message with a wake-up. No packet worker ever waits for this thread.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use esprit_dataplane::Dataplane;
use esprit_sadb::acquire::Acquire;
use esprit_wire::udp_encap::{classify, Payload, NON_ESP_MARKER};
use mio::{Events, Interest, Poll, Token, Waker};
use tracing::{debug, info, warn};

use crate::ike::{Action, IkeHost};
use crate::replicas::{Replicas, Role, ToWorker};
use crate::tun_setup::TunPlumbing;

/// The IKE socket (UDP 500 or the configured IKE port).
const SOCK: Token = Token(0);
/// A wake-up: a datagram from the NAT-T socket, an operator command, an ACQUIRE.
pub const WAKE: Token = Token(1);
/// Datagrams read or taken from the queue per turn (the socket is
/// edge-triggered: a source left readable is read again at once).
const BUDGET: usize = 1024;
/// IKE datagrams from the NAT-T socket waiting for this thread.
pub const QUEUE: usize = 1024;
/// How long a stopping daemon waits for the answers to its DELETEs.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// An IKE datagram seen on the NAT-T socket: source, and the message
/// without the non-ESP marker.
pub type Datagram = (SocketAddr, Vec<u8>);

/// A packet worker's handle on the IKE thread.
#[derive(Clone)]
pub struct IkeLink {
    to_ike: SyncSender<Datagram>,
    acquires: Sender<Acquire>,
    waker: Arc<Waker>,
}

impl IkeLink {
    /// Hands an IKE message from the NAT-T socket over; `false` when the
    /// queue is full (the caller counts the drop; IKE retransmits).
    pub fn hand_over(&self, from: SocketAddr, msg: &[u8]) -> bool {
        match self.to_ike.try_send((from, msg.to_vec())) {
            Ok(()) => {
                self.wake();
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    /// Passes the ACQUIREs the outbound path raised to the IKE thread. The
    /// SAD raises each at most once per policy, SA key and peer until it
    /// times out, so this queue is bounded by the flows, not the packets.
    pub fn forward_acquires(&self, dp: &mut Dataplane) {
        let mut any = false;
        while let Some(a) = dp.sadb_mut().poll_acquire() {
            any = true;
            if self.acquires.send(a).is_err() {
                break;
            }
        }
        if any {
            self.wake();
        }
    }

    fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            debug!("waking the IKE thread: {e}");
        }
    }
}

/// The IKE thread's state.
pub struct IkeThread {
    pub host: IkeHost,
    pub poll: Poll,
    /// Our own IKE socket (registered with `poll` as [`SOCK`]), if any.
    pub sock: Option<mio::net::UdpSocket>,
    /// The NAT-T socket, shared with the packet thread, for sending.
    pub natt: Option<Arc<mio::net::UdpSocket>>,
    pub from_data: Receiver<Datagram>,
    /// ACQUIREs from the outbound worker.
    pub acquires: Receiver<Acquire>,
    /// The data plane's replicas: IKE's changes go through them.
    pub replicas: Arc<Mutex<Replicas>>,
    /// Routes into the TUN device (tun mode).
    pub plumbing: Option<Arc<Mutex<TunPlumbing>>>,
    /// The source address of those routes (`[tun] source`).
    pub route_source: Option<IpAddr>,
    /// The TUN device's name (tun mode), for virtual IPs.
    pub tun_dev: Option<String>,
    /// Set when this thread is finished: the packet thread keeps reading
    /// the NAT-T socket (the peers' answers to our DELETEs) until then.
    pub done: Arc<AtomicBool>,
}

/// The IKE thread's ends of its queues.
pub struct IkeInbox {
    pub waker: Arc<Waker>,
    pub datagrams: Receiver<Datagram>,
    pub acquires: Receiver<Acquire>,
}

/// A poll's waker for the IKE thread, and the link for the packet workers.
pub fn channel(poll: &Poll) -> io::Result<(IkeLink, IkeInbox)> {
    let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
    let (tx, datagrams) = std::sync::mpsc::sync_channel(QUEUE);
    let (acq_tx, acquires) = std::sync::mpsc::channel();
    Ok((IkeLink { to_ike: tx, acquires: acq_tx, waker: Arc::clone(&waker) }, IkeInbox { waker, datagrams, acquires }))
}

impl IkeThread {
    /// Registers the IKE socket.
    pub fn register(&mut self) -> io::Result<()> {
        if let Some(s) = self.sock.as_mut() {
            self.poll.registry().register(s, SOCK, Interest::READABLE)?;
        }
        Ok(())
    }

    /// Runs until `stop` is set and the IKE SAs are deleted.
    pub fn run(mut self, stop: &AtomicBool) {
        self.run_loop(stop);
        self.done.store(true, Ordering::SeqCst);
        if let Ok(r) = self.replicas.lock() {
            for w in r.workers() {
                w.wake();
            }
        }
    }

    fn run_loop(&mut self, stop: &AtomicBool) {
        let mut events = Events::with_capacity(64);
        let mut buf = vec![0u8; 65_536];
        let mut sock_pending = false;
        let mut queue_pending = false;
        // On SIGTERM/SIGINT: an INFORMATIONAL DELETE for every IKE SA, then
        // wait (at most SHUTDOWN_GRACE) for the answers, so peers remove
        // their SAs at once instead of finding out by DPD (RFC 7296 §1.4.1).
        let mut closing: Option<Instant> = None;
        loop {
            if stop.load(Ordering::Relaxed) && closing.is_none() {
                let now = Instant::now();
                closing = Some(now + SHUTDOWN_GRACE);
                info!("stopping: deleting every IKE SA");
                self.host.shutdown(now, SHUTDOWN_GRACE);
                self.service();
            }
            if closing.is_some_and(|t| self.host.shutdown_done() || Instant::now() >= t) {
                break;
            }
            let now = Instant::now();
            let mut timeout = Duration::from_millis(250);
            if let Some(t) = self.host.poll_timeout() {
                timeout = timeout.min(t.saturating_duration_since(now));
            }
            if sock_pending || queue_pending {
                timeout = Duration::ZERO;
            }
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!("IKE thread poll: {e}; IKE stops");
                    return;
                }
            }
            if events.iter().any(|e| e.token() == SOCK) {
                sock_pending = true;
            }
            if sock_pending {
                sock_pending = self.recv(&mut buf);
            }
            queue_pending = self.take_handed_over();
            self.service();
        }
    }

    /// Reads the IKE socket until `WouldBlock` or the budget; `true` when it
    /// may still be readable.
    fn recv(&mut self, buf: &mut [u8]) -> bool {
        let Some(s) = self.sock.as_ref() else { return false };
        let port = self.host.ike_port.unwrap_or(500);
        for _ in 0..BUDGET {
            match s.recv_from(buf) {
                Ok((n, from)) => {
                    // A non-ESP marker is tolerated here too (RFC 3948 §2.2).
                    let d = match classify(&buf[..n]) {
                        Ok(Payload::Ike(m)) => m,
                        _ => &buf[..n],
                    };
                    self.host.handle_datagram(Instant::now(), port, from, d);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                // ICMP errors queued on the socket and the like: per datagram.
                Err(e) => debug!("IKE receive: {e}"),
            }
        }
        true
    }

    /// IKE messages the packet thread took from the NAT-T socket; `true`
    /// when the budget ran out with more queued.
    fn take_handed_over(&mut self) -> bool {
        let port = self.host.natt_port;
        for _ in 0..BUDGET {
            let Ok((from, msg)) = self.from_data.try_recv() else { return false };
            self.host.handle_datagram(Instant::now(), port, from, &msg);
        }
        true
    }

    /// ACQUIREs, commands, timers; applies what IKE decided to the data
    /// plane's replicas (and waits until the workers have it, so a peer's
    /// first packet finds its SA), then sends what IKE wants sent.
    fn service(&mut self) {
        let now = Instant::now();
        let (actions, outbound, packets) = {
            let Ok(mut rep) = self.replicas.lock() else {
                warn!("data plane replicas poisoned; IKE stops applying changes");
                return;
            };
            let acquires: Vec<Acquire> = self.acquires.try_iter().collect();
            let mut actions = self.host.handle_reloads(now, &mut rep);
            self.host.handle_acquires(now, acquires);
            self.host.handle_commands(now);
            if self.host.poll_timeout().is_some_and(|t| t <= now) {
                self.host.handle_timeout(now, &mut rep);
            }
            actions.extend(self.host.poll(now, &mut rep));
            rep.sync();
            (actions, rep.outbound_worker().cloned(), rep.workers().iter().find(|w| w.role == Role::Both).cloned())
        };
        for a in actions {
            match a {
                Action::Send(t) => self.send(&t),
                Action::Release => {
                    if let Some(w) = &outbound {
                        w.send(ToWorker::ReleaseHeld);
                    }
                }
                Action::Route { add, prefix } => {
                    // Netstack mode needs nothing: every inner packet reaches the data plane.
                    if let Some(Ok(mut p)) = self.plumbing.as_ref().map(|p| p.lock()) {
                        p.route(add, &prefix, self.route_source);
                    }
                }
                Action::VirtualIp(a) => match (&self.tun_dev, &packets) {
                    (Some(dev), _) => {
                        let ok = std::process::Command::new("ip")
                            .args(["addr", "add", &format!("{a}/32"), "dev", dev])
                            .status()
                            .map(|s| s.success())
                            .unwrap_or(false);
                        info!(vip = %a, dev = %dev, ok, "virtual IP added to the TUN device");
                    }
                    (None, Some(w)) => w.send(ToWorker::VirtualIp(a)),
                    (None, None) => warn!(vip = %a, "no packet worker takes the virtual IP"),
                },
            }
        }
    }

    fn send(&self, t: &esprit_ike::Transmit) {
        let mut data = Vec::with_capacity(t.data.len() + 4);
        if t.non_esp_marker {
            data.extend_from_slice(&NON_ESP_MARKER);
        }
        data.extend_from_slice(&t.data);
        let r = match (&self.sock, self.host.ike_port) {
            (Some(s), Some(p)) if p == t.local.port() => s.send_to(&data, t.remote),
            _ => match &self.natt {
                Some(s) => s.send_to(&data, t.remote),
                None => {
                    warn!("no socket for IKE from port {}", t.local.port());
                    return;
                }
            },
        };
        if let Err(e) = r {
            warn!(to = %t.remote, "sending IKE: {e}");
        }
    }
}
