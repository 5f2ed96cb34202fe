//! Reading and writing capture files: classic pcap (both byte orders,
//! micro- and nanosecond timestamps) and pcapng (read only: section header,
//! interface description, enhanced and simple packet blocks). Output is always
//! classic pcap with microsecond timestamps, which every tool reads.

use std::io::{self, Read, Write};

/// Link-layer header types we understand (tcpdump.org LINKTYPE_* values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_RAW (101), also DLT_RAW 12/14 as written by some BSDs.
    Raw,
    /// LINKTYPE_IPV4 (228).
    Ipv4,
    /// LINKTYPE_IPV6 (229).
    Ipv6,
    /// LINKTYPE_LINUX_SLL (113), `tcpdump -i any`.
    LinuxSll,
    /// LINKTYPE_NULL (0), BSD loopback.
    Null,
}

impl LinkType {
    pub fn from_code(code: u32) -> Option<LinkType> {
        Some(match code {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            12 | 14 | 101 => LinkType::Raw,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            _ => return None,
        })
    }
    pub fn code(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
        }
    }
}

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub ts_sec: u32,
    pub ts_usec: u32,
    pub link: LinkType,
    pub data: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("not a pcap or pcapng file (magic {0:#010x})")]
    BadMagic(u32),
    #[error("unsupported link type {0} (supported: Ethernet 1, raw IP 101/12/14, IPv4 228, IPv6 229, Linux SLL 113, BSD loopback 0)")]
    LinkType(u32),
    #[error("truncated file: {0}")]
    Truncated(&'static str),
    #[error("malformed pcapng block: {0}")]
    Block(&'static str),
}

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;

/// Reads every record of a pcap or pcapng file.
pub fn read_all(mut r: impl Read) -> Result<Vec<Record>, PcapError> {
    let mut buf = Vec::new();
    r.read_to_end(&mut buf)?;
    parse(&buf)
}

/// Parses a whole capture held in memory.
pub fn parse(buf: &[u8]) -> Result<Vec<Record>, PcapError> {
    let magic_le = read_u32(buf, 0, true).ok_or(PcapError::Truncated("file header"))?;
    if magic_le == PCAPNG_SHB {
        return parse_pcapng(buf);
    }
    let (le, nanos) = match (magic_le, magic_le.swap_bytes()) {
        (PCAP_MAGIC_US, _) => (true, false),
        (PCAP_MAGIC_NS, _) => (true, true),
        (_, PCAP_MAGIC_US) => (false, false),
        (_, PCAP_MAGIC_NS) => (false, true),
        _ => return Err(PcapError::BadMagic(magic_le)),
    };
    let code = read_u32(buf, 20, le).ok_or(PcapError::Truncated("file header"))?;
    let link = LinkType::from_code(code & 0x0fff_ffff).ok_or(PcapError::LinkType(code))?;
    let mut off = 24;
    let mut out = Vec::new();
    while off < buf.len() {
        let hdr = |i| read_u32(buf, off + i, le).ok_or(PcapError::Truncated("record header"));
        let (ts_sec, ts_frac, incl) = (hdr(0)?, hdr(4)?, hdr(8)? as usize);
        let start = off + 16;
        let data = buf
            .get(start..start.saturating_add(incl))
            .ok_or(PcapError::Truncated("record data"))?;
        let ts_usec = if nanos { ts_frac / 1000 } else { ts_frac };
        out.push(Record { ts_sec, ts_usec, link, data: data.to_vec() });
        off = start + incl;
    }
    Ok(out)
}

fn parse_pcapng(buf: &[u8]) -> Result<Vec<Record>, PcapError> {
    let mut le = true;
    let mut ifaces: Vec<(LinkType, u64)> = Vec::new(); // link, ticks per second
    let mut out = Vec::new();
    let mut off = 0;
    while off < buf.len() {
        let btype = read_u32(buf, off, le).ok_or(PcapError::Truncated("block header"))?;
        if btype == PCAPNG_SHB {
            let bom = read_u32(buf, off + 8, true).ok_or(PcapError::Truncated("section header"))?;
            le = match bom {
                0x1a2b_3c4d => true,
                0x4d3c_2b1a => false,
                _ => return Err(PcapError::Block("bad byte-order magic")),
            };
            ifaces.clear();
        }
        let blen = read_u32(buf, off + 4, le).ok_or(PcapError::Truncated("block length"))? as usize;
        if blen < 12 || blen % 4 != 0 {
            return Err(PcapError::Block("block length"));
        }
        let body = buf.get(off + 8..off + blen - 4).ok_or(PcapError::Truncated("block body"))?;
        match btype {
            // Interface Description Block.
            1 => {
                let code = read_u16(body, 0, le).ok_or(PcapError::Block("IDB"))? as u32;
                let link = LinkType::from_code(code).ok_or(PcapError::LinkType(code))?;
                ifaces.push((link, if_tsresol(body.get(8..).unwrap_or(&[]), le)));
            }
            // Enhanced Packet Block.
            6 => {
                let f = |i| read_u32(body, i, le).ok_or(PcapError::Block("EPB"));
                let (ifid, hi, lo, cap) = (f(0)? as usize, f(4)? as u64, f(8)? as u64, f(12)? as usize);
                let (link, tps) = *ifaces.get(ifid).ok_or(PcapError::Block("EPB interface id"))?;
                let data = body.get(20..20 + cap).ok_or(PcapError::Block("EPB data"))?;
                let ts = (hi << 32) | lo;
                let ts_sec = (ts / tps) as u32;
                // In u128: with if_tsresol finer than 1e-13 s the product
                // overflows u64 (a panic in debug builds, a wrong time else).
                let ts_usec = (u128::from(ts % tps) * 1_000_000 / u128::from(tps)) as u32;
                out.push(Record { ts_sec, ts_usec, link, data: data.to_vec() });
            }
            // Simple Packet Block.
            3 => {
                let (link, _) = *ifaces.first().ok_or(PcapError::Block("SPB without interface"))?;
                let orig = read_u32(body, 0, le).ok_or(PcapError::Block("SPB"))? as usize;
                let data = body.get(4..4 + orig.min(body.len().saturating_sub(4))).unwrap_or(&[]);
                out.push(Record { ts_sec: 0, ts_usec: 0, link, data: data.to_vec() });
            }
            _ => {}
        }
        off += blen;
    }
    Ok(out)
}

/// The `if_tsresol` option of an IDB (default: microseconds).
fn if_tsresol(mut opts: &[u8], le: bool) -> u64 {
    while opts.len() >= 4 {
        let code = read_u16(opts, 0, le).unwrap_or(0);
        let len = read_u16(opts, 2, le).unwrap_or(0) as usize;
        if code == 0 {
            break;
        }
        if code == 9 && len == 1 {
            let v = opts.get(4).copied().unwrap_or(6);
            let exp = u32::from(v & 0x7f).min(18);
            return if v & 0x80 != 0 { 1u64 << exp.min(63) } else { 10u64.pow(exp) };
        }
        let padded = 4 + len.div_ceil(4) * 4;
        opts = opts.get(padded..).unwrap_or(&[]);
    }
    1_000_000
}

/// Writes a classic pcap file (little endian, microseconds, snaplen 262144).
pub struct Writer<W: Write> {
    inner: W,
}

impl<W: Write> Writer<W> {
    pub fn new(mut inner: W, link: LinkType) -> io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&PCAP_MAGIC_US.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&262_144u32.to_le_bytes());
        h.extend_from_slice(&link.code().to_le_bytes());
        inner.write_all(&h)?;
        Ok(Writer { inner })
    }

    pub fn write(&mut self, ts_sec: u32, ts_usec: u32, data: &[u8]) -> io::Result<()> {
        let len = u32::try_from(data.len()).map_err(|_| io::Error::other("frame too large"))?;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&ts_sec.to_le_bytes());
        h[4..8].copy_from_slice(&ts_usec.to_le_bytes());
        h[8..12].copy_from_slice(&len.to_le_bytes());
        h[12..16].copy_from_slice(&len.to_le_bytes());
        self.inner.write_all(&h)?;
        self.inner.write_all(data)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn read_u32(b: &[u8], off: usize, le: bool) -> Option<u32> {
    let a: [u8; 4] = b.get(off..off.checked_add(4)?)?.try_into().ok()?;
    Some(if le { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) })
}

