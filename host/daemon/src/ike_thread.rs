//! The IKE thread: owns the IKE endpoint, so Diffie-Hellman, the Wasm auth
//! plugins (IKE_AUTH), retransmissions, ACQUIRE handling and operator
//! commands never run on the packet thread or while it waits.
//!
//! It reads its own UDP 500 socket; IKE messages that arrive on the NAT-T
//! socket (non-ESP marker, RFC 3948 §2.2) are handed over by the packet
//! thread through a bounded queue. It takes the data plane's lock only to
//! install or remove SAs and policies and to collect ACQUIREs; what only the
//! packet thread may touch (held packets, the netstack's address) goes back
//! as a [`ToData`] message with a wake-up.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use esprit_dataplane::Dataplane;
use esprit_wire::udp_encap::{classify, Payload, NON_ESP_MARKER};
use mio::{Events, Interest, Poll, Token, Waker};
use tracing::{debug, info, warn};

use crate::ike::{Action, IkeHost};
use crate::keylog::KeyLog;

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

/// What the IKE thread asks of the packet thread.
#[derive(Debug)]
pub enum ToData {
    /// Something was installed: run the packets held for an SA again.
    ReleaseHeld,
    /// Use this virtual IP as our inner address (netstack mode).
    VirtualIp(Ipv4Addr),
    /// Add or remove the route of a peer's selectors into the TUN (tun mode).
    Route { add: bool, prefix: String },
}

/// The packet thread's handle on the IKE thread.
pub struct IkeLink {
    to_ike: SyncSender<Datagram>,
    waker: Arc<Waker>,
    /// ACQUIREs the packet thread has already announced.
    acquires_seen: u64,
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

    /// Wakes the IKE thread when the packet path raised new ACQUIREs.
    pub fn announce_acquires(&mut self, dp: &Dataplane) {
        let raised = dp.sadb().acquire_stats().raised;
        if raised != self.acquires_seen {
            self.acquires_seen = raised;
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
    /// Unbounded: routes and releases must not be lost (IKE's pace bounds it).
    pub to_data: Sender<ToData>,
    pub data_waker: Arc<Waker>,
    pub shared: Arc<Mutex<Dataplane>>,
    pub keylog: Option<KeyLog>,
    /// The TUN device's name (tun mode), for virtual IPs.
    pub tun_dev: Option<String>,
    /// Set when this thread is finished: the packet thread keeps reading
    /// the NAT-T socket (the peers' answers to our DELETEs) until then.
    pub done: Arc<AtomicBool>,
}

/// A poll and its waker for the IKE thread, and the link for the packet thread.
pub fn channel(poll: &Poll) -> io::Result<(IkeLink, Arc<Waker>, Receiver<Datagram>)> {
    let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
    Ok((IkeLink { to_ike: tx, waker: Arc::clone(&waker), acquires_seen: 0 }, waker, rx))
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
        if let Err(e) = self.data_waker.wake() {
            debug!("waking the packet thread: {e}");
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
    /// plane (under its lock, briefly), then sends what IKE wants sent.
    fn service(&mut self) {
        let now = Instant::now();
        let actions = {
            let Ok(mut dp) = self.shared.lock() else {
                warn!("data plane lock poisoned; IKE stops applying changes");
                return;
            };
            let mut actions = self.host.handle_reloads(now, &mut dp);
            self.host.handle_acquires(now, &mut dp);
            self.host.handle_commands(now);
            if self.host.poll_timeout().is_some_and(|t| t <= now) {
                self.host.handle_timeout(now, &mut dp);
            }
            actions.extend(self.host.poll(now, &mut dp, self.keylog.as_ref()));
            actions
        };
        for a in actions {
            match a {
                Action::Send(t) => self.send(&t),
                Action::Release => self.tell_data(ToData::ReleaseHeld),
                Action::Route { add, prefix } => self.tell_data(ToData::Route { add, prefix }),
                Action::VirtualIp(a) => match &self.tun_dev {
                    Some(dev) => {
                        let ok = std::process::Command::new("ip")
                            .args(["addr", "add", &format!("{a}/32"), "dev", dev])
                            .status()
                            .map(|s| s.success())
                            .unwrap_or(false);
                        info!(vip = %a, dev = %dev, ok, "virtual IP added to the TUN device");
                    }
                    None => self.tell_data(ToData::VirtualIp(a)),
                },
            }
        }
    }

    fn tell_data(&self, m: ToData) {
        if let Err(e) = self.to_data.send(m) {
            warn!("the packet thread is gone: {e}");
        }
        if let Err(e) = self.data_waker.wake() {
            debug!("waking the packet thread: {e}");
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
