//! The Security Policy Database (RFC 4301 §4.4.1): ordered entries with
//! selectors, a direction and an action, looked up per packet through a
//! versioned flow cache.
//!
//! Order: lower `priority` first (Linux semantics), then the more specific
//! selector, then insertion order. The first entry whose direction and
//! selectors match decides (RFC 4301 §4.4.1: the SPD is ordered, first match
//! wins). With no match the SPD's default verdict applies (`Bypass` unless set,
//! like Linux without policies; RFC 4301's strict default is `Discard`).
//!
//! Flow cache: every decision is cached per 5-tuple + direction, stamped with
//! the SPD generation (bumped on any change, so a reload invalidates the whole
//! cache in O(1)), the deciding plugin's version, and the decision's TTL.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use crate::decider::{Decision, Direction, Flow, PolicyDecider, Verdict};
use crate::flow_cache::{FlowCache, FlowKey};
use crate::selector::Selector;
use crate::setkey::PolicySpec;

pub use crate::policy_id::PolicyId;

/// What an entry does with matching traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A fixed verdict (setkey's `none`, `discard`, `ipsec ...`).
    Verdict(Verdict),
    /// Ask the named [`PolicyDecider`] (a policy plugin).
    Delegate(String),
}

/// A policy to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPolicy {
    pub selector: Selector,
    pub dir: Direction,
    /// Lower wins (Linux); setkey's default is [`crate::setkey::PRIORITY_DEFAULT`].
    pub priority: u32,
    pub action: Action,
}

impl From<&PolicySpec> for NewPolicy {
    fn from(p: &PolicySpec) -> Self {
        NewPolicy {
            selector: p.selector.clone(),
            dir: p.dir,
            priority: p.priority,
            action: Action::Verdict(p.action.clone()),
        }
    }
}

/// One SPD entry.
#[derive(Debug, Clone)]
pub struct SpdEntry {
    pub id: PolicyId,
    pub selector: Selector,
    pub dir: Direction,
    pub priority: u32,
    pub action: Action,
    /// Packets decided by this entry (cache hits included).
    pub hits: u64,
    seq: u64,
}

impl SpdEntry {
    #[inline]
    fn matches(&self, flow: &Flow) -> bool {
        self.dir == flow.dir && self.selector.matches(flow)
    }

    fn order_key(&self) -> (u32, std::cmp::Reverse<u32>, u64) {
        (self.priority, std::cmp::Reverse(self.selector.specificity()), self.seq)
    }
}

impl fmt::Display for SpdEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = match self.dir {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::Fwd => "fwd",
        };
        write!(f, "{} {} -P {dir} prio {} ", self.id, self.selector, self.priority)?;
        match &self.action {
            Action::Verdict(v) => write!(f, "{}", VerdictDisplay(v))?,
            Action::Delegate(n) => write!(f, "delegate {n}")?,
        }
        write!(f, " (hits {})", self.hits)
    }
}

/// setkey-like rendering of a verdict.
pub struct VerdictDisplay<'a>(pub &'a Verdict);

impl fmt::Display for VerdictDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::decider::Level;
        match self.0 {
            Verdict::Bypass => write!(f, "none"),
            Verdict::Discard => write!(f, "discard"),
            Verdict::PrivateOrClear => write!(f, "private-or-clear"),
            Verdict::Private => write!(f, "private"),
            Verdict::Protect(reqs) => {
                write!(f, "ipsec")?;
                for r in reqs {
                    let (p, m) = (r.proto.name(), r.mode.name());
                    let t = r.tunnel.map(|(a, b)| format!("{a}-{b}")).unwrap_or_default();
                    let l = match r.level {
                        Level::Default => "default".to_string(),
                        Level::Use => "use".to_string(),
                        Level::Require => "require".to_string(),
                        Level::Unique(0) => "unique".to_string(),
                        Level::Unique(id) => format!("unique:{id}"),
                    };
                    write!(f, " {p}/{m}/{t}/{l}")?;
                }
                Ok(())
            }
        }
    }
}

