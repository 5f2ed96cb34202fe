//! Retries for connections with `start = "start"` whose setup failed
//! (AUTHENTICATION_FAILED, NO_PROPOSAL_CHOSEN, an unanswered IKE_SA_INIT):
//! exponential back-off from 5 s to 5 min, reset once the IKE SA is up.
use std::collections::HashMap;
use std::time::{Duration, Instant};

const FIRST: Duration = Duration::from_secs(5);
const MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
pub struct Retries {
    /// Per connection: when to try next (None: a try is under way) and
    /// how many setups failed in a row.
    conns: HashMap<String, (Option<Instant>, u32)>,
}

impl Retries {
    /// A setup of `conn` failed: schedules the next try; returns the wait
    /// and the number of failures in a row.
    pub fn failed(&mut self, now: Instant, conn: &str) -> (Duration, u32) {
        let e = self.conns.entry(conn.to_string()).or_insert((None, 0));
        e.1 += 1;
        let wait = FIRST.saturating_mul(1u32 << (e.1 - 1).min(16)).min(MAX);
        e.0 = Some(now + wait);
        (wait, e.1)
    }

    /// `conn` is up: the next failure starts the back-off anew.
    pub fn succeeded(&mut self, conn: &str) {
        self.conns.remove(conn);
    }

    /// Forgets every planned try (shutdown, operator `down`).
    pub fn cancel(&mut self, conn: Option<&str>) {
        match conn {
            Some(c) => {
                self.conns.remove(c);
            }
            None => self.conns.clear(),
        }
    }

    pub fn next(&self) -> Option<Instant> {
        self.conns.values().filter_map(|(t, _)| *t).min()
    }

    /// Connections to try again now.
    pub fn take_due(&mut self, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        for (name, (t, _)) in &mut self.conns {
            if t.is_some_and(|t| t <= now) {
                *t = None;
                out.push(name.clone());
            }
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_and_resets() {
        let t = Instant::now();
        let mut r = Retries::default();
        assert_eq!(r.failed(t, "a"), (Duration::from_secs(5), 1));
        assert_eq!(r.next(), Some(t + Duration::from_secs(5)));
        assert!(r.take_due(t + Duration::from_secs(4)).is_empty());
        assert_eq!(r.take_due(t + Duration::from_secs(5)), vec!["a".to_string()]);
        assert_eq!(r.next(), None, "a try is under way");
        assert_eq!(r.failed(t, "a").0, Duration::from_secs(10));
        assert_eq!(r.failed(t, "a").0, Duration::from_secs(20));
        for _ in 0..20 {
            r.failed(t, "a");
        }
        assert_eq!(r.failed(t, "a").0, MAX);
        r.succeeded("a");
        assert_eq!(r.failed(t, "a"), (Duration::from_secs(5), 1));
        r.cancel(None);
        assert_eq!(r.next(), None);
    }
}
