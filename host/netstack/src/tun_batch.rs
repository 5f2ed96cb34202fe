//! Writing decrypted packets to the TUN in batches. With offloads, segments
//! of one TCP (or UDP) flow are coalesced into one super-segment with its
//! virtio-net header (GRO, tun-rs's table: the wireguard-go algorithm) and
//! written with one `write`, so the kernel's TCP stack sees one 64 KiB
//! segment instead of forty; without offloads each packet is written alone.

use tun_rs::GROTable;

use crate::tun::{Tun, TunError, MAX_SEGMENTS, VIRTIO_NET_HDR_LEN};

/// Packets waiting to be written, each after room for a virtio-net header.
pub struct TunBatchWriter {
    bufs: Vec<Vec<u8>>,
    n: usize,
    gro: GROTable,
}

impl Default for TunBatchWriter {
    fn default() -> Self {
        TunBatchWriter::new()
    }
}

impl TunBatchWriter {
    pub fn new() -> TunBatchWriter {
        TunBatchWriter { bufs: (0..MAX_SEGMENTS).map(|_| Vec::with_capacity(VIRTIO_NET_HDR_LEN + 2048)).collect(), n: 0, gro: GROTable::new() }
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Queues a copy of `pkt`; `false` when the batch is full (flush first).
    pub fn push(&mut self, pkt: &[u8]) -> bool {
        let Some(b) = self.bufs.get_mut(self.n) else { return false };
        b.clear();
        b.resize(VIRTIO_NET_HDR_LEN, 0);
        b.extend_from_slice(pkt);
        self.n += 1;
        true
    }

    /// Writes every queued packet; returns how many were queued. An error
    /// means some of them were not written (the caller counts them).
    pub fn flush(&mut self, tun: &Tun) -> Result<usize, TunError> {
        let n = std::mem::take(&mut self.n);
        if n == 0 {
            return Ok(0);
        }
        let bufs = self.bufs.get_mut(..n).unwrap_or_default();
        if tun.offload() {
            tun.send_multiple(&mut self.gro, bufs, VIRTIO_NET_HDR_LEN)?;
        } else {
            for b in bufs.iter() {
                tun.send(b.get(VIRTIO_NET_HDR_LEN..).unwrap_or_default())?;
            }
        }
        Ok(n)
    }
}
