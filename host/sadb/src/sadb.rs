//! [`Sadb`]: the SPD and the SAD together, with ACQUIRE, outbound SA
//! resolution, and [`SadbControl`], the one narrow trait through which SAs
//! and policies are installed and removed (setkey files now, IKE later).

use std::fmt;
use std::net::IpAddr;
use std::time::Instant;

use crate::acquire::{Acquire, AcquireStats, AcquireTable};
use crate::decider::{Flow, IpsecProto, Level, Spi, Verdict};
use crate::sad::{LifetimeEvent, OutboundKey, SaHandle, SaInfo, Sad, SadError};
use crate::setkey::{SaSpec, Span, Statement};
use crate::policy_id::PolicyId;
use crate::spd::{NewPolicy, Spd};

/// Errors of [`SadbControl`] and [`Sadb::from_setkey`].
#[derive(Debug, thiserror::Error)]
pub enum SadbError {
    #[error(transparent)]
    Sad(#[from] SadError),
    #[error("no policy {0}")]
    NoSuchPolicy(PolicyId),
    /// A setkey statement could not be applied (`line:col: why`); `index`
    /// is its position in the statements given, so a caller that joined
    /// several files can name the right one.
    #[error("{span}: {message}")]
    Statement { index: usize, span: Span, message: String },
}

/// Installs and removes SAs and policies. Implemented by [`Sadb`]; the IKE
/// daemon drives the data plane only through this trait.
pub trait SadbControl<S> {
    /// Installs an SA created at `now`; fails on a duplicate (SPI, proto, dst).
    fn add_sa(&mut self, info: SaInfo, state: S, now: Instant) -> Result<SaHandle, SadbError>;
    /// Removes the SA with this SPI and returns its engine state.
    fn delete_sa(&mut self, spi: Spi, proto: IpsecProto, dst: IpAddr) -> Result<S, SadbError>;
    /// Adds a policy; returns its stable id.
    fn add_policy(&mut self, policy: NewPolicy) -> Result<PolicyId, SadbError>;
    /// Removes a policy.
    fn delete_policy(&mut self, id: PolicyId) -> Result<(), SadbError>;
}

pub use crate::outbound::{Bundle, Outbound, MAX_BUNDLE};

/// Counters of outbound decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundStats {
    pub bypass: u64,
    pub discard: u64,
    pub protect: u64,
    /// Packets dropped because their SA is being acquired.
    pub no_sa: u64,
    /// Policies with more than [`MAX_BUNDLE`] requests (dropped).
    pub bundle_too_long: u64,
    /// `protect` verdicts with no SA request (dropped: an empty protect
    /// list never means bypass).
    pub empty_protect: u64,
}

/// The SPD, the SAD and the pending ACQUIREs of one data plane.
pub struct Sadb<S> {
    spd: Spd,
    sad: Sad<S>,
    acquires: AcquireTable,
    pub(crate) out_stats: OutboundStats,
    pub(crate) in_stats: crate::inbound::InboundStats,
}

impl<S> fmt::Debug for Sadb<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sadb").field("spd", &self.spd).field("sad", &self.sad).finish_non_exhaustive()
    }
}

impl<S> Default for Sadb<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl From<&SaSpec> for SaInfo {
    fn from(s: &SaSpec) -> Self {
        SaInfo {
            spi: s.spi,
            proto: s.proto,
            mode: s.mode,
            src: s.src,
            dst: s.dst,
            reqid: s.reqid,
            lifetimes: s.lifetimes,
            selector: None,
            bind: None,
        }
    }
}

impl<S> Sadb<S> {
    pub fn new() -> Self {
        Self::with_parts(Spd::new(), AcquireTable::default())
    }

    /// A Sadb with a configured SPD (cache size, default verdict, deciders)
    /// and ACQUIRE table (timeout).
    pub fn with_parts(spd: Spd, acquires: AcquireTable) -> Self {
        Sadb {
            spd,
            sad: Sad::new(),
            acquires,
            out_stats: OutboundStats::default(),
            in_stats: Default::default(),
        }
    }