fn read_u16(b: &[u8], off: usize, le: bool) -> Option<u16> {
    let a: [u8; 2] = b.get(off..off.checked_add(2)?)?.try_into().ok()?;
    Some(if le { u16::from_le_bytes(a) } else { u16::from_be_bytes(a) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_round_trip() {
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, LinkType::Raw).unwrap();
        w.write(1, 2, &[0x45, 0, 0, 20]).unwrap();
        w.write(3, 4, &[0x60; 40]).unwrap();
        let recs = parse(&buf).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0], Record { ts_sec: 1, ts_usec: 2, link: LinkType::Raw, data: vec![0x45, 0, 0, 20] });
        assert_eq!(recs[1].data.len(), 40);
    }

    #[test]
    fn big_endian_nanosecond_pcap() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&PCAP_MAGIC_NS.to_be_bytes());
        buf.extend_from_slice(&[0, 2, 0, 4]);
        buf.extend_from_slice(&[0; 8]);
        buf.extend_from_slice(&65535u32.to_be_bytes());
        buf.extend_from_slice(&1u32.to_be_bytes());
        buf.extend_from_slice(&7u32.to_be_bytes());
        buf.extend_from_slice(&5_000u32.to_be_bytes());
        buf.extend_from_slice(&2u32.to_be_bytes());
        buf.extend_from_slice(&2u32.to_be_bytes());
        buf.extend_from_slice(&[0xaa, 0xbb]);
        let recs = parse(&buf).unwrap();
        assert_eq!(recs, vec![Record { ts_sec: 7, ts_usec: 5, link: LinkType::Ethernet, data: vec![0xaa, 0xbb] }]);
    }

    #[test]
    fn pcapng_enhanced_packets() {
        let mut b = Vec::new();
        // SHB: type, len 28, BOM, v1.0, section len -1, len.
        b.extend_from_slice(&PCAPNG_SHB.to_le_bytes());
        b.extend_from_slice(&28u32.to_le_bytes());
        b.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        b.extend_from_slice(&[1, 0, 0, 0]);
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        b.extend_from_slice(&28u32.to_le_bytes());
        // IDB: link 101, snaplen 0, no options.
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&20u32.to_le_bytes());
        b.extend_from_slice(&101u16.to_le_bytes());
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&20u32.to_le_bytes());
        // EPB with 3 bytes (padded to 4), ts = 2.5 s in microseconds.
        let ts: u64 = 2_500_000;
        b.extend_from_slice(&6u32.to_le_bytes());
        b.extend_from_slice(&36u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(ts as u32).to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&[1, 2, 3, 0]);
        b.extend_from_slice(&36u32.to_le_bytes());
        let recs = parse(&b).unwrap();
        assert_eq!(recs, vec![Record { ts_sec: 2, ts_usec: 500_000, link: LinkType::Raw, data: vec![1, 2, 3] }]);
    }

    #[test]
    fn pcapng_fine_timestamp_resolution_does_not_overflow() {
        // Found while writing the `pcap` fuzz target (which now has this
        // as a seed): if_tsresol 10^-18 s and a timestamp whose fraction
        // times 10^6 overflows u64.
        let mut b = Vec::new();
        b.extend_from_slice(&PCAPNG_SHB.to_le_bytes());
        b.extend_from_slice(&28u32.to_le_bytes());
        b.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        b.extend_from_slice(&[1, 0, 0, 0]);
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        b.extend_from_slice(&28u32.to_le_bytes());
        // IDB: link 101, option if_tsresol (9) = 18, end of options.
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&32u32.to_le_bytes());
        b.extend_from_slice(&101u16.to_le_bytes());
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&[9, 0, 1, 0, 18, 0, 0, 0, 0, 0, 0, 0]);
        b.extend_from_slice(&32u32.to_le_bytes());
        // EPB, 1.5e18 ticks = 1.5 s.
        let ts: u64 = 1_500_000_000_000_000_000;
        b.extend_from_slice(&6u32.to_le_bytes());
        b.extend_from_slice(&36u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(ts as u32).to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&[1, 2, 3, 0]);
        b.extend_from_slice(&36u32.to_le_bytes());
        let recs = parse(&b).unwrap();
        assert_eq!(recs, vec![Record { ts_sec: 1, ts_usec: 500_000, link: LinkType::Raw, data: vec![1, 2, 3] }]);
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        assert!(matches!(parse(b"hello world, no pcap"), Err(PcapError::BadMagic(_))));
        assert!(matches!(parse(&[0xd4, 0xc3]), Err(PcapError::Truncated(_))));
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, LinkType::Raw).unwrap();
        w.write(1, 2, &[0u8; 30]).unwrap();
        for cut in 25..buf.len() {
            assert!(parse(&buf[..cut]).is_err(), "cut at {cut}");
        }
    }
}
