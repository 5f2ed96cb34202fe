//! The Security Association Database (RFC 4301 §4.4.2): SAs indexed for
//! inbound processing by (SPI, protocol, destination) (RFC 4301 §4.1, RFC 4303
//! §2.1) and for outbound processing by the policy request they serve, with
//! soft/hard lifetimes in time, bytes and packets (RFC 4301 §4.4.2.1).
//!
//! `Sad<S>` is generic over the engine's per-SA state (keys, replay window,
//! sequence numbers), so this crate does not depend on the ESP engine. No
//! clock is read here: every function that needs the time takes `now`.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::time::Instant;

use crate::decider::{Flow, IpsecMode, IpsecProto, Level, SaRequest, Spi};
use crate::lifetime::{Expiry, LimitKind, Lifetimes};
use crate::selector::Selector;
use crate::policy_id::PolicyId;

/// Handle of an installed SA: slot index and generation, so a handle of a
/// removed SA never finds a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SaHandle(u64);

impl SaHandle {
    pub fn raw(self) -> u64 {
        self.0
    }
}

/// How inbound packets find their SA (RFC 4301 §4.1: SPI, plus protocol and
/// destination address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InboundKey {
    pub spi: Spi,
    pub proto: IpsecProto,
    pub dst: IpAddr,
}

/// Binds an outbound SA to one request of one policy, optionally for one SA
/// key chosen by a policy decider (IKE installs SAs with this binding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutboundKey {
    pub policy: PolicyId,
    /// Index of the request in the policy's `Protect` list.
    pub request: u8,
    pub sa_key: Option<u64>,
}

/// What the SAD knows about an SA besides the engine state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaInfo {
    pub spi: Spi,
    pub proto: IpsecProto,
    /// `None` = any (setkey `-m any`).
    pub mode: Option<IpsecMode>,
    /// Outer source and destination.
    pub src: IpAddr,
    pub dst: IpAddr,
    /// setkey `-u` / IKE reqid, matched by `unique:ID` requests.
    pub reqid: Option<u32>,
    pub lifetimes: Lifetimes,
    /// Traffic selectors negotiated for this SA (IKE), in the direction of
    /// the SA's packets; decrypted packets must match them. `None`: checked
    /// against the inbound SPD only.
    pub selector: Option<Selector>,
    /// Outbound binding; `None` for manually keyed SAs, which are found by
    /// their addresses like Linux does.
    pub bind: Option<OutboundKey>,
}

impl SaInfo {
    pub fn inbound_key(&self) -> InboundKey {
        InboundKey { spi: self.spi, proto: self.proto, dst: self.dst }
    }
}

/// Usage counters of one SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaCounters {
    pub created: Instant,
    pub bytes: u64,
    pub packets: u64,
    pub last_used: Option<Instant>,
}

/// One installed SA.
#[derive(Debug)]
pub struct SadEntry<S> {
    pub info: SaInfo,
    pub state: S,
    pub counters: SaCounters,
    soft_fired: bool,
    /// The hard limit that was reached, if any.
    hard: Option<LimitKind>,
}

impl<S> SadEntry<S> {
    /// Whether a hard limit was reached (the SA must not be used any more).
    pub fn is_expired(&self) -> bool {
        self.hard.is_some()
    }
}

/// A soft or hard lifetime was reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifetimeEvent {
    pub handle: SaHandle,
    pub expiry: Expiry,
    pub limit: LimitKind,
    pub spi: Spi,
    pub proto: IpsecProto,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub bind: Option<OutboundKey>,
}

/// SAD errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SadError {
    #[error("an SA with SPI {spi:#010x} for {} to {dst} already exists", proto.name())]
    DuplicateSpi { spi: Spi, proto: IpsecProto, dst: IpAddr },
    #[error("no SA with SPI {spi:#010x} for {} to {dst}", proto.name())]
    NoSuchSa { spi: Spi, proto: IpsecProto, dst: IpAddr },
    #[error("SA handle {0:?} is not installed")]
    NoSuchHandle(SaHandle),
    #[error("SA with SPI {spi:#010x} reached its hard lifetime ({limit:?})")]
    Expired { spi: Spi, limit: LimitKind },
    #[error("SA with SPI {spi:#010x}: source {src} and destination {dst} are of different address families")]
    MixedFamilies { spi: Spi, src: IpAddr, dst: IpAddr },
}

/// The SAD.
pub struct Sad<S> {
    entries: slab::Slab<SadEntry<S>>,
    inbound: HashMap<InboundKey, SaHandle, foldhash::fast::RandomState>,
    by_addr: HashMap<(IpsecProto, IpAddr, IpAddr), Vec<SaHandle>, foldhash::fast::RandomState>,
    bound: HashMap<OutboundKey, SaHandle, foldhash::fast::RandomState>,
    deadlines: BTreeSet<(Instant, SaHandle, bool)>, // bool: hard
    pending: Vec<LifetimeEvent>,
    /// Bumped whenever the set of usable SAs changes (insert, remove, flush,
    /// hard expiry), so memoized outbound resolutions go stale.
    generation: u64,
}