    /// Applies setkey statements in order (`flush`, `spdflush`, `add`,
    /// `spdadd`) to a new Sadb; `make` builds the engine state of each `add`
    /// (e.g. `esprit_esp::Sa::new(spec.to_sa_config()?, provider)`).
    /// All or nothing: on error no Sadb is returned.
    pub fn from_setkey<E: fmt::Display>(
        statements: &[Statement],
        now: Instant,
        make: impl FnMut(&SaSpec) -> Result<S, E>,
    ) -> Result<Self, SadbError> {
        let mut db = Sadb::new();
        db.apply_setkey(statements, now, make)?;
        Ok(db)
    }

    /// [`Sadb::from_setkey`] on an existing Sadb (not atomic: build a new
    /// one and swap it in for an all-or-nothing reload).
    pub fn apply_setkey<E: fmt::Display>(
        &mut self,
        statements: &[Statement],
        now: Instant,
        mut make: impl FnMut(&SaSpec) -> Result<S, E>,
    ) -> Result<(), SadbError> {
        for (index, st) in statements.iter().enumerate() {
            match st {
                Statement::Flush => {
                    self.sad.flush();
                }
                Statement::SpdFlush => {
                    self.spd.flush();
                    self.acquires.clear();
                }
                Statement::Add(spec) => {
                    let state = make(spec).map_err(|e| SadbError::Statement {
                        index,
                        span: spec.span,
                        message: format!("SA {:#x}: {e}", spec.spi),
                    })?;
                    self.add_sa(SaInfo::from(spec), state, now).map_err(|e| SadbError::Statement {
                        index,
                        span: spec.span,
                        message: e.to_string(),
                    })?;
                }
                Statement::SpdAdd(p) => {
                    self.add_policy(NewPolicy::from(p)).map_err(|e| SadbError::Statement {
                        index,
                        span: p.span,
                        message: e.to_string(),
                    })?;
                }
            }
        }
        Ok(())
    }

    pub fn spd(&self) -> &Spd {
        &self.spd
    }

    /// For deciders, the default verdict and direct inspection; policy
    /// changes should go through [`SadbControl`].
    pub fn spd_mut(&mut self) -> &mut Spd {
        &mut self.spd
    }

    pub fn sad(&self) -> &Sad<S> {
        &self.sad
    }

    /// The engine state of SAs (encapsulate/decapsulate) and `account`.
    pub fn sad_mut(&mut self) -> &mut Sad<S> {
        &mut self.sad
    }

    /// The next ACQUIRE for the key manager.
    pub fn poll_acquire(&mut self) -> Option<Acquire> {
        self.acquires.poll()
    }

    /// The key manager gave up on (or finished) an ACQUIRE.
    pub fn acquire_done(&mut self, policy: PolicyId, sa_key: Option<u64>) -> bool {
        self.acquires.resolve(policy, sa_key)
    }

    pub fn acquire_stats(&self) -> AcquireStats {
        self.acquires.stats()
    }

    pub fn pending_acquires(&self) -> usize {
        self.acquires.pending()
    }

    pub fn outbound_stats(&self) -> OutboundStats {
        self.out_stats
    }

    /// Lifetime events due at `now` (hard-expired SAs are removed); also
    /// releases cached flow decisions whose TTL passed (at most once a
    /// second, see [`Spd::purge_expired`]).
    pub fn expire(&mut self, now: Instant) -> Vec<LifetimeEvent> {
        self.spd.purge_expired(now);
        self.sad.expire(now)
    }

    /// Decides an outbound packet: SPD lookup (flow cache), then the SAs for
    /// each request. A missing SA for a `default|require|unique` request
    /// raises an ACQUIRE (deduplicated); a missing `use` SA is skipped.
    pub fn outbound(&mut self, flow: &Flow, now: Instant) -> Outbound {
        let (l, memo) = self.spd.lookup_memo(flow, now);
        let r = match memo {
            Some((g, r)) if g == self.sad.generation() => r,
            _ => {
                let r = self.resolve(&l, flow, now);
                if !matches!(r, Outbound::Acquiring { .. }) {
                    self.spd.set_memo(flow, (self.sad.generation(), r));
                }
                r
            }
        };
        match r {
            Outbound::Bypass { .. } => self.out_stats.bypass += 1,
            Outbound::Discard { .. } => self.out_stats.discard += 1,
            Outbound::Protect { .. } => self.out_stats.protect += 1,
            Outbound::Acquiring { .. } => self.out_stats.no_sa += 1,
        }
        r
    }

