//! A bounded flow cache: 5-tuple + direction → cached value, FIFO eviction.
//! Validity (generation, TTL, decider version) is checked by the SPD, which
//! stores it in the value; the cache only bounds memory.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;

use crate::decider::{Direction, Flow};

/// The part of a [`Flow`] the SPD decides on (the interface is not part of
/// the key: SPD selectors do not match on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub dir: Direction,
}

/// Hashes the key as three words (addresses as IPv6-mapped u128s, the rest
/// packed into one u64): three hasher rounds instead of a dozen small writes.
impl Hash for FlowKey {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        #[inline]
        fn word(a: IpAddr) -> u128 {
            match a {
                IpAddr::V4(v4) => u128::from(u32::from(v4)) | (0xffff << 32),
                IpAddr::V6(v6) => u128::from(v6),
            }
        }
        h.write_u128(word(self.src));
        h.write_u128(word(self.dst));
        let dir = match self.dir {
            Direction::In => 0u64,
            Direction::Out => 1,
            Direction::Fwd => 2,
        };
        h.write_u64(
            u64::from(self.proto)
                | u64::from(self.src_port) << 8
                | u64::from(self.dst_port) << 24
                | dir << 40
                | u64::from(self.src.is_ipv4()) << 42,
        );
    }
}

impl From<&Flow> for FlowKey {
    #[inline]
    fn from(f: &Flow) -> Self {
        FlowKey {
            src: f.src,
            dst: f.dst,
            proto: f.proto,
            src_port: f.src_port,
            dst_port: f.dst_port,
            dir: f.dir,
        }
    }
}

/// Hash map with a capacity bound; when full, the oldest inserted key goes.
/// The hasher is foldhash, seeded per process, so peers cannot pick flows
/// that collide.
#[derive(Debug)]
pub struct FlowCache<V> {
    map: HashMap<FlowKey, V, foldhash::fast::RandomState>,
    order: VecDeque<FlowKey>,
    capacity: usize,
    evictions: u64,
}

impl<V> FlowCache<V> {
    /// A cache holding at most `capacity` flows (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let hasher = foldhash::fast::RandomState::default();
        FlowCache {
            map: HashMap::with_capacity_and_hasher(capacity.min(1 << 16), hasher),
            order: VecDeque::new(),
            capacity,
            evictions: 0,
        }
    }

    #[inline]
    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    /// Inserts or replaces; a replaced key keeps its place in the FIFO order.
    pub fn insert(&mut self, key: FlowKey, value: V) {
        if let Some(v) = self.map.get_mut(&key) {
            *v = value;
            return;
        }
        if self.map.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
                self.evictions += 1;
            }
        }
        self.order.push_back(key);
        self.map.insert(key, value);
    }

    /// Keeps only the entries `keep` accepts; returns how many were removed.
    /// O(n): for periodic sweeps, not the packet path.
    pub fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) -> usize {
        let before = self.map.len();
        self.map.retain(|_, v| keep(v));
        let removed = before - self.map.len();
        if removed > 0 {
            let map = &self.map;
            self.order.retain(|k| map.contains_key(k));
        }
        removed
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many entries were evicted because the cache was full.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// The hash the map uses (exposed for benchmarks).
    pub fn hash_of(&self, key: &FlowKey) -> u64 {
        self.map.hasher().hash_one(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> FlowKey {
        FlowKey {
            src: IpAddr::from([10, 0, 0, n]),
            dst: IpAddr::from([10, 0, 1, 1]),
            proto: 6,
            src_port: 1000,
            dst_port: 80,
            dir: Direction::Out,
        }
    }

    #[test]
    fn bounded_fifo_eviction() {
        let mut c = FlowCache::new(3);
        for n in 0..3 {
            c.insert(key(n), n);
        }
        c.insert(key(1), 11); // replace keeps order, no eviction
        assert_eq!(c.len(), 3);
        assert_eq!(c.evictions(), 0);
        c.insert(key(3), 3); // evicts key(0), the oldest
        assert_eq!(c.len(), 3);
        assert!(c.get_mut(&key(0)).is_none());
        assert_eq!(c.get_mut(&key(1)), Some(&mut 11));
        c.insert(key(4), 4); // evicts key(1)
        assert!(c.get_mut(&key(1)).is_none());
        assert_eq!(c.evictions(), 2);
        c.clear();
        assert!(c.is_empty());
        c.insert(key(9), 9);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn retain_drops_entries_and_their_place_in_the_order() {
        let mut c = FlowCache::new(3);
        for n in 0..3 {
            c.insert(key(n), n);
        }
        assert_eq!(c.retain(|v| *v != 1), 1);
        assert_eq!(c.len(), 2);
        c.insert(key(7), 7); // room again: no eviction
        assert_eq!(c.evictions(), 0);
        c.insert(key(8), 8); // evicts key(0), the oldest left
        assert!(c.get_mut(&key(0)).is_none());
        assert_eq!(c.get_mut(&key(2)), Some(&mut 2));
    }

    #[test]
    fn direction_is_part_of_the_key() {
        let mut c = FlowCache::new(8);
        c.insert(key(1), 1);
        let mut k = key(1);
        k.dir = Direction::In;
        assert!(c.get_mut(&k).is_none());
    }
}
