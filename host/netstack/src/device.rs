//! The smoltcp [`Device`] between the netstack and the data plane: two
//! bounded packet queues and no I/O.

use std::collections::VecDeque;

use smoltcp::phy::{Checksum, Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::time::Instant;

/// Inner packets in (decrypted, from the data plane) and out (to encrypt).
/// Buffers are recycled so steady-state traffic does not allocate.
pub(crate) struct InnerDevice {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
    rx_spare: Vec<Vec<u8>>,
    tx_spare: Vec<Vec<u8>>,
    capacity: usize,
    mtu: usize,
    pub(crate) rx_dropped: u64,
}

impl InnerDevice {
    pub(crate) fn new(capacity: usize, mtu: usize) -> Self {
        let capacity = capacity.max(1);
        InnerDevice {
            rx: VecDeque::with_capacity(capacity),
            tx: VecDeque::with_capacity(capacity),
            rx_spare: Vec::new(),
            tx_spare: Vec::new(),
            capacity,
            mtu,
            rx_dropped: 0,
        }
    }

    /// Queue an inbound packet; returns false (and counts a drop) when the
    /// queue is full, or the packet is empty or larger than the MTU.
    pub(crate) fn push_rx(&mut self, pkt: &[u8]) -> bool {
        if self.rx.len() >= self.capacity || pkt.is_empty() || pkt.len() > self.mtu {
            self.rx_dropped += 1;
            return false;
        }
        let mut b = self.rx_spare.pop().unwrap_or_default();
        b.clear();
        b.extend_from_slice(pkt);
        self.rx.push_back(b);
        true
    }

    pub(crate) fn rx_pending(&self) -> bool {
        !self.rx.is_empty()
    }

    pub(crate) fn rx_len(&self) -> usize {
        self.rx.len()
    }

    pub(crate) fn tx_len(&self) -> usize {
        self.tx.len()
    }

    pub(crate) fn tx_full(&self) -> bool {
        self.tx.len() >= self.capacity
    }

    /// Hand every queued outbound packet to `emit`.
    pub(crate) fn drain_tx(&mut self, emit: &mut dyn FnMut(&[u8])) {
        while let Some(p) = self.tx.pop_front() {
            emit(&p);
            if self.tx_spare.len() < self.capacity {
                self.tx_spare.push(p);
            }
        }
    }
}

pub(crate) struct InnerRxToken<'a> {
    pkt: Vec<u8>,
    spare: &'a mut Vec<Vec<u8>>,
    capacity: usize,
}

impl RxToken for InnerRxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.pkt);
        if self.spare.len() < self.capacity {
            self.spare.push(self.pkt);
        }
        r
    }
}

pub(crate) struct InnerTxToken<'a> {
    tx: &'a mut VecDeque<Vec<u8>>,
    spare: &'a mut Vec<Vec<u8>>,
}

impl TxToken for InnerTxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut b = self.spare.pop().unwrap_or_default();
        b.clear();
        b.resize(len, 0);
        let r = f(&mut b);
        self.tx.push_back(b);
        r
    }
}

impl Device for InnerDevice {
    type RxToken<'a> = InnerRxToken<'a>;
    type TxToken<'a> = InnerTxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        // A reply (an ACK, a RST) needs room in the outbound queue; without
        // it the packet stays queued until the caller drains `poll_outbound`.
        if self.tx.len() >= self.capacity {
            return None;
        }
        let pkt = self.rx.pop_front()?;
        Some((
            InnerRxToken {
                pkt,
                spare: &mut self.rx_spare,
                capacity: self.capacity,
            },
            InnerTxToken {
                tx: &mut self.tx,
                spare: &mut self.tx_spare,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        if self.tx.len() >= self.capacity {
            return None;
        }
        Some(InnerTxToken {
            tx: &mut self.tx,
            spare: &mut self.tx_spare,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        // Inner packets come through an authenticated SA but the peer's stack
        // may still be buggy: verify and compute every checksum.
        caps.checksum.ipv4 = Checksum::Both;
        caps.checksum.tcp = Checksum::Both;
        caps.checksum.udp = Checksum::Both;
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rx_queue_is_bounded_and_counts_drops() {
        let mut d = InnerDevice::new(2, 100);
        assert!(d.push_rx(&[0x45; 20]));
        assert!(d.push_rx(&[0x45; 20]));
        assert!(!d.push_rx(&[0x45; 20]));
        assert_eq!(d.rx_dropped, 1);
        assert_eq!(d.rx_len(), 2);
    }

    #[test]
    fn oversized_and_empty_packets_are_dropped() {
        let mut d = InnerDevice::new(4, 100);
        assert!(!d.push_rx(&[0u8; 101]));
        assert!(!d.push_rx(&[]));
        assert_eq!(d.rx_dropped, 2);
    }

    #[test]
    fn transmit_stops_when_tx_queue_full_and_receive_waits() {
        let mut d = InnerDevice::new(1, 100);
        assert!(d.push_rx(&[1, 2, 3]));
        let t = d.transmit(Instant::from_millis(0)).expect("room");
        t.consume(3, |b| b.copy_from_slice(&[9, 9, 9]));
        assert!(d.tx_full());
        assert!(d.transmit(Instant::from_millis(0)).is_none());
        assert!(d.receive(Instant::from_millis(0)).is_none());
        let mut out = Vec::new();
        d.drain_tx(&mut |p| out.push(p.to_vec()));
        assert_eq!(out, vec![vec![9, 9, 9]]);
        let (rx, _tx) = d.receive(Instant::from_millis(0)).expect("packet");
        assert_eq!(rx.consume(|p| p.to_vec()), vec![1, 2, 3]);
    }
}
