//! Dense storage for SAD entries: a handle is (generation, slot index), so a
//! lookup by handle is one bounds check and one compare — no hashing on the
//! per-packet path — and a stale handle never finds a newer SA.

use super::SaHandle;

struct Slot<T> {
    generation: u32,
    val: Option<T>,
}

pub(super) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Slab<T> {
    pub fn new() -> Self {
        Slab { slots: Vec::new(), free: Vec::new(), len: 0 }
    }

    fn split(h: SaHandle) -> (usize, u32) {
        ((h.0 & 0xffff_ffff) as usize, (h.0 >> 32) as u32)
    }

    pub fn insert(&mut self, val: T) -> SaHandle {
        self.len += 1;
        let idx = match self.free.pop() {
            Some(i) => {
                let s = &mut self.slots[i as usize];
                s.generation = s.generation.wrapping_add(1);
                s.val = Some(val);
                i
            }
            None => {
                self.slots.push(Slot { generation: 0, val: Some(val) });
                (self.slots.len() - 1) as u32
            }
        };
        let generation = self.slots[idx as usize].generation;
        SaHandle(u64::from(generation) << 32 | u64::from(idx))
    }

    #[inline]
    pub fn get(&self, h: SaHandle) -> Option<&T> {
        let (i, g) = Self::split(h);
        self.slots.get(i).filter(|s| s.generation == g)?.val.as_ref()
    }

    #[inline]
    pub fn get_mut(&mut self, h: SaHandle) -> Option<&mut T> {
        let (i, g) = Self::split(h);
        self.slots.get_mut(i).filter(|s| s.generation == g)?.val.as_mut()
    }

    pub fn remove(&mut self, h: SaHandle) -> Option<T> {
        let (i, g) = Self::split(h);
        let s = self.slots.get_mut(i).filter(|s| s.generation == g)?;
        let v = s.val.take()?;
        self.free.push(i as u32);
        self.len -= 1;
        Some(v)
    }

    pub fn clear(&mut self) {
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.val.take().is_some() {
                self.free.push(i as u32);
            }
        }
        self.len = 0;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn iter(&self) -> impl Iterator<Item = (SaHandle, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.val.as_ref().map(|v| (SaHandle(u64::from(s.generation) << 32 | i as u64), v))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_handles_do_not_resolve() {
        let mut s = Slab::new();
        let a = s.insert("a");
        let b = s.insert("b");
        assert_eq!(s.remove(a), Some("a"));
        assert_eq!(s.remove(a), None);
        let c = s.insert("c"); // reuses a's slot
        assert_ne!(a, c);
        assert_eq!(s.get(a), None);
        assert_eq!(s.get(c), Some(&"c"));
        assert_eq!(s.len(), 2);
        s.clear();
        assert_eq!((s.get(b), s.len()), (None, 0));
        let d = s.insert("d");
        assert_eq!(s.get(d), Some(&"d"));
        assert_eq!(s.iter().count(), 1);
    }
}
