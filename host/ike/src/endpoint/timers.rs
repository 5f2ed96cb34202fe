//! Timers and queued work: retransmissions (RFC 7296 §2.1), rekeys (§2.8),
//! liveness checks (§2.4), NAT-T keepalives (RFC 3948 §2.3), half-open
//! expiry (§2.6), and starting queued requests when the window is free
//! (§2.3). Only SAs whose deadline is due or that changed are visited.
use std::time::Instant;

use tracing::{debug, info, warn};

use super::Endpoint;
use crate::event::Transmit;
use crate::ike_sa::{IkeSa, IkeState, Pending, Task};
use crate::types::IkeSpi;

impl Endpoint {
    /// Runs due timers: retransmissions, rekeys, liveness checks,
    /// keepalives, half-open expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(spi) = self.index.pop_due(now) {
            let Some(mut sa) = self.sas.remove(&spi) else { continue };
            sa.ix.sched = None;
            self.run_timers(now, &mut sa);
            self.put_back(spi, sa);
        }
        if self.close_deadline.is_some_and(|t| t <= now) {
            self.close_expired(now);
        }
        self.flush(now);
    }

    fn run_timers(&mut self, now: Instant, sa: &mut IkeSa) {
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
        if sa.state == IkeState::HalfOpen && sa.half_open_until.is_some_and(|t| t <= now) {
            // Quietly: under a flood this happens thousands of times.
            ctx.stats.half_open_expired += 1;
            debug!(peer = %sa.remote, "half-open IKE SA {} expired after {:?} without IKE_AUTH", sa.local_spi(), ctx.cfg.half_open_timeout);
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
            sa.run_child_timers(&mut ctx);
        }
    }

    /// Returns an SA (and a rekeyed successor it spawned) to the table,
    /// queued for re-indexing.
    pub(super) fn put_back(&mut self, spi: IkeSpi, mut sa: IkeSa) {
        let spawned = sa.spawned.take();
        self.index.touch(spi, &mut sa);
        self.sas.insert(spi, sa);
        self.adopt(spawned);
    }

    /// Indexes and stores the successor a rekey spawned (if any).
    fn adopt(&mut self, spawned: Option<Box<IkeSa>>) {
        if let Some(n) = spawned {
            let mut n = *n;
            let k = n.local_spi();
            self.index.touch(k, &mut n);
            self.sas.insert(k, n);
        }
    }

    /// Marks an SA in the table for re-indexing.
    pub(super) fn touch(&mut self, spi: IkeSpi) {
        if let Some(sa) = self.sas.get_mut(&spi) {
            self.index.touch(spi, sa);
        }
    }

    /// Starts queued work on the SAs that changed, re-indexes them and
    /// removes the dead ones.
    pub(super) fn flush(&mut self, now: Instant) {
        loop {
            let dirty = self.index.take_dirty();
            if dirty.is_empty() {
                break;
            }
            for spi in dirty {
                let Some(mut sa) = self.sas.remove(&spi) else { continue };
                self.kick_one(now, &mut sa);
                let spawned = sa.spawned.take();
                if self.index.sync(spi, &mut sa) {
                    self.sas.insert(spi, sa);
                }
                self.adopt(spawned);
            }
        }
        if self.closing && self.sas.is_empty() {
            self.close_deadline = None;
        }
    }

    /// Starts queued work on one SA if its request window is free.
    fn kick_one(&mut self, now: Instant, sa: &mut IkeSa) {
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
                        let c = &sa.children[i];
                        let (cfg, l, r) = (c.cfg, c.local_ts.clone(), c.remote_ts.clone());
                        sa.start_create_child(&mut ctx, cfg, l, r, Some(spi_in));
                    }
                }
                Task::RekeyIke => sa.start_rekey_ike(&mut ctx),
                Task::DeleteChild { spi_in } => sa.start_delete_child(&mut ctx, spi_in),
                Task::DeleteIke => sa.start_delete_ike(&mut ctx),
                Task::Dpd => sa.start_dpd(&mut ctx),
            }
        }
    }

    /// INITIAL_CONTACT (RFC 7296 §2.4): the peer restarted; every other
    /// IKE SA with the same identity on this connection is stale.
    pub(super) fn drop_stale(&mut self, now: Instant, fresh_spi: IkeSpi, fresh: &IkeSa) {
        let stale: Vec<IkeSpi> = self.index.of_peer(fresh.peer, fresh.remote.ip()).iter().copied().filter(|k| *k != fresh_spi).collect();
        for k in stale {
            let Some(s) = self.sas.get_mut(&k) else { continue };
            if s.key_state.peer_id() != fresh.key_state.peer_id() || s.state == IkeState::Dead {
                continue;
            }
            info!(conn = %self.peers[s.peer].name, peer = %s.remote, "peer sent INITIAL_CONTACT: removing its older IKE SA {k} and its CHILD_SAs");
            let mut ctx = ctx!(self, now);
            s.die(&mut ctx, "replaced: the peer restarted (INITIAL_CONTACT)");
            self.index.touch(k, s);
        }
    }
}
