//! Fault classification and counters: a plugin fault never reaches the SPD
//! as an error, it becomes the failure verdict and is counted here.
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What went wrong in one plugin call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// The per-call deadline passed (epoch interruption).
    Deadline,
    /// The plugin hit its memory cap.
    OutOfMemory,
    /// Any other trap (unreachable, out-of-bounds, a stubbed WASI call, ...).
    Trap,
    /// (Re-)instantiation or `init` failed.
    Instantiate,
    /// The plugin answered an ill-formed verdict (e.g. `protect` with no SA
    /// request, see [`crate::verdict_check`]).
    InvalidVerdict,
    /// The plugin is quarantined after repeated faults; it was not called.
    Quarantined,
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultKind::Deadline => "deadline exceeded",
            FaultKind::OutOfMemory => "out of memory",
            FaultKind::Trap => "trap",
            FaultKind::Instantiate => "instantiation failed",
            FaultKind::InvalidVerdict => "invalid verdict",
            FaultKind::Quarantined => "quarantined",
        })
    }
}

/// Classify an error returned by a wasmtime call.
pub fn classify(err: &wasmtime::Error) -> FaultKind {
    if let Some(trap) = err.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::Interrupt => FaultKind::Deadline,
            _ => FaultKind::Trap,
        };
    }
    let msg = format!("{err:#}");
    if msg.contains("growing memory") || msg.contains("memory growth failure") || msg.contains("memory minimum size") || msg.contains("exceeds memory limits") {
        FaultKind::OutOfMemory
    } else {
        FaultKind::Trap
    }
}

/// Counters of one plugin (all monotonic).
#[derive(Debug, Default)]
pub struct FaultCounters {
    pub(crate) calls: AtomicU64,
    pub(crate) deadline: AtomicU64,
    pub(crate) oom: AtomicU64,
    pub(crate) trap: AtomicU64,
    pub(crate) instantiate: AtomicU64,
    pub(crate) invalid_verdict: AtomicU64,
    pub(crate) quarantined_calls: AtomicU64,
    pub(crate) quarantines: AtomicU64,
    pub(crate) instantiations: AtomicU64,
    pub(crate) call_micros: AtomicU64,
}

/// A snapshot of [`FaultCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Decisions asked of this plugin.
    pub calls: u64,
    pub deadline: u64,
    pub oom: u64,
    pub trap: u64,
    pub instantiate: u64,
    /// Ill-formed verdicts refused (answered with the failure verdict).
    pub invalid_verdict: u64,
    /// Calls answered with the failure verdict without calling (quarantine).
    pub quarantined_calls: u64,
    /// Times the plugin was put in quarantine.
    pub quarantines: u64,
    /// Instances created (1 at load, +1 per re-instantiation after a fault).
    pub instantiations: u64,
    /// `host.log` lines dropped by the rate limit (not a fault).
    pub log_suppressed: u64,
    /// Wall-clock time spent in `calls`, in microseconds (instantiation
    /// after a fault included): the mean latency is this over `calls`.
    pub call_micros: u64,
}

impl FaultStats {
    /// All faults, quarantined calls excluded.
    pub fn faults(&self) -> u64 {
        self.deadline + self.oom + self.trap + self.instantiate + self.invalid_verdict
    }
}

impl FaultCounters {
    pub(crate) fn record(&self, kind: FaultKind) {
        let c = match kind {
            FaultKind::Deadline => &self.deadline,
            FaultKind::OutOfMemory => &self.oom,
            FaultKind::Trap => &self.trap,
            FaultKind::Instantiate => &self.instantiate,
            FaultKind::InvalidVerdict => &self.invalid_verdict,
            FaultKind::Quarantined => &self.quarantined_calls,
        };
        c.fetch_add(1, Relaxed);
    }

    /// Adds `s` to these counters (a reload carries the counts of the
    /// candidate's load and self-check into the running plugin's counters).
    pub(crate) fn add(&self, s: &FaultStats) {
        for (c, v) in [
            (&self.calls, s.calls),
            (&self.deadline, s.deadline),
            (&self.oom, s.oom),
            (&self.trap, s.trap),
            (&self.instantiate, s.instantiate),
            (&self.invalid_verdict, s.invalid_verdict),
            (&self.quarantined_calls, s.quarantined_calls),
            (&self.quarantines, s.quarantines),
            (&self.instantiations, s.instantiations),
            (&self.call_micros, s.call_micros),
        ] {
            c.fetch_add(v, Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> FaultStats {
        FaultStats {
            calls: self.calls.load(Relaxed),
            deadline: self.deadline.load(Relaxed),
            oom: self.oom.load(Relaxed),
            trap: self.trap.load(Relaxed),
            instantiate: self.instantiate.load(Relaxed),
            invalid_verdict: self.invalid_verdict.load(Relaxed),
            quarantined_calls: self.quarantined_calls.load(Relaxed),
            quarantines: self.quarantines.load(Relaxed),
            instantiations: self.instantiations.load(Relaxed),
            log_suppressed: 0,
            call_micros: self.call_micros.load(Relaxed),
        }
    }
}
