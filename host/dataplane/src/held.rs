//! Outbound packets held while IKE negotiates their SA (an ACQUIRE is
//! pending), bounded in packets, bytes and age.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Bounds of the queue.
const QUEUE_PACKETS: usize = 512;
const QUEUE_BYTES: usize = 4 << 20;
/// How long a held packet may wait for its SA.
pub(crate) const QUEUE_TTL: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(crate) struct Held {
    queue: VecDeque<(Instant, Vec<u8>)>,
    bytes: usize,
}

impl Held {
    /// Holds a copy of `pkt`; `false` when the queue is full.
    pub(crate) fn push(&mut self, pkt: &[u8], now: Instant) -> bool {
        if self.queue.len() >= QUEUE_PACKETS || self.bytes + pkt.len() > QUEUE_BYTES {
            return false;
        }
        self.bytes += pkt.len();
        self.queue.push_back((now, pkt.to_vec()));
        true
    }

    /// Takes every packet; returns the live ones and how many had expired.
    pub(crate) fn take(&mut self, now: Instant) -> (Vec<Vec<u8>>, u64) {
        let mut out = Vec::with_capacity(self.queue.len());
        let mut expired = 0;
        while let Some((t, p)) = self.queue.pop_front() {
            if now.saturating_duration_since(t) > QUEUE_TTL {
                expired += 1;
            } else {
                out.push(p);
            }
        }
        self.bytes = 0;
        (out, expired)
    }

    /// Drops packets older than the TTL; returns how many.
    pub(crate) fn expire(&mut self, now: Instant) -> u64 {
        let mut n = 0;
        while let Some((t, p)) = self.queue.front() {
            if now.saturating_duration_since(*t) <= QUEUE_TTL {
                break;
            }
            self.bytes -= p.len();
            self.queue.pop_front();
            n += 1;
        }
        n
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_expiring() {
        let t0 = Instant::now();
        let mut h = Held::default();
        for _ in 0..QUEUE_PACKETS {
            assert!(h.push(&[0u8; 100], t0));
        }
        assert!(!h.push(&[0u8; 100], t0), "the packet bound holds");
        assert_eq!(h.expire(t0 + QUEUE_TTL), 0);
        assert_eq!(h.expire(t0 + QUEUE_TTL + Duration::from_millis(1)), QUEUE_PACKETS as u64);
        assert_eq!(h.len(), 0);
        assert!(!h.push(&vec![0u8; QUEUE_BYTES + 1], t0), "the byte bound holds");
        assert!(h.push(&[1, 2, 3], t0));
        let (live, expired) = h.take(t0);
        assert_eq!((live, expired), (vec![vec![1, 2, 3]], 0));
    }
}