    /// The SAs for a looked-up flow (see [`Sadb::outbound`]).
    fn resolve(&mut self, l: &crate::spd::Lookup, flow: &Flow, now: Instant) -> Outbound {
        match (&l.verdict, l.entry_id) {
            (Verdict::Bypass, p) => Outbound::Bypass { policy: p },
            (Verdict::Discard, p) => Outbound::Discard { policy: p },
            (_, None) => Outbound::Discard { policy: None },
            (Verdict::Protect(reqs), Some(policy)) => {
                if reqs.is_empty() {
                    // Fail closed: nothing to protect with is not "clear".
                    self.out_stats.empty_protect += 1;
                    Outbound::Discard { policy: Some(policy) }
                } else if reqs.len() > MAX_BUNDLE {
                    self.out_stats.bundle_too_long += 1;
                    Outbound::Discard { policy: Some(policy) }
                } else {
                    let mut bundle: Option<Bundle> = None;
                    let mut missing = false;
                    let mut missing_required = false;
                    for (i, req) in reqs.iter().enumerate() {
                        match self.sad.outbound(policy, i as u8, req, flow, l.sa_key) {
                            Some(h) => bundle.get_or_insert_with(|| Bundle::new(h)).push(h),
                            None => {
                                missing = true;
                                missing_required |= req.level != Level::Use;
                            }
                        }
                    }
                    let raised = missing && self.raise(policy, flow, reqs.clone(), &l.verdict, l.sa_key, now);
                    match (missing_required, bundle) {
                        (true, _) => Outbound::Acquiring { policy, raised },
                        (false, Some(sas)) => Outbound::Protect { policy, sas },
                        (false, None) => Outbound::Bypass { policy: Some(policy) },
                    }
                }
            }
            (Verdict::Private | Verdict::PrivateOrClear, Some(policy)) => {
                // Opportunistic: only an SA the key manager bound to this
                // policy and SA key serves it.
                let key = OutboundKey { policy, request: 0, sa_key: l.sa_key };
                match self.sad.bound(&key) {
                    Some(h) => {
                        let mut b = Bundle::new(h);
                        b.push(h);
                        Outbound::Protect { policy, sas: b }
                    }
                    None => {
                        let raised = self.raise(policy, flow, Vec::new(), &l.verdict, l.sa_key, now);
                        Outbound::Acquiring { policy, raised }
                    }
                }
            }
        }
    }

    #[cold]
    fn raise(
        &mut self,
        policy: PolicyId,
        flow: &Flow,
        requests: Vec<crate::decider::SaRequest>,
        verdict: &Verdict,
        sa_key: Option<u64>,
        now: Instant,
    ) -> bool {
        let acq = Acquire { policy_id: policy, flow: flow.clone(), requests, verdict: verdict.clone(), sa_key };
        self.acquires.raise(acq, now)
    }
}

impl<S> SadbControl<S> for Sadb<S> {
    fn add_sa(&mut self, info: SaInfo, state: S, now: Instant) -> Result<SaHandle, SadbError> {
        let (proto, src, dst, bind) = (info.proto, info.src, info.dst, info.bind);
        let h = self.sad.insert(info, state, now)?;
        self.acquires.sa_installed(proto, src, dst);
        if let Some(b) = bind {
            self.acquires.resolve(b.policy, b.sa_key);
        }
        Ok(h)
    }

    fn delete_sa(&mut self, spi: Spi, proto: IpsecProto, dst: IpAddr) -> Result<S, SadbError> {
        Ok(self.sad.remove_by_spi(spi, proto, dst)?.state)
    }

    fn add_policy(&mut self, policy: NewPolicy) -> Result<PolicyId, SadbError> {
        Ok(self.spd.insert(policy))
    }

    fn delete_policy(&mut self, id: PolicyId) -> Result<(), SadbError> {
        self.spd.remove(id).ok_or(SadbError::NoSuchPolicy(id))?;
        self.acquires.policy_removed(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
