//! Indexes beside the endpoint's IKE SA table, so that per-datagram and
//! per-timer work is O(log n) in the number of IKE SAs: a deadline index
//! (the SAD has the same), the half-open counts (global and per address,
//! for COOKIEs and limits, RFC 7296 §2.6), the SAs per (connection, peer
//! address), and responder SAs by the initiator's SPI (IKE_SA_INIT
//! retransmissions, §2.1). An SA whose state may have changed is marked
//! dirty and re-indexed once, in [`Index::sync`].
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::ike_sa::{IkeSa, IkeState};
use crate::types::{IkeSpi, Spi};

#[derive(Default)]
pub(crate) struct Index {
    deadlines: BTreeSet<(Instant, IkeSpi)>,
    /// SAs to re-index (each at most once: `IndexEntry::dirty`).
    dirty: Vec<IkeSpi>,
    half_open: usize,
    half_open_by_ip: HashMap<IpAddr, usize>,
    /// Half-open SAs by creation time, oldest first.
    half_open_order: BTreeSet<(Instant, IkeSpi)>,
    by_peer: HashMap<(usize, IpAddr), Vec<IkeSpi>>,
    by_init: HashMap<(IkeSpi, SocketAddr), IkeSpi>,
    /// CHILD_SAs (inbound SPI) that wait to send (responder make-before-break)
    /// and their IKE SA.
    deferred: HashMap<Spi, IkeSpi>,
}

impl Index {
    /// Queues `sa` for re-indexing.
    pub fn touch(&mut self, spi: IkeSpi, sa: &mut IkeSa) {
        if !sa.ix.dirty {
            sa.ix.dirty = true;
            self.dirty.push(spi);
        }
    }

    pub fn take_dirty(&mut self) -> Vec<IkeSpi> {
        std::mem::take(&mut self.dirty)
    }

    /// The earliest timer of any SA.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Removes and returns an SA whose timer is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<IkeSpi> {
        let (t, spi) = *self.deadlines.first()?;
        if t > now {
            return None;
        }
        self.deadlines.pop_first();
        Some(spi)
    }

    pub fn half_open(&self) -> usize {
        self.half_open
    }

    pub fn half_open_from(&self, ip: IpAddr) -> usize {
        self.half_open_by_ip.get(&ip).copied().unwrap_or(0)
    }

    /// The oldest SA still half-open (to evict under the global limit).
    pub fn oldest_half_open(&self) -> Option<IkeSpi> {
        self.half_open_order.first().map(|(_, s)| *s)
    }

    /// Live SAs of connection `peer` with this address (a few at most).
    pub fn of_peer(&self, peer: usize, ip: IpAddr) -> &[IkeSpi] {
        self.by_peer.get(&(peer, ip)).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every (connection, address) key of connection `peer` (operator
    /// commands by connection name).
    pub fn peer_keys(&self, peer: usize) -> impl Iterator<Item = &[IkeSpi]> {
        self.by_peer.iter().filter(move |((p, _), _)| *p == peer).map(|(_, v)| v.as_slice())
    }

    /// The responder SA created by the IKE_SA_INIT with this initiator SPI
    /// from this address.
    pub fn by_init(&self, spi_i: IkeSpi, remote: SocketAddr) -> Option<IkeSpi> {
        self.by_init.get(&(spi_i, remote)).copied()
    }

    /// Registers a responder SA under the IKE_SA_INIT that created it.
    pub fn set_init_key(&mut self, spi: IkeSpi, sa: &mut IkeSa) {
        let k = (sa.spi_i, sa.remote);
        self.by_init.insert(k, spi);
        sa.ix.init_key = Some(k);
    }

    /// The IKE SA of a CHILD_SA that waits to send.
    pub fn deferred(&self, spi_in: Spi) -> Option<IkeSpi> {
        self.deferred.get(&spi_in).copied()
    }

    /// Brings every index in line with `sa`'s state; a dead SA leaves them
    /// all. Returns whether the SA stays in the table.
    pub fn sync(&mut self, spi: IkeSpi, sa: &mut IkeSa) -> bool {
        sa.ix.dirty = false;
        let alive = sa.state != IkeState::Dead;
        let want = if alive { sa.next_timeout() } else { None };
        if sa.ix.sched != want {
            if let Some(t) = sa.ix.sched {
                self.deadlines.remove(&(t, spi));
            }
            if let Some(t) = want {
                self.deadlines.insert((t, spi));
            }
            sa.ix.sched = want;
        }
        let ho = (alive && !sa.initiator && sa.state == IkeState::HalfOpen).then(|| sa.remote.ip());
        if sa.ix.half_open_ip != ho {
            if let Some(ip) = sa.ix.half_open_ip {
                self.half_open -= 1;
                self.half_open_order.remove(&(sa.created, spi));
                if let Some(n) = self.half_open_by_ip.get_mut(&ip) {
                    *n -= 1;
                    if *n == 0 {
                        self.half_open_by_ip.remove(&ip);
                    }
                }
            }
            if let Some(ip) = ho {
                self.half_open += 1;
                *self.half_open_by_ip.entry(ip).or_default() += 1;
                self.half_open_order.insert((sa.created, spi));
            }
            sa.ix.half_open_ip = ho;
        }
        let pk = alive.then(|| (sa.peer, sa.remote.ip()));
        if sa.ix.peer_key != pk {
            if let Some(k) = sa.ix.peer_key {
                if let Some(v) = self.by_peer.get_mut(&k) {
                    v.retain(|x| *x != spi);
                    if v.is_empty() {
                        self.by_peer.remove(&k);
                    }
                }
            }
            if let Some(k) = pk {
                self.by_peer.entry(k).or_default().push(spi);
            }
            sa.ix.peer_key = pk;
        }
        for (child, waits) in sa.outbound_changes.drain(..) {
            if waits && alive {
                self.deferred.insert(child, spi);
            } else if self.deferred.get(&child) == Some(&spi) {
                self.deferred.remove(&child);
            }
        }
        if !alive {
            if let Some(k) = sa.ix.init_key.take() {
                if self.by_init.get(&k) == Some(&spi) {
                    self.by_init.remove(&k);
                }
            }
        }
        alive
    }
}