/// The result of a lookup: which entry decided, what, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// `None` when no entry matched and the default verdict applied.
    pub entry_id: Option<PolicyId>,
    pub verdict: Verdict,
    /// The decider's SA key (flows with the same key share an SA); `None`
    /// for static entries (one SA per policy and request).
    pub sa_key: Option<u64>,
    /// Name of the decider that was consulted, if any.
    pub decider: Option<String>,
    pub explanation: String,
}

/// What `esprit policy test` prints: the decision and the entries it beat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub lookup: Lookup,
    /// Other entries that also match the flow but lost on order (priority,
    /// then specificity, then age).
    pub shadowed: Vec<PolicyId>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.lookup;
        match l.entry_id {
            Some(id) => write!(f, "policy {id}")?,
            None => write!(f, "no policy")?,
        }
        if let Some(d) = &l.decider {
            write!(f, " via decider '{d}'")?;
        }
        write!(f, ": {}", VerdictDisplay(&l.verdict))?;
        if let Some(k) = l.sa_key {
            write!(f, " (sa key {k:#x})")?;
        }
        write!(f, " — {}", l.explanation)?;
        if !self.shadowed.is_empty() {
            let s: Vec<String> = self.shadowed.iter().map(|i| i.to_string()).collect();
            write!(f, "; also matching, lower in order: {}", s.join(", "))?;
        }
        Ok(())
    }
}

/// Counters of the SPD.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpdStats {
    pub lookups: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub decider_calls: u64,
    pub cache_evictions: u64,
}

/// The decider that decided a cached flow, and its version then.
type DeciderStamp = (Arc<dyn PolicyDecider>, u64);

#[derive(Clone)]
struct Cached {
    generation: u64,
    expires: Option<Instant>,
    /// Index into `entries` (valid within one generation); `u32::MAX`: none.
    entry_idx: u32,
    /// The decider and its version when delegated.
    decider: Option<DeciderStamp>,
    lookup: Arc<Lookup>,
    /// What the Sadb resolved this flow to, stamped with the SAD generation.
    memo: Option<Memo>,
}

/// A flow's outbound resolution memoized in its cache slot by [`crate::Sadb`]:
/// (SAD generation, result).
pub(crate) type Memo = (u64, crate::outbound::Outbound);

/// The SPD. Not `Sync` by itself: the daemon owns one per worker or puts it
/// behind a lock; lookups take `&mut self` to update the cache and counters.
pub struct Spd {
    entries: Vec<SpdEntry>,
    deciders: HashMap<String, Arc<dyn PolicyDecider>>,
    default: Verdict,
    generation: u64,
    next_id: u32,
    next_seq: u64,
    cache: FlowCache<Cached>,
    stats: SpdStats,
    last_purge: Option<Instant>,
}

impl fmt::Debug for Spd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spd")
            .field("entries", &self.entries)
            .field("deciders", &self.deciders.keys().collect::<Vec<_>>())
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// Least time between two sweeps of [`Spd::purge_expired`].
pub const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Default flow-cache size.
pub const DEFAULT_CACHE_CAPACITY: usize = 65_536;

impl Default for Spd {
    fn default() -> Self {
        Self::new()
    }
}

impl Spd {
    pub fn new() -> Self {
        Self::with_cache_capacity(DEFAULT_CACHE_CAPACITY)
    }

    pub fn with_cache_capacity(capacity: usize) -> Self {
        Spd {
            entries: Vec::new(),
            deciders: HashMap::new(),
            default: Verdict::Bypass,
            generation: 1,
            next_id: 1,
            next_seq: 0,
            cache: FlowCache::new(capacity),
            stats: SpdStats::default(),
            last_purge: None,
        }
    }

    fn bump(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        // Stale slots are never read (generation mismatch); dropping them now
        // frees their memory early and keeps the FIFO short.
        self.cache.clear();
    }

    /// The verdict for flows no entry matches.
    pub fn set_default(&mut self, v: Verdict) {
        self.default = v;
        self.bump();
    }

