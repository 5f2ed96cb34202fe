//! Ephemeral local ports for connections the netstack originates
//! (RFC 6335 §6: the dynamic range 49152–65535).

const FIRST: u16 = 49152;
const COUNT: usize = (u16::MAX - FIRST) as usize + 1;

/// A bitmap allocator that hands out ports round-robin so a port is not
/// reused right after it was released.
pub(crate) struct PortAllocator {
    used: Vec<u64>,
    next: usize,
    in_use: usize,
}

impl PortAllocator {
    pub(crate) fn new(seed: u64) -> Self {
        PortAllocator {
            used: vec![0; COUNT.div_ceil(64)],
            next: (seed as usize) % COUNT,
            in_use: 0,
        }
    }

    pub(crate) fn allocate(&mut self) -> Option<u16> {
        if self.in_use == COUNT {
            return None;
        }
        for _ in 0..COUNT {
            let i = self.next;
            self.next = (self.next + 1) % COUNT;
            if self.used[i / 64] & (1 << (i % 64)) == 0 {
                self.used[i / 64] |= 1 << (i % 64);
                self.in_use += 1;
                return Some(FIRST + i as u16);
            }
        }
        None
    }

    pub(crate) fn release(&mut self, port: u16) {
        if port < FIRST {
            return;
        }
        let i = (port - FIRST) as usize;
        if self.used[i / 64] & (1 << (i % 64)) != 0 {
            self.used[i / 64] &= !(1 << (i % 64));
            self.in_use -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_distinct_ports_until_exhausted() {
        let mut p = PortAllocator::new(7);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..COUNT {
            let port = p.allocate().expect("port");
            assert!(port >= FIRST);
            assert!(seen.insert(port));
        }
        assert_eq!(p.allocate(), None);
        p.release(50000);
        assert_eq!(p.allocate(), Some(50000));
    }

    #[test]
    fn release_of_foreign_or_free_port_is_harmless() {
        let mut p = PortAllocator::new(0);
        p.release(80);
        p.release(60000);
        assert_eq!(p.in_use, 0);
    }
}
