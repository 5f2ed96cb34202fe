//! Inbound enforcement (RFC 4301 §5.2): a cleartext packet must not match a
//! policy that requires protection (the seed's "a peer that suddenly sends
//! plain IP is dropped"), and a decrypted packet must be one its SAs may carry
//! (RFC 4301 §5.2 step 4: the inner headers are checked against the SA's
//! selectors / the inbound SPD).

use std::time::Instant;

use crate::decider::{Direction, Flow, IpsecMode, Level, SaRequest, Spi, Verdict};
use crate::sad::{SaHandle, SadEntry};
use crate::sadb::Sadb;

pub use crate::inbound::{InboundDrop, InboundStats};

impl<S> Sadb<S> {
    /// Checks a packet that arrived without IPsec (`flow.dir` is `In`, or
    /// `Fwd` for forwarded traffic). Dropped if its policy discards it or
    /// requires protection at level default/require/unique (`use` allows
    /// cleartext, as does `private-or-clear`).
    pub fn check_inbound_clear(&mut self, flow: &Flow, now: Instant) -> Result<(), InboundDrop> {
        let l = self.spd_mut().lookup(flow, now);
        let r = match &l.verdict {
            Verdict::Bypass | Verdict::PrivateOrClear => Ok(()),
            Verdict::Discard => Err(InboundDrop::PolicyDiscard { policy: l.entry_id }),
            Verdict::Private => match l.entry_id {
                Some(policy) => Err(InboundDrop::ClearOnProtectedFlow { policy }),
                None => Err(InboundDrop::PolicyDiscard { policy: None }),
            },
            // An empty protect list requires protection it cannot have: drop.
            Verdict::Protect(reqs) if reqs.is_empty() => Err(InboundDrop::PolicyDiscard { policy: l.entry_id }),
            Verdict::Protect(reqs) => match (reqs.iter().all(|r| r.level == Level::Use), l.entry_id) {
                (true, _) => Ok(()),
                (false, Some(policy)) => Err(InboundDrop::ClearOnProtectedFlow { policy }),
                (false, None) => Err(InboundDrop::PolicyDiscard { policy: None }),
            },
        };
        match &r {
            Ok(()) => self.in_stats.clear_accepted += 1,
            Err(d) => self.in_stats.count(d),
        }
        r
    }

    /// Checks a packet after decapsulation through `sas` (in the order they
    /// were removed, outermost first; one handle for a single SA). `flow` is
    /// the inner packet's. Dropped when
    /// * an SA carries negotiated selectors the flow does not match;
    /// * the inbound policy for the flow discards it;
    /// * the policy requires a request (not `use`) that none of the SAs fits
    ///   (protocol, mode, tunnel endpoints, or for transport mode the flow's
    ///   own addresses, and `unique:ID`);
    /// * a tunnel-mode SA is not one the policy asks for — so a peer cannot
    ///   use its tunnel to inject traffic for addresses it does not own
    ///   (Linux does the same).
    pub fn check_inbound_decrypted(
        &mut self,
        sas: &[SaHandle],
        flow: &Flow,
        now: Instant,
    ) -> Result<(), InboundDrop> {
        let r = self.inbound_decrypted(sas, flow, now);
        match &r {
            Ok(()) => self.in_stats.protected_accepted += 1,
            Err(d) => self.in_stats.count(d),
        }
        r
    }

    /// [`Sadb::check_inbound_decrypted`] for a packet that may be for this
    /// host (`in` policies) or routed on (`fwd` policies), when the caller
    /// cannot tell: accepted if either direction accepts; counted once, and
    /// the `in` verdict's reason is returned when both refuse.
    pub fn check_inbound_decrypted_in_or_fwd(
        &mut self,
        sas: &[SaHandle],
        flow: &Flow,
        now: Instant,
    ) -> Result<(), InboundDrop> {
        let as_in = Flow { dir: Direction::In, ..flow.clone() };
        let mut r = self.inbound_decrypted(sas, &as_in, now);
        if r.is_err() {
            let as_fwd = Flow { dir: Direction::Fwd, ..as_in };
            if self.inbound_decrypted(sas, &as_fwd, now).is_ok() {
                r = Ok(());
            }
        }
        match &r {
            Ok(()) => self.in_stats.protected_accepted += 1,
            Err(d) => self.in_stats.count(d),
        }
        r
    }

    fn inbound_decrypted(&mut self, sas: &[SaHandle], flow: &Flow, now: Instant) -> Result<(), InboundDrop> {
        let mut first_spi = Spi(0);
        for (i, h) in sas.iter().enumerate() {
            let e = self.sad().get(*h).ok_or(InboundDrop::UnknownSa)?;
            if i == 0 {
                first_spi = e.info.spi;
            }
            if let Some(sel) = &e.info.selector {
                if !sel.matches(flow) {
                    return Err(InboundDrop::SelectorMismatch { spi: e.info.spi, policy: None });
                }
            }
        }
        let l = self.spd_mut().lookup(flow, now);
        let policy = l.entry_id;
        let reqs: &[SaRequest] = match &l.verdict {
            Verdict::Discard => return Err(InboundDrop::PolicyDiscard { policy }),
            Verdict::Protect(reqs) if reqs.is_empty() => return Err(InboundDrop::PolicyDiscard { policy }),
            Verdict::Protect(reqs) => reqs,
            Verdict::Bypass | Verdict::Private | Verdict::PrivateOrClear => &[],
        };
        // The SAs' entries, looked up again per use: no per-packet allocation.
        let sad = self.sad();
        let entries = || sas.iter().filter_map(|h| sad.get(*h));
        let fits = |e: &SadEntry<S>, r: &SaRequest| {
            let i = &e.info;
            i.proto == r.proto
                && i.mode.is_none_or(|m| m == r.mode)
                && match r.tunnel {
                    Some((a, b)) => i.src == a && i.dst == b,
                    None => i.src == flow.src && i.dst == flow.dst,
                }
                && match r.level {
                    Level::Unique(id) if id != 0 => i.reqid == Some(id),
                    _ => true,
                }
        };
        for r in reqs.iter().filter(|r| r.level != Level::Use) {
            if !entries().any(|e| fits(e, r)) {
                return Err(InboundDrop::SelectorMismatch { spi: first_spi, policy });
            }
        }
        for e in entries() {
            if e.info.mode == Some(IpsecMode::Tunnel) && !reqs.iter().any(|r| fits(e, r)) {
                return Err(InboundDrop::SelectorMismatch { spi: e.info.spi, policy });
            }
            if e.info.mode == Some(IpsecMode::Transport)
                && reqs.is_empty()
                && (e.info.src != flow.src || e.info.dst != flow.dst)
            {
                return Err(InboundDrop::SelectorMismatch { spi: e.info.spi, policy });
            }
        }
        Ok(())
    }

    pub fn inbound_stats(&self) -> InboundStats {
        self.in_stats
    }
}
