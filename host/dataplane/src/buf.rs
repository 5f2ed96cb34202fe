//! Caller-owned packet buffers with headroom.
//!
//! Layout: `[headroom | region A | region B]`. A packet is read into region
//! A just after the headroom. A tunnel-mode ESP SA writes its outer headers
//! into the headroom and encrypts the packet where it lies; other transforms
//! and decapsulation alternate between the two regions, so no packet is
//! copied into a scratch buffer owned by the data plane. Results are slices
//! of this buffer.

/// Largest IP packet (plus room for ESP/AH overhead around it).
pub const MAX_PACKET: usize = 65_535 + 512;

/// Bytes in front of region A: room for the largest tunnel-mode ESP header
/// (IPv6 outer header 40 + ESP header 8 + IV 16) and for the outer IP
/// header the UDP path puts back in front of an ESP-in-UDP payload.
pub const HEADROOM: usize = 128;

/// Start of region B.
pub(crate) const REGION_B: usize = HEADROOM + MAX_PACKET;

/// One packet's buffer (about 128 KiB), reused for every packet.
pub struct PacketBuf {
    pub(crate) buf: Box<[u8]>,
}

impl PacketBuf {
    pub fn new() -> PacketBuf {
        PacketBuf { buf: vec![0u8; REGION_B + MAX_PACKET].into_boxed_slice() }
    }

    /// Where the I/O side reads a packet to (the packet then starts at
    /// [`HEADROOM`]).
    pub fn input(&mut self) -> &mut [u8] {
        &mut self.buf[HEADROOM..REGION_B]
    }

    /// The packet of `len` bytes read into [`PacketBuf::input`].
    pub fn packet(&self, len: usize) -> &[u8] {
        &self.buf[HEADROOM..HEADROOM + len.min(MAX_PACKET)]
    }

    /// Copies a packet into the input region; `false` if it does not fit.
    pub fn load(&mut self, pkt: &[u8]) -> bool {
        match self.buf.get_mut(HEADROOM..HEADROOM + pkt.len()) {
            Some(dst) if pkt.len() <= MAX_PACKET => {
                dst.copy_from_slice(pkt);
                true
            }
            _ => false,
        }
    }

    /// The two regions for one transform step: `(source, destination)`,
    /// where the source is the region holding `at`.
    pub(crate) fn split(&mut self, at: usize) -> (&mut [u8], &mut [u8]) {
        let (a, b) = self.buf.split_at_mut(REGION_B);
        if at < REGION_B {
            (a, b)
        } else {
            (b, &mut a[HEADROOM..])
        }
    }
}

/// The input region (what [`PacketBuf::input`] gives), for I/O APIs that
/// fill a slice of buffers (a TUN super-segment cut into packets).
impl AsMut<[u8]> for PacketBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        self.input()
    }
}

impl AsRef<[u8]> for PacketBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf[HEADROOM..REGION_B]
    }
}

impl Default for PacketBuf {
    fn default() -> Self {
        PacketBuf::new()
    }
}
