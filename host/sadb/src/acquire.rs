//! ACQUIRE (RFC 4301 §4.4.1 / RFC 2367 SADB_ACQUIRE): an outbound packet hit
//! a protect policy whose SA is missing, so the key manager (IKE) must
//! negotiate one. Requests are deduplicated per (policy, SA key) while one is
//! pending, so a burst of packets raises one ACQUIRE.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::decider::{Flow, IpsecProto, SaRequest, Verdict};
use crate::policy_id::PolicyId;

/// One request for the key manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acquire {
    pub policy_id: PolicyId,
    /// The packet's flow that triggered it (its addresses are the traffic
    /// selectors IKE proposes, RFC 7296 §2.9).
    pub flow: Flow,
    /// The SA requests of the policy (empty for opportunistic verdicts).
    pub requests: Vec<SaRequest>,
    /// The verdict that asked for protection (`Protect`, `Private`, `PrivateOrClear`).
    pub verdict: Verdict,
    pub sa_key: Option<u64>,
}

/// Counters of the ACQUIRE machinery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcquireStats {
    /// ACQUIREs raised.
    pub raised: u64,
    /// Packets that found an ACQUIRE already pending.
    pub suppressed: u64,
    /// Pending ACQUIREs that timed out without an SA.
    pub timed_out: u64,
}

#[derive(Debug)]
struct Pending {
    since: Instant,
    /// (protocol, outer src, outer dst) of the SAs that would satisfy it.
    endpoints: Vec<(IpsecProto, IpAddr, IpAddr)>,
}

/// Pending ACQUIREs and the queue of events for the key manager.
#[derive(Debug)]
pub struct AcquireTable {
    /// Keyed by policy, SA key and, for opportunistic verdicts (whose peer is
    /// the packet's destination), that destination.
    pending: HashMap<(PolicyId, Option<u64>, Option<IpAddr>), Pending>,
    queue: VecDeque<Acquire>,
    timeout: Duration,
    stats: AcquireStats,
}

/// How long an ACQUIRE stays pending before another packet may raise it again.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Bound on queued, not yet polled events (a stalled key manager cannot make
/// this grow without limit; the dropped ones count as suppressed).
pub const MAX_QUEUED_ACQUIRES: usize = 4096;

impl Default for AcquireTable {
    fn default() -> Self {
        Self::new(DEFAULT_ACQUIRE_TIMEOUT)
    }
}

impl AcquireTable {
    pub fn new(timeout: Duration) -> Self {
        AcquireTable { pending: HashMap::new(), queue: VecDeque::new(), timeout, stats: AcquireStats::default() }
    }

    /// Raises an ACQUIRE unless one is pending for (policy, sa_key) — and
    /// destination, for opportunistic verdicts: each host of an OE group is
    /// negotiated on its own; returns whether a new one was raised.
    pub fn raise(&mut self, acq: Acquire, now: Instant) -> bool {
        let opportunistic = matches!(acq.verdict, Verdict::Private | Verdict::PrivateOrClear);
        let key = (acq.policy_id, acq.sa_key, opportunistic.then_some(acq.flow.dst));
        if let Some(p) = self.pending.get(&key) {
            if now.saturating_duration_since(p.since) < self.timeout {
                self.stats.suppressed += 1;
                return false;
            }
            self.stats.timed_out += 1;
        }
        if self.queue.len() >= MAX_QUEUED_ACQUIRES {
            self.stats.suppressed += 1;
            return false;
        }
        let mut endpoints: Vec<_> = acq
            .requests
            .iter()
            .map(|r| {
                let (s, d) = r.tunnel.unwrap_or((acq.flow.src, acq.flow.dst));
                (r.proto, s, d)
            })
            .collect();
        if opportunistic {
            // Host to host: an ESP SA between the two ends serves it.
            endpoints.push((IpsecProto::Esp, acq.flow.src, acq.flow.dst));
        }
        self.pending.insert(key, Pending { since: now, endpoints });
        self.queue.push_back(acq);
        self.stats.raised += 1;
        true
    }

    /// The next ACQUIRE for the key manager.
    pub fn poll(&mut self) -> Option<Acquire> {
        self.queue.pop_front()
    }

    /// The key manager finished (or gave up on) this ACQUIRE.
    pub fn resolve(&mut self, policy: PolicyId, sa_key: Option<u64>) -> bool {
        let before = self.pending.len();
        self.pending.retain(|(p, k, _), _| !(*p == policy && *k == sa_key));
        self.pending.len() != before
    }

