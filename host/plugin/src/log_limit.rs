//! Per-plugin rate limit of `host.log`: a token bucket shared by every
//! instance and every loaded version of one plugin (by name), so neither
//! re-instantiation nor a reload resets it. Suppressed lines are counted and
//! announced with the next line that passes.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

/// Lines a plugin may log in a burst.
pub const LOG_BURST: u32 = 100;
/// Lines per second a plugin may log in the long run.
pub const LOG_PER_SEC: u32 = 50;

struct Bucket {
    tokens: f64,
    last: Instant,
    /// Suppressed since the last line that passed.
    pending: u64,
}

/// The log budget of one plugin.
pub struct LogLimiter {
    bucket: Mutex<Bucket>,
    suppressed: AtomicU64,
}

/// The limiter's answer for one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Log it; `suppressed` lines were dropped since the last line logged.
    Log { suppressed: u64 },
    /// Drop it (counted).
    Drop,
}

impl LogLimiter {
    fn new() -> Self {
        LogLimiter { bucket: Mutex::new(Bucket { tokens: f64::from(LOG_BURST), last: Instant::now(), pending: 0 }), suppressed: AtomicU64::new(0) }
    }

    /// The limiter of the plugin named `name` (one per name while any
    /// instance of it is alive).
    pub fn for_plugin(name: &str) -> Arc<LogLimiter> {
        static ALL: OnceLock<Mutex<HashMap<String, Weak<LogLimiter>>>> = OnceLock::new();
        let mut all = ALL.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = all.get(name).and_then(Weak::upgrade) {
            return l;
        }
        all.retain(|_, w| w.strong_count() > 0);
        let l = Arc::new(LogLimiter::new());
        all.insert(name.to_string(), Arc::downgrade(&l));
        l
    }

    /// Whether one more line may be logged now.
    pub fn admit(&self) -> Admit {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Admit {
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let refill = now.saturating_duration_since(b.last).as_secs_f64() * f64::from(LOG_PER_SEC);
        b.tokens = (b.tokens + refill).min(f64::from(LOG_BURST));
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            let suppressed = std::mem::take(&mut b.pending);
            Admit::Log { suppressed }
        } else {
            b.pending += 1;
            self.suppressed.fetch_add(1, Relaxed);
            Admit::Drop
        }
    }

    /// Lines dropped so far.
    pub fn suppressed(&self) -> u64 {
        self.suppressed.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_drop_then_refill_announces_the_gap() {
        let l = LogLimiter::new();
        let t0 = Instant::now();
        let passed = (0..1000).filter(|_| matches!(l.admit_at(t0), Admit::Log { .. })).count();
        assert_eq!(passed, LOG_BURST as usize);
        assert_eq!(l.suppressed(), 900);
        // One second later: LOG_PER_SEC more, the first one reports the gap.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(l.admit_at(t1), Admit::Log { suppressed: 900 });
        assert_eq!(l.admit_at(t1), Admit::Log { suppressed: 0 });
    }

    #[test]
    fn one_limiter_per_plugin_name() {
        let a = LogLimiter::for_plugin("log-limit-test-a");
        let a2 = LogLimiter::for_plugin("log-limit-test-a");
        let b = LogLimiter::for_plugin("log-limit-test-b");
        assert!(Arc::ptr_eq(&a, &a2));
        assert!(!Arc::ptr_eq(&a, &b));
    }
}
