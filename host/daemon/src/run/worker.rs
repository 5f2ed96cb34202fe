//! A packet worker: one thread, its own poll, its own replica of the data
//! plane (no lock on the packet path), the sources of its direction read
//! until they are drained (see [`super::BUDGET`]), and a queue from the
//! control side (operations on its replica, questions, held packets to
//! release) announced by a waker, so a change acts at once.
//!
//! In tun mode the outbound worker reads the TUN device and sends on the
//! outer sockets, and the inbound worker reads the outer sockets and writes
//! the TUN device; in netstack mode one worker does both (smoltcp is one
//! single-threaded stack).
use super::*;
use crate::replicas::{OpCtx, Role, ToWorker, WorkerHandle};
use crate::status::model::Counters;
use esprit_crypto::Provider;
use std::sync::mpsc::Receiver;

/// A worker's poll and queue, made before the sources it reads are opened
/// (they register with its poll).
pub(super) struct Lane {
    pub(super) role: Role,
    pub(super) poll: Poll,
    inbox: Receiver<ToWorker>,
}

/// A lane and the control side's handle on it.
pub(super) fn lane(role: Role) -> Result<(Lane, WorkerHandle)> {
    let poll = Poll::new()?;
    let waker = Arc::new(mio::Waker::new(poll.registry(), WAKE)?);
    let (handle, inbox) = WorkerHandle::new(role, waker);
    Ok((Lane { role, poll, inbox }, handle))
}

pub(super) struct Worker {
    pub(super) lane: Lane,
    pub(super) dp: Dataplane,
    pub(super) provider: &'static dyn Provider,
    pub(super) outer: Outer,
    pub(super) inner: Inner,
    pub(super) caps: Captures,
    pub(super) ike: Option<IkeLink>,
    /// The netstack's counters for `esprit status` (netstack mode).
    pub(super) netstack_stats: Arc<Mutex<Option<Counters>>>,
}

