//! At most one log line per interval for events an attacker can trigger at
//! will (half-open limits), with the count of those not logged.
use std::time::{Duration, Instant};

/// Interval between two log lines of one kind.
const EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(crate) struct RateLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLog {
    /// Records one event; `Some(n)` when it should be logged now, `n`
    /// being the events not logged since the last line.
    pub fn hit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < EVERY => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval() {
        let t = Instant::now();
        let mut r = RateLog::default();
        assert_eq!(r.hit(t), Some(0));
        assert_eq!(r.hit(t + Duration::from_secs(1)), None);
        assert_eq!(r.hit(t + Duration::from_secs(2)), None);
        assert_eq!(r.hit(t + Duration::from_secs(11)), Some(2));
    }
}
