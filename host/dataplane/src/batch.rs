//! Batches of packets: the unit the I/O side hands over (one lock, one
//! wake-up, later one `recvmmsg`/`sendmmsg` or GSO call per batch).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::buf::PacketBuf;
use crate::outbound::Out;
use crate::Dataplane;

/// Up to `capacity` packet buffers with the length read into each.
pub struct Batch {
    bufs: Vec<PacketBuf>,
    lens: Vec<usize>,
    /// Where each datagram came from (UDP input only).
    from: Vec<Option<SocketAddr>>,
    n: usize,
}

impl Batch {
    pub fn with_capacity(capacity: usize) -> Batch {
        let capacity = capacity.max(1);
        Batch {
            bufs: (0..capacity).map(|_| PacketBuf::new()).collect(),
            lens: vec![0; capacity],
            from: vec![None; capacity],
            n: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.bufs.len()
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn is_full(&self) -> bool {
        self.n == self.bufs.len()
    }

    pub fn clear(&mut self) {
        self.n = 0;
    }

    /// The input region of the next free slot (to read a packet into);
    /// `None` when the batch is full. Commit it with [`Batch::push`].
    pub fn next_input(&mut self) -> Option<&mut [u8]> {
        self.bufs.get_mut(self.n).map(PacketBuf::input)
    }

    /// Commits the packet of `len` bytes read into the next slot.
    pub fn push(&mut self, len: usize, from: Option<SocketAddr>) {
        if self.n < self.bufs.len() {
            self.lens[self.n] = len;
            self.from[self.n] = from;
            self.n += 1;
        }
    }

    /// The free slots, to be filled at once (their input regions, see
    /// [`PacketBuf`]'s `AsMut`); commit what was read with [`Batch::commit`].
    pub fn free_slots(&mut self) -> &mut [PacketBuf] {
        let n = self.n.min(self.bufs.len());
        &mut self.bufs[n..]
    }

    /// Commits packets of the given lengths read into the free slots, in order.
    pub fn commit(&mut self, lens: &[usize]) {
        for &len in lens {
            self.push(len, None);
        }
    }

    /// The packets in the batch, as read.
    pub fn packets(&self) -> impl Iterator<Item = &[u8]> {
        self.bufs.iter().zip(&self.lens).take(self.n).map(|(b, &l)| b.packet(l))
    }
}

impl Dataplane {
    /// Runs every packet of `batch` through [`Dataplane::outbound`] and
    /// hands each result to `sink`; the batch is empty afterwards.
    pub fn outbound_batch(&mut self, batch: &mut Batch, now: Instant, mut sink: impl FnMut(&mut Dataplane, Out<'_>)) {
        for i in 0..batch.n {
            let len = batch.lens[i];
            if let Some(out) = self.outbound(&mut batch.bufs[i], len, now) {
                sink(self, out);
            }
        }
        batch.n = 0;
    }

    /// Runs every packet of `batch` through [`Dataplane::inbound`] (raw
    /// ESP/AH) and hands each inner packet to `sink`.
    pub fn inbound_batch(&mut self, batch: &mut Batch, now: Instant, mut sink: impl FnMut(&mut Dataplane, &[u8])) {
        for i in 0..batch.n {
            let len = batch.lens[i];
            if let Some(inner) = self.inbound(&mut batch.bufs[i], len, now) {
                sink(self, inner);
            }
        }
        batch.n = 0;
    }

    /// Runs every datagram of `batch` through [`Dataplane::inbound_udp`]
    /// (the sources were given to [`Batch::push`]) and hands each inner
    /// packet to `sink`.
    pub fn inbound_udp_batch(&mut self, batch: &mut Batch, local: IpAddr, now: Instant, mut sink: impl FnMut(&mut Dataplane, &[u8])) {
        for i in 0..batch.n {
            let (len, from) = (batch.lens[i], batch.from[i]);
            let Some(from) = from else { continue };
            if let Some(inner) = self.inbound_udp(&mut batch.bufs[i], len, from, local, now) {
                sink(self, inner);
            }
        }
        batch.n = 0;
    }
}