impl Worker {
    /// Moves packets until `stop` is set and the IKE thread is done (its
    /// DELETEs are answered on the NAT-T socket).
    pub(super) fn run(mut self, cfg: &Config, stop: &AtomicBool, ike_done: &AtomicBool) -> Result<()> {
        let role = self.lane.role;
        self.publish_netstack_stats();
        let mut events = Events::with_capacity(256);
        // One buffer for single packets (netstack output, outer sockets,
        // held packets), a batch for TUN reads.
        let mut pbuf = PacketBuf::new();
        let mut batch = Batch::with_capacity(TUN_BATCH);
        // The raw TUN read (a super-segment and its virtio-net header).
        let mut tun_scratch = if role.outbound() { vec![0u8; 65_536 + 64] } else { Vec::new() };
        // Batched reads of the NAT-T socket.
        let mut rx = Box::new(crate::io_edge::mmsg::UdpReceiver::with_gro(self.outer.gro));
        let mut next_tick = Instant::now() + Duration::from_secs(1);
        // Sources left readable by the last pass (see [`BUDGET`]).
        let mut pending = [false; SOURCES];
        while !(stop.load(Ordering::Relaxed) && ike_done.load(Ordering::SeqCst)) {
            self.handle_inbox(cfg, &mut pbuf);
            let now = Instant::now();
            let mut timeout = next_tick.saturating_duration_since(now).min(Duration::from_millis(250));
            if let Inner::Netstack(ns) = &mut self.inner {
                if let Some(t) = ns.poll(now) {
                    timeout = timeout.min(t);
                }
                let (dp, outer, caps, pb) = (&mut self.dp, &mut self.outer, &self.caps, &mut pbuf);
                ns.poll_outbound(&mut |pkt| {
                    Captures::write(&caps.inner, pkt);
                    if pb.load(pkt) {
                        send_out(cfg, outer, dp, caps, pb, pkt.len(), Instant::now());
                    } else {
                        dp.count_drop(PathDrop::TooBig);
                    }
                });
                flush_sends(&mut self.outer, &mut self.dp);
                self.forward_acquires();
            }
            if pending.iter().any(|p| *p) {
                timeout = Duration::ZERO;
            }
            match self.lane.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
            for ev in events.iter() {
                if let Some(p) = pending.get_mut(ev.token().0) {
                    *p = true;
                }
            }
            self.handle_inbox(cfg, &mut pbuf);
            if role == Role::Inbound {
                self.inner.follow();
            }
            // Every readable source is read until WouldBlock, one budget per turn.
            for (i, p) in pending.iter_mut().enumerate() {
                if !*p {
                    continue;
                }
                let (dp, outer, inner, caps) = (&mut self.dp, &mut self.outer, &mut self.inner, &self.caps);
                let drained = match Token(i) {
                    UDP => recv_udp(outer, &mut rx, inner, dp, caps, self.ike.as_ref())?,
                    RAW_ESP | RAW_AH => recv_raw(outer, inner, dp, caps, &mut pbuf, Token(i))?,
                    INNER => match inner {
                        Inner::Tun { tun, gone_since, .. } => read_tun(cfg, tun, gone_since, &self.lane.poll, outer, dp, caps, (&mut batch, &mut tun_scratch))?,
                        // The netstack reads its own device in `ns.poll`.
                        Inner::Netstack(_) => Drain::Empty,
                    },
                    _ => Drain::Empty,
                };
                *p = drained == Drain::More;
            }
            if role.outbound() {
                self.forward_acquires();
            }
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + Duration::from_secs(1);
                self.tick(now)?;
            }
        }
        self.caps.flush();
        Ok(())
    }

    /// ACQUIREs raised by the outbound path, for the IKE thread.
    fn forward_acquires(&mut self) {
        if let Some(l) = &self.ike {
            l.forward_acquires(&mut self.dp);
        }
    }

    /// What the control side queued: operations on this replica,
    /// questions, held packets to send, a new address.
    fn handle_inbox(&mut self, cfg: &Config, pb: &mut PacketBuf) {
        while let Ok(m) = self.lane.inbox.try_recv() {
            match m {
                ToWorker::Op(op) => op(&mut self.dp, &OpCtx { provider: self.provider, keylog: None }),
                ToWorker::Query(q) => q(&mut self.dp),
                ToWorker::ReleaseHeld => {
                    let now = Instant::now();
                    let held = self.dp.take_held(now);
                    if !held.is_empty() {
                        info!(packets = held.len(), "sending the packets held while IKE negotiated");
                    }
                    for p in held {
                        if pb.load(&p) {
                            send_out(cfg, &mut self.outer, &mut self.dp, &self.caps, pb, p.len(), now);
                        }
                    }
                    flush_sends(&mut self.outer, &mut self.dp);
                    self.forward_acquires();
                }
                ToWorker::VirtualIp(a) => {
                    if let Inner::Netstack(ns) = &mut self.inner {
                        if let Err(e) = ns.set_addresses(&[(IpAddr::V4(a), 32)]) {
                            warn!("setting the virtual IP: {e}");
                        }
                        info!(vip = %a, "netstack now uses the virtual IP {a}");
                    }
                }
            }
        }
    }

    /// Once a second: lifetimes, held-packet expiry, the captures, the
    /// netstack's counters, and a TUN device that went away.
    fn tick(&mut self, now: Instant) -> Result<()> {
        self.publish_netstack_stats();
        for notice in self.dp.tick(now) {
            if !self.logs(&notice) {
                continue;
            }
            if notice.is_warning() {
                warn!("{notice}");
            } else {
                info!("{notice}");
            }
        }
        self.caps.flush();
        if let Inner::Tun { tun, cfg: tc, gone_since, plumbing, slot, .. } = &mut self.inner {
            if self.lane.role.outbound() && gone_since.is_some_and(|since| now.duration_since(since) >= Duration::from_secs(5)) {
                *gone_since = Some(now);
                match Tun::create(tc) {
                    Ok(t) => {
                        tun_register(&t, &self.lane.poll)?;
                        if let Some(Ok(mut p)) = plumbing.as_ref().map(|p| p.lock()) {
                            if let Err(e) = p.restore_routes() {
                                warn!("restoring routes: {e:#}");
                            }
                        }
                        info!(dev = t.name(), "TUN device recreated");
                        let t = Arc::new(t);
                        slot.publish(Arc::clone(&t));
                        *tun = Some(t);
                        *gone_since = None;
                    }
                    Err(e) => warn!("TUN device still missing: {e}"),
                }
            }
        }
        Ok(())
    }

    /// Every replica sees the same lifetimes run out; each notice is logged
    /// once: by the outbound worker, except a byte or packet limit that only
    /// the inbound worker counted.
    fn logs(&self, n: &esprit_dataplane::Notice) -> bool {
        match (self.lane.role, n) {
            (Role::Both | Role::Outbound, _) => true,
            (Role::Inbound, esprit_dataplane::Notice::Expired(e)) => e.limit != esprit_sadb::lifetime::LimitKind::Time,
            (Role::Inbound, _) => false,
        }
    }

    fn publish_netstack_stats(&self) {
        // The netstack belongs to this thread: status and metrics read this copy.
        if let (Inner::Netstack(ns), Ok(mut st)) = (&self.inner, self.netstack_stats.lock()) {
            *st = Some(crate::status::counters::netstack(ns.stats()));
        }
    }
}