    /// An SA (proto, src → dst) was installed: pending ACQUIREs it serves end.
    pub fn sa_installed(&mut self, proto: IpsecProto, src: IpAddr, dst: IpAddr) {
        self.pending.retain(|_, p| !p.endpoints.contains(&(proto, src, dst)));
    }

    /// A policy went away: its pending ACQUIREs end.
    pub fn policy_removed(&mut self, policy: PolicyId) {
        self.pending.retain(|(p, _, _), _| *p != policy);
    }

    pub fn clear(&mut self) {
        self.pending.clear();
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn stats(&self) -> AcquireStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decider::{Direction, IpsecMode, Level};

    fn acq(policy: u32, sa_key: Option<u64>) -> Acquire {
        let req = SaRequest { proto: IpsecProto::Esp, mode: IpsecMode::Transport, tunnel: None, level: Level::Require };
        Acquire {
            policy_id: PolicyId(policy),
            flow: Flow {
                src: "192.168.0.1".parse().unwrap(),
                dst: "10.1.2.3".parse().unwrap(),
                proto: 6,
                src_port: 1,
                dst_port: 2,
                dir: Direction::Out,
                iface: None,
            },
            requests: vec![req.clone()],
            verdict: Verdict::Protect(vec![req]),
            sa_key,
        }
    }

    #[test]
    fn opportunistic_acquires_are_per_destination() {
        let mut t = AcquireTable::new(Duration::from_secs(10));
        let now = Instant::now();
        let oe = |dst: &str| {
            let mut a = acq(7, None);
            a.requests.clear();
            a.verdict = Verdict::PrivateOrClear;
            a.flow.dst = dst.parse().unwrap();
            a
        };
        assert!(t.raise(oe("10.1.2.3"), now));
        assert!(!t.raise(oe("10.1.2.3"), now), "same host: suppressed");
        assert!(t.raise(oe("10.1.2.4"), now), "another host of the group gets its own");
        t.sa_installed(IpsecProto::Esp, "192.168.0.1".parse().unwrap(), "10.1.2.3".parse().unwrap());
        assert_eq!(t.pending(), 1);
    }

    #[test]
    fn dedup_per_policy_and_sa_key_then_timeout() {
        let mut t = AcquireTable::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(t.raise(acq(1, None), t0));
        assert!(!t.raise(acq(1, None), t0 + Duration::from_secs(1)));
        assert!(t.raise(acq(1, Some(7)), t0));
        assert!(t.raise(acq(2, None), t0));
        assert_eq!(t.poll().map(|a| a.policy_id), Some(PolicyId(1)));
        assert_eq!(t.poll().map(|a| a.sa_key), Some(Some(7)));
        assert_eq!(t.poll().map(|a| a.policy_id), Some(PolicyId(2)));
        assert_eq!(t.poll(), None);
        assert!(t.raise(acq(1, None), t0 + Duration::from_secs(10)));
        assert_eq!(t.stats(), AcquireStats { raised: 4, suppressed: 1, timed_out: 1 });
    }

    #[test]
    fn installed_sa_resolved_or_policy_removal_ends_pending() {
        let mut t = AcquireTable::default();
        let now = Instant::now();
        t.raise(acq(1, None), now);
        t.raise(acq(2, Some(1)), now);
        t.raise(acq(3, None), now);
        assert_eq!(t.pending(), 3);
        t.sa_installed(IpsecProto::Ah, "192.168.0.1".parse().unwrap(), "10.1.2.3".parse().unwrap());
        assert_eq!(t.pending(), 3);
        t.policy_removed(PolicyId(3));
        assert!(t.resolve(PolicyId(2), Some(1)));
        assert!(!t.resolve(PolicyId(2), Some(1)));
        t.sa_installed(IpsecProto::Esp, "192.168.0.1".parse().unwrap(), "10.1.2.3".parse().unwrap());
        assert_eq!(t.pending(), 0);
        assert!(t.raise(acq(1, None), now));
    }

    #[test]
    fn queue_is_bounded() {
        let mut t = AcquireTable::default();
        let now = Instant::now();
        for p in 0..(MAX_QUEUED_ACQUIRES as u32 + 10) {
            t.raise(acq(p, None), now);
        }
        assert_eq!(t.stats().raised, MAX_QUEUED_ACQUIRES as u64);
        assert_eq!(t.stats().suppressed, 10);
    }
}
