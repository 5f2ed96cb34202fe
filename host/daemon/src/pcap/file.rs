//! Capture files read as a stream of [`Record`]s: classic pcap
//! ([`super::classic`]) or pcapng ([`super::ng`]), told apart by the first
//! four bytes. Output ([`super::writer`]) is always classic pcap.

use std::io::{self, Cursor, Read};

use super::classic::ClassicReader;
use super::ng::NgReader;

pub use super::record::{LinkType, PcapError, Record};

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;

/// The input as `pcap-file` reads it: the sniffed magic put back in front.
type Input<R> = io::Chain<Cursor<[u8; 4]>, R>;

/// The records of a pcap or pcapng file, read one at a time.
pub enum Reader<R: Read> {
    Classic(ClassicReader<Input<R>>),
    Ng(NgReader<Input<R>>),
}

/// Opens a capture: reads its magic and file (or first section) header.
pub fn open<R: Read>(mut r: R) -> Result<Reader<R>, PcapError> {
    let mut magic = [0u8; 4];
    read_magic(&mut r, &mut magic)?;
    let input = Cursor::new(magic).chain(r);
    let magic_le = u32::from_le_bytes(magic);
    if magic_le == PCAPNG_SHB {
        return Ok(Reader::Ng(NgReader::new(input)?));
    }
    let known = [PCAP_MAGIC_US, PCAP_MAGIC_NS];
    if !known.contains(&magic_le) && !known.contains(&magic_le.swap_bytes()) {
        return Err(PcapError::BadMagic(magic_le));
    }
    Ok(Reader::Classic(ClassicReader::new(input)?))
}

fn read_magic(r: &mut impl Read, magic: &mut [u8; 4]) -> Result<(), PcapError> {
    match r.read_exact(magic) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(PcapError::Truncated("file header")),
        other => Ok(other?),
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Record, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Reader::Classic(r) => r.next(),
            Reader::Ng(r) => r.next(),
        }
    }
}

/// Reads every record of a pcap or pcapng file.
pub fn read_all(r: impl Read) -> Result<Vec<Record>, PcapError> {
    open(r)?.collect()
}

/// Parses a whole capture held in memory.
pub fn parse(buf: &[u8]) -> Result<Vec<Record>, PcapError> {
    read_all(buf)
}

