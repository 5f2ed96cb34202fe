//! The smoltcp [`Device`] between the netstack and the data plane: two
//! bounded packet queues and no I/O.

use std::collections::VecDeque;

use esprit_wire::checksum::ones_complement_sum;
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
        fill_tcp_checksum(&mut b);
        self.tx.push_back(b);
        r
    }
}

/// Computes the TCP checksum of a packet smoltcp emitted with the field
/// zeroed (`Checksum::Rx` for TCP: smoltcp verifies what it receives, esprit
/// computes what it sends, with the word-at-a-time sum of `esprit_wire`;
/// smoltcp's own 16-bit loop was 8 % of a netstack gateway's CPU). smoltcp
/// sends TCP right after an IPv4 header or a bare IPv6 header (no extension
/// headers); anything else is left as smoltcp wrote it.
pub(crate) fn fill_tcp_checksum(pkt: &mut [u8]) {
    const TCP: u8 = 6;
    let (tcp_at, pseudo) = match pkt.first().map(|b| b >> 4) {
        Some(4) if pkt.len() >= 20 && pkt[9] == TCP => {
            let ihl = usize::from(pkt[0] & 0x0f) * 4;
            let Some(tcp_len) = pkt.len().checked_sub(ihl) else { return };
            (ihl, ones_complement_sum(&pkt[12..20], u32::from(TCP) + tcp_len as u32))
        }
        Some(6) if pkt.len() >= 40 && pkt[6] == TCP => {
            let tcp_len = (pkt.len() - 40) as u32;
            (40, ones_complement_sum(&pkt[8..40], u32::from(TCP) + (tcp_len & 0xffff) + (tcp_len >> 16)))
        }
        _ => return,
    };
    let Some(tcp) = pkt.get_mut(tcp_at..) else { return };
    if tcp.len() < 20 {
        return;
    }
    tcp[16..18].fill(0);
    let sum = !ones_complement_sum(tcp, u32::from(pseudo));
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());
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
        // may still be buggy: verify and compute every checksum. smoltcp
        // verifies TCP; the device computes it on send (`fill_tcp_checksum`).
        caps.checksum.ipv4 = Checksum::Both;
        caps.checksum.tcp = Checksum::Rx;
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

    /// The device's TCP checksum equals smoltcp's own over IPv4 and IPv6,
    /// for segments of every size up to the MTU; odd packets are left alone.
    #[test]
    fn tcp_checksums_match_smoltcp() {
        use smoltcp::wire::{IpAddress, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, Ipv6Address, Ipv6Packet, Ipv6Repr, TcpPacket, TcpRepr, TcpSeqNumber, TcpControl};
        use smoltcp::phy::ChecksumCapabilities;
        let caps = ChecksumCapabilities::default();
        for len in [0usize, 1, 2, 3, 7, 100, 1359, 1360] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let tcp = TcpRepr {
                src_port: 40000,
                dst_port: 443,
                control: TcpControl::Psh,
                seq_number: TcpSeqNumber(0x1234_5678),
                ack_number: Some(TcpSeqNumber(9)),
                window_len: 512,
                window_scale: None,
                max_seg_size: None,
                sack_permitted: false,
                sack_ranges: [None, None, None],
                timestamp: None,
                payload: &payload,
            };
            // IPv4
            let (s4, d4) = (Ipv4Address::new(10, 9, 0, 1), Ipv4Address::new(10, 9, 0, 2));
            let ip = Ipv4Repr { src_addr: s4, dst_addr: d4, next_header: IpProtocol::Tcp, payload_len: tcp.buffer_len(), hop_limit: 64 };
            let mut pkt = vec![0u8; ip.buffer_len() + tcp.buffer_len()];
            ip.emit(&mut Ipv4Packet::new_unchecked(&mut pkt[..]), &caps);
            tcp.emit(&mut TcpPacket::new_unchecked(&mut pkt[20..]), &IpAddress::Ipv4(s4), &IpAddress::Ipv4(d4), &caps);
            let want = pkt.clone();
            pkt[36..38].fill(0);
            fill_tcp_checksum(&mut pkt);
            assert_eq!(pkt, want, "IPv4, {len} bytes");
            // IPv6
            let (s6, d6) = (Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));
            let ip = Ipv6Repr { src_addr: s6, dst_addr: d6, next_header: IpProtocol::Tcp, payload_len: tcp.buffer_len(), hop_limit: 64 };
            let mut pkt = vec![0u8; ip.buffer_len() + tcp.buffer_len()];
            ip.emit(&mut Ipv6Packet::new_unchecked(&mut pkt[..]));
            tcp.emit(&mut TcpPacket::new_unchecked(&mut pkt[40..]), &IpAddress::Ipv6(s6), &IpAddress::Ipv6(d6), &caps);
            let want = pkt.clone();
            pkt[56..58].fill(0);
            fill_tcp_checksum(&mut pkt);
            assert_eq!(pkt, want, "IPv6, {len} bytes");
        }
        // Truncated, empty, not TCP, a bad IHL: nothing panics, nothing written past the end.
        for mut odd in [vec![], vec![0x45], vec![0x45; 19], vec![0x4f; 30], vec![0x60; 39], [vec![0x45, 0, 0, 30, 0, 0, 0, 0, 64, 17], vec![0; 20]].concat()] {
            let before = odd.clone();
            fill_tcp_checksum(&mut odd);
            assert_eq!(odd.len(), before.len());
        }
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