impl<S> fmt::Debug for Sad<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sad").field("len", &self.entries.len()).finish_non_exhaustive()
    }
}

impl<S> Default for Sad<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Sad<S> {
    pub fn new() -> Self {
        Sad {
            entries: slab::Slab::new(),
            inbound: HashMap::default(),
            by_addr: HashMap::default(),
            bound: HashMap::default(),
            deadlines: BTreeSet::new(),
            pending: Vec::new(),
            generation: 1,
        }
    }

    /// Installs an SA created at `now`. A binding replaces an older SA's
    /// binding for the same key (rekey: the newest SA is used outbound).
    pub fn insert(&mut self, info: SaInfo, state: S, now: Instant) -> Result<SaHandle, SadError> {
        if info.src.is_ipv4() != info.dst.is_ipv4() {
            return Err(SadError::MixedFamilies { spi: info.spi, src: info.src, dst: info.dst });
        }
        let ik = info.inbound_key();
        if self.inbound.contains_key(&ik) {
            return Err(SadError::DuplicateSpi { spi: info.spi, proto: info.proto, dst: info.dst });
        }
        let (ak, bind, lt) = ((info.proto, info.src, info.dst), info.bind, info.lifetimes);
        let counters = SaCounters { created: now, bytes: 0, packets: 0, last_used: None };
        self.generation += 1;
        let h = self.entries.insert(SadEntry { info, state, counters, soft_fired: false, hard: None });
        self.inbound.insert(ik, h);
        self.by_addr.entry(ak).or_default().push(h);
        if let Some(b) = bind {
            self.bound.insert(b, h);
        }
        if let Some(t) = lt.soft.time.and_then(|d| now.checked_add(d)) {
            self.deadlines.insert((t, h, false));
        }
        if let Some(t) = lt.hard.time.and_then(|d| now.checked_add(d)) {
            self.deadlines.insert((t, h, true));
        }
        Ok(h)
    }

    /// Removes an SA and all its index entries.
    pub fn remove(&mut self, h: SaHandle) -> Option<SadEntry<S>> {
        let e = self.entries.remove(h)?;
        self.generation += 1;
        let i = &e.info;
        self.inbound.remove(&i.inbound_key());
        let ak = (i.proto, i.src, i.dst);
        if let Some(v) = self.by_addr.get_mut(&ak) {
            v.retain(|x| *x != h);
            if v.is_empty() {
                self.by_addr.remove(&ak);
            }
        }
        if let Some(b) = i.bind {
            if self.bound.get(&b) == Some(&h) {
                self.bound.remove(&b);
            }
        }
        for hard in [false, true] {
            let lim = if hard { &i.lifetimes.hard } else { &i.lifetimes.soft };
            if let Some(t) = lim.time.and_then(|d| e.counters.created.checked_add(d)) {
                self.deadlines.remove(&(t, h, hard));
            }
        }
        Some(e)
    }

    /// Installs an SA like [`Sad::insert`], but its binding stays with
    /// the SA that has it now, until [`Sad::take_binding`]: meanwhile the
    /// new SA serves nothing outbound. IKE installs the outbound SA of a
    /// CHILD_SA rekey it answered this way (make-before-break, RFC 7296
    /// §2.8: the peer cannot receive on it yet).
    pub fn insert_standby(&mut self, mut info: SaInfo, state: S, now: Instant) -> Result<SaHandle, SadError> {
        let key = info.bind.take();
        let h = self.insert(info, state, now)?;
        if let Some(e) = self.entries.get_mut(h) {
            e.info.bind = key;
        }
        Ok(h)
    }

    /// Makes SA `h` the one its binding key serves (see
    /// [`Sad::insert_standby`]).
    pub fn take_binding(&mut self, h: SaHandle) -> Result<(), SadError> {
        let e = self.entries.get(h).ok_or(SadError::NoSuchHandle(h))?;
        if let Some(k) = e.info.bind {
            self.bound.insert(k, h);
            self.generation += 1;
        }
        Ok(())
    }

    /// Removes the SA with this SPI (`delete` in setkey / IKE DELETE).
    pub fn remove_by_spi(&mut self, spi: Spi, proto: IpsecProto, dst: IpAddr) -> Result<SadEntry<S>, SadError> {
        let h = self.inbound(spi, proto, dst).ok_or(SadError::NoSuchSa { spi, proto, dst })?;
        self.remove(h).ok_or(SadError::NoSuchHandle(h))
    }

    /// Removes every SA (`flush`).
    pub fn flush(&mut self) {
        self.generation += 1;
        self.entries.clear();
        self.inbound.clear();
        self.by_addr.clear();
        self.bound.clear();
        self.deadlines.clear();
        self.pending.clear();
    }

    /// The SA for an inbound packet.
    #[inline]
    pub fn inbound(&self, spi: Spi, proto: IpsecProto, dst: IpAddr) -> Option<SaHandle> {
        self.inbound.get(&InboundKey { spi, proto, dst }).copied()
    }