    /// Adds an entry; returns its id.
    pub fn insert(&mut self, p: NewPolicy) -> PolicyId {
        let id = PolicyId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let e = SpdEntry {
            id,
            selector: p.selector,
            dir: p.dir,
            priority: p.priority,
            action: p.action,
            hits: 0,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        let k = e.order_key();
        let at = self.entries.partition_point(|x| x.order_key() < k);
        self.entries.insert(at, e);
        self.bump();
        id
    }

    /// Removes an entry.
    pub fn remove(&mut self, id: PolicyId) -> Option<SpdEntry> {
        let i = self.entries.iter().position(|e| e.id == id)?;
        let e = self.entries.remove(i);
        self.bump();
        Some(e)
    }

    /// Removes all entries (`spdflush`).
    pub fn flush(&mut self) {
        self.entries.clear();
        self.bump();
    }

    /// Installs or replaces a decider (by its name).
    pub fn set_decider(&mut self, d: Arc<dyn PolicyDecider>) {
        self.deciders.insert(d.name().to_string(), d);
        self.bump();
    }

    pub fn remove_decider(&mut self, name: &str) -> bool {
        let r = self.deciders.remove(name).is_some();
        self.bump();
        r
    }

    /// Entries in decision order (what `policy list` shows).
    pub fn entries(&self) -> &[SpdEntry] {
        &self.entries
    }

    pub fn get(&self, id: PolicyId) -> Option<&SpdEntry> {
        self.entries.iter().find(|e| e.id == id)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Changes whenever entries, deciders or the default change.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn stats(&self) -> SpdStats {
        SpdStats { cache_evictions: self.cache.evictions(), ..self.stats }
    }

    /// Number of cached flows.
    pub fn cached_flows(&self) -> usize {
        self.cache.len()
    }

    /// Decides a flow: O(1) on a valid cache hit, a scan of the ordered
    /// entries (and maybe a decider call) on a miss.
    #[inline]
    pub fn lookup(&mut self, flow: &Flow, now: Instant) -> Arc<Lookup> {
        self.lookup_memo(flow, now).0
    }

    /// [`Spd::lookup`] plus the memo stored in the flow's cache slot.
    #[inline]
    pub(crate) fn lookup_memo(&mut self, flow: &Flow, now: Instant) -> (Arc<Lookup>, Option<Memo>) {
        self.stats.lookups += 1;
        let key = FlowKey::from(flow);
        if let Some(c) = self.cache.get_mut(&key) {
            let valid = c.generation == self.generation
                && c.expires.is_none_or(|e| now < e)
                && c.decider.as_ref().is_none_or(|(d, v)| d.version() == *v);
            if valid {
                self.stats.cache_hits += 1;
                if let Some(e) = self.entries.get_mut(c.entry_idx as usize) {
                    e.hits += 1;
                }
                return (Arc::clone(&c.lookup), c.memo);
            }
        }
        (self.lookup_miss(key, flow, now), None)
    }

    #[cold]
    fn lookup_miss(&mut self, key: FlowKey, flow: &Flow, now: Instant) -> Arc<Lookup> {
        self.stats.cache_misses += 1;
        let idx = self.entries.iter().position(|e| e.matches(flow));
        let (lookup, decider, ttl) = self.decide(idx, flow);
        if decider.is_some() {
            self.stats.decider_calls += 1;
        }
        if let Some(i) = idx {
            self.entries[i].hits += 1;
        }
        let lookup = Arc::new(lookup);
        let expires = match ttl {
            Cache::Forever => None,
            Cache::For(d) => now.checked_add(d),
            Cache::Never => return lookup,
        };
        self.cache.insert(
            key,
            Cached {
                generation: self.generation,
                expires,
                entry_idx: idx.map_or(u32::MAX, |i| i as u32),
                decider,
                lookup: Arc::clone(&lookup),
                memo: None,
            },
        );
        lookup
    }

    /// The decision for entry `idx` (or the default), without caching.
    fn decide(
        &self,
        idx: Option<usize>,
        flow: &Flow,
    ) -> (Lookup, Option<DeciderStamp>, Cache) {
        let Some(i) = idx else {
            let l = Lookup {
                entry_id: None,
                verdict: self.default.clone(),
                sa_key: None,
                decider: None,
                explanation: "no SPD entry matches; the SPD's default verdict applies".into(),
            };
            return (l, None, Cache::Forever);
        };
        let e = &self.entries[i];
        match &e.action {
            Action::Verdict(v) => {
                let l = Lookup {
                    entry_id: Some(e.id),
                    verdict: v.clone(),
                    sa_key: None,
                    decider: None,
                    explanation: format!("matches {} {} (priority {})", e.id, e.selector, e.priority),
                };
                (l, None, Cache::Forever)
            }
            Action::Delegate(name) => match self.deciders.get(name) {
                None => {
                    let l = Lookup {
                        entry_id: Some(e.id),
                        verdict: Verdict::Discard,
                        sa_key: None,
                        decider: Some(name.clone()),
                        explanation: format!(
                            "matches {} which delegates to '{name}', but no such decider is loaded: failing closed",
                            e.id
                        ),
                    };
                    // Re-decided once the decider appears (set_decider bumps the generation).
                    (l, None, Cache::Forever)
                }
                Some(d) => {
                    let version = d.version();
                    let Decision { verdict, cache_ttl, sa_key, explanation } = d.decide(flow);
                    let l = if matches!(&verdict, Verdict::Protect(r) if r.is_empty()) {
                        // Deciders must not return this (the plugin host
                        // refuses it as a fault); if one does, fail closed.
                        Lookup {
                            entry_id: Some(e.id),
                            verdict: Verdict::Discard,
                            sa_key: None,
                            decider: Some(name.clone()),
                            explanation: format!(
                                "matches {} which delegates to '{name}', which answered protect with no SA request: failing closed",
                                e.id
                            ),
                        }
                    } else {
                        Lookup {
                            entry_id: Some(e.id),
                            verdict,
                            sa_key,
                            decider: Some(name.clone()),
                            explanation: format!("matches {} which delegates to '{name}': {explanation}", e.id),
                        }
                    };
                    let ttl = match cache_ttl {
                        None => Cache::Forever,
                        Some(d) if d.is_zero() => Cache::Never,
                        Some(d) => Cache::For(d),
                    };
                    (l, Some((Arc::clone(d), version)), ttl)
                }
            },
        }
    }

    /// Drops cached decisions that can no longer be used (TTL passed, or the
    /// deciding plugin changed version), so their memory is released without
    /// waiting for the flow to come back or for FIFO eviction. O(cached
    /// flows); does nothing if the last sweep was less than
    /// [`PURGE_INTERVAL`] ago. Returns how many were dropped.
    pub fn purge_expired(&mut self, now: Instant) -> usize {
        if self.last_purge.is_some_and(|t| now.saturating_duration_since(t) < PURGE_INTERVAL) {
            return 0;
        }
        self.last_purge = Some(now);
        let generation = self.generation;
        self.cache.retain(|c| {
            c.generation == generation
                && c.expires.is_none_or(|e| now < e)
                && c.decider.as_ref().is_none_or(|(d, v)| d.version() == *v)
        })
    }

    /// Stores a memo in the flow's cache slot (if the flow is cached).
    pub(crate) fn set_memo(&mut self, flow: &Flow, memo: Memo) {
        if let Some(c) = self.cache.get_mut(&FlowKey::from(flow)) {
            c.memo = Some(memo);
        }
    }

    /// Which entry (and decider) decides `flow`, and why; bypasses the cache
    /// and touches no counter (a decider is consulted if one is named).
    pub fn explain(&self, flow: &Flow) -> Explanation {
        let mut matching = self.entries.iter().enumerate().filter(|(_, e)| e.matches(flow));
        let idx = matching.next().map(|(i, _)| i);
        let shadowed = matching.map(|(_, e)| e.id).collect();
        let (lookup, _, _) = self.decide(idx, flow);
        Explanation { lookup, shadowed }
    }
}

enum Cache {
    Forever,
    For(std::time::Duration),
    Never,
}

#[cfg(test)]
mod tests;