#[cfg(test)]
mod tests {
    use super::super::Writer;
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
    fn writer_header_is_le_microseconds_snaplen_262144() {
        let mut buf = Vec::new();
        Writer::new(&mut buf, LinkType::Ethernet).unwrap();
        assert_eq!(&buf[..4], &PCAP_MAGIC_US.to_le_bytes());
        assert_eq!(&buf[4..8], &[2, 0, 4, 0]);
        assert_eq!(&buf[16..20], &262_144u32.to_le_bytes());
        assert_eq!(&buf[20..24], &1u32.to_le_bytes());
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
    fn original_length_beyond_snaplen_is_read() {
        // `tcpdump -s 4`: 4 bytes kept of a 60-byte packet.
        let mut buf = Vec::new();
        buf.extend_from_slice(&PCAP_MAGIC_US.to_le_bytes());
        buf.extend_from_slice(&[2, 0, 4, 0]);
        buf.extend_from_slice(&[0; 8]);
        buf.extend_from_slice(&4u32.to_le_bytes());
        buf.extend_from_slice(&101u32.to_le_bytes());
        for v in [1u32, 2, 4, 60] {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        buf.extend_from_slice(&[0x45, 0, 0, 60]);
        let recs = parse(&buf).unwrap();
        assert_eq!(recs, vec![Record { ts_sec: 1, ts_usec: 2, link: LinkType::Raw, data: vec![0x45, 0, 0, 60] }]);
    }

    /// A little-endian pcapng block: type, total length, body, length.
    fn ng_block(btype: u32, body: &[u8]) -> Vec<u8> {
        let len = (12 + body.len()) as u32;
        let mut b = Vec::new();
        b.extend_from_slice(&btype.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.extend_from_slice(&len.to_le_bytes());
        b
    }

    /// Section header, one raw-IP interface with `idb_options`, and one
    /// enhanced packet block of 3 bytes stamped `ts` ticks.
    fn pcapng_one_packet(idb_options: &[u8], ts: u64) -> Vec<u8> {
        // SHB: BOM, v1.0, section length -1.
        let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        shb.extend_from_slice(&[1, 0, 0, 0]);
        shb.extend_from_slice(&u64::MAX.to_le_bytes());
        // IDB: link 101, snaplen 0.
        let mut idb = 101u16.to_le_bytes().to_vec();
        idb.extend_from_slice(&[0; 6]);
        idb.extend_from_slice(idb_options);
        // EPB: interface 0, timestamp high and low, lengths 3, data padded.
        let mut epb = Vec::new();
        for v in [0, (ts >> 32) as u32, ts as u32, 3, 3] {
            epb.extend_from_slice(&v.to_le_bytes());
        }
        epb.extend_from_slice(&[1, 2, 3, 0]);
        [ng_block(PCAPNG_SHB, &shb), ng_block(1, &idb), ng_block(6, &epb)].concat()
    }

    #[test]
    fn pcapng_enhanced_packets() {
        // 2.5 s in the default microseconds.
        let recs = parse(&pcapng_one_packet(&[], 2_500_000)).unwrap();
        assert_eq!(recs, vec![Record { ts_sec: 2, ts_usec: 500_000, link: LinkType::Raw, data: vec![1, 2, 3] }]);
    }

    #[test]
    fn pcapng_fine_timestamp_resolution_does_not_overflow() {
        // Found while writing the `pcap` fuzz target (which now has this
        // as a seed): if_tsresol 10^-18 s and a timestamp whose fraction
        // times 10^6 overflows u64. 1.5e18 ticks = 1.5 s.
        let tsresol_18 = [9, 0, 1, 0, 18, 0, 0, 0, 0, 0, 0, 0];
        let recs = parse(&pcapng_one_packet(&tsresol_18, 1_500_000_000_000_000_000)).unwrap();
        assert_eq!(recs, vec![Record { ts_sec: 1, ts_usec: 500_000, link: LinkType::Raw, data: vec![1, 2, 3] }]);
    }

    #[test]
    fn pcapng_simple_packet_stops_at_original_length() {
        let mut b = pcapng_one_packet(&[], 0);
        let mut spb = 2u32.to_le_bytes().to_vec();
        spb.extend_from_slice(&[7, 8, 0, 0]);
        b.extend_from_slice(&ng_block(3, &spb));
        let recs = parse(&b).unwrap();
        assert_eq!(recs[1], Record { ts_sec: 0, ts_usec: 0, link: LinkType::Raw, data: vec![7, 8] });
    }

    #[test]
    fn pcapng_unknown_interface_and_link_type_are_errors() {
        let mut b = pcapng_one_packet(&[], 0);
        // EPB for interface 5.
        let mut epb = Vec::new();
        for v in [5u32, 0, 0, 0, 0] {
            epb.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&ng_block(6, &epb));
        assert!(matches!(parse(&b), Err(PcapError::Block(_))));
        let mut b = pcapng_one_packet(&[], 0);
        b.extend_from_slice(&ng_block(1, &[0xff, 0xff, 0, 0, 0, 0, 0, 0]));
        assert!(matches!(parse(&b), Err(PcapError::LinkType(0xffff))));
    }

    #[test]
    fn records_stream_one_at_a_time() {
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, LinkType::Raw).unwrap();
        w.write(1, 0, &[1]).unwrap();
        w.write(2, 0, &[2]).unwrap();
        // A truncated third record: the first two still come out.
        buf.extend_from_slice(&[0; 10]);
        let mut r = open(&buf[..]).unwrap();
        assert_eq!(r.next().unwrap().unwrap().data, vec![1]);
        assert_eq!(r.next().unwrap().unwrap().data, vec![2]);
        assert!(matches!(r.next(), Some(Err(PcapError::Truncated(_)))));
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        assert!(matches!(parse(b"hello world, no pcap"), Err(PcapError::BadMagic(_))));
        assert!(matches!(parse(&[0xd4, 0xc3]), Err(PcapError::Truncated(_))));
        let mut buf = Vec::new();
        let mut w = Writer::new(&mut buf, LinkType::Raw).unwrap();
        w.write(1, 2, &[0u8; 30]).unwrap();
        // Cut anywhere but after the file header (no records: fine).
        for cut in (4..buf.len()).filter(|&c| c != 24) {
            assert!(parse(&buf[..cut]).is_err(), "cut at {cut}");
        }
        // Likewise after the section header (28) and the interface (48).
        let ng = pcapng_one_packet(&[], 0);
        for cut in (4..ng.len()).filter(|c| ![28, 48].contains(c)) {
            assert!(parse(&ng[..cut]).is_err(), "pcapng cut at {cut}");
        }
    }
}