    #[inline]
    pub fn get(&self, h: SaHandle) -> Option<&SadEntry<S>> {
        self.entries.get(h)
    }

    #[inline]
    pub fn get_mut(&mut self, h: SaHandle) -> Option<&mut SadEntry<S>> {
        self.entries.get_mut(h)
    }

    /// The SA bound to this key by the key manager, if live.
    #[inline]
    pub fn bound(&self, key: &OutboundKey) -> Option<SaHandle> {
        let h = self.bound.get(key)?;
        self.entries.get(*h).is_some_and(|e| e.hard.is_none()).then_some(*h)
    }

    /// The SA serving request `index` of `policy` for `flow`: the bound SA if
    /// IKE installed one for (policy, request, sa_key), otherwise the newest
    /// live SA whose protocol, mode, endpoints (the tunnel endpoints, or the
    /// flow's addresses in transport mode) and `unique:ID` reqid fit.
    pub fn outbound(
        &self,
        policy: PolicyId,
        index: u8,
        req: &SaRequest,
        flow: &Flow,
        sa_key: Option<u64>,
    ) -> Option<SaHandle> {
        if let Some(h) = self.bound(&OutboundKey { policy, request: index, sa_key }) {
            return Some(h);
        }
        let (src, dst) = req.tunnel.unwrap_or((flow.src, flow.dst));
        let cands = self.by_addr.get(&(req.proto, src, dst))?;
        cands.iter().rev().copied().find(|h| {
            self.entries.get(*h).is_some_and(|e| {
                e.hard.is_none()
                    // Manually keyed SAs, and a key manager's current SA for a
                    // binding without an SA key (so a plugin's protect template
                    // between the same endpoints uses the IKE SA, the newest
                    // after a rekey). SAs bound to an SA key (per-port, per-flow
                    // selectors) serve only their binding.
                    && e.info.bind.is_none_or(|b| b.sa_key.is_none() && self.bound.get(&b) == Some(h))
                    && e.info.mode.is_none_or(|m| m == req.mode)
                    && match req.level {
                        Level::Unique(id) if id != 0 => e.info.reqid == Some(id),
                        _ => true,
                    }
            })
        })
    }

    /// Counts one packet of `bytes` through the SA. Fails once a hard volume
    /// limit is reached (the packet must then be dropped); soft and hard
    /// crossings are reported by the next [`Sad::expire`].
    #[inline]
    pub fn account(&mut self, h: SaHandle, bytes: u64, now: Instant) -> Result<(), SadError> {
        let e = self.entries.get_mut(h).ok_or(SadError::NoSuchHandle(h))?;
        if let Some(limit) = e.hard {
            return Err(SadError::Expired { spi: e.info.spi, limit });
        }
        let c = &mut e.counters;
        c.bytes = c.bytes.saturating_add(bytes);
        c.packets = c.packets.saturating_add(1);
        c.last_used = Some(now);
        let lt = e.info.lifetimes;
        if !e.soft_fired {
            if let Some(limit) = lt.soft.volume_reached(c.bytes, c.packets) {
                e.soft_fired = true;
                self.pending.push(event(h, &e.info, Expiry::Soft, limit));
            }
        }
        if let Some(limit) = lt.hard.volume_reached(c.bytes, c.packets) {
            e.hard = Some(limit);
            self.generation += 1;
            self.pending.push(event(h, &e.info, Expiry::Hard, limit));
            // Like Linux, the packet that reaches the limit is the last one sent.
        }
        Ok(())
    }

    /// Lifetime events due at `now`: time limits reached and the volume limits
    /// crossed since the last call. SAs past a hard limit are removed.
    pub fn expire(&mut self, now: Instant) -> Vec<LifetimeEvent> {
        let mut out = std::mem::take(&mut self.pending);
        while let Some(&(t, h, hard)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            let Some(e) = self.entries.get_mut(h) else { continue };
            if hard {
                if e.hard.is_none() {
                    e.hard = Some(LimitKind::Time);
                    self.generation += 1;
                    out.push(event(h, &e.info, Expiry::Hard, LimitKind::Time));
                }
            } else if !e.soft_fired && e.hard.is_none() {
                e.soft_fired = true;
                out.push(event(h, &e.info, Expiry::Soft, LimitKind::Time));
            }
        }
        for ev in &out {
            if ev.expiry == Expiry::Hard {
                self.remove(ev.handle);
            }
        }
        out
    }

    /// When [`Sad::expire`] next has time-based work (for the event loop's timer).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|d| d.0)
    }

    /// Changes whenever the set of usable SAs changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// All SAs (unordered).
    pub fn iter(&self) -> impl Iterator<Item = (SaHandle, &SadEntry<S>)> {
        self.entries.iter()
    }
}

fn event(h: SaHandle, i: &SaInfo, expiry: Expiry, limit: LimitKind) -> LifetimeEvent {
    LifetimeEvent {
        handle: h,
        expiry,
        limit,
        spi: i.spi,
        proto: i.proto,
        src: i.src,
        dst: i.dst,
        bind: i.bind,
    }
}

mod slab;

#[cfg(test)]
mod tests;
