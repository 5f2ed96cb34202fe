//! Classic pcap read as a stream through `pcap-file`: both byte orders,
//! micro- and nanosecond timestamps.
//!
//! Records are taken raw (`next_raw_packet`): `pcap-file`'s checked packets
//! reject an original length above the snap length, which every capture
//! made with `tcpdump -s N` has.

use std::io::Read;

use pcap_file::pcap::PcapReader;
use pcap_file::TsResolution;

use super::record::{from_lib, LinkType, PcapError, Record};

/// The records of one classic pcap file, one at a time.
pub struct ClassicReader<R: Read> {
    inner: PcapReader<R>,
    link: LinkType,
    nanos: bool,
}

impl<R: Read> ClassicReader<R> {
    /// Reads the 24-byte file header.
    pub fn new(r: R) -> Result<Self, PcapError> {
        let inner = PcapReader::new(r).map_err(|e| from_lib(e, "file header"))?;
        let header = inner.header();
        // The upper bits of the link type carry FCS information.
        let code = u32::from(header.datalink);
        let link = LinkType::from_code(code & 0x0fff_ffff).ok_or(PcapError::LinkType(code))?;
        let nanos = header.ts_resolution == TsResolution::NanoSecond;
        Ok(ClassicReader { inner, link, nanos })
    }

    /// The link type of every record of the file.
    pub fn link(&self) -> LinkType {
        self.link
    }
}

impl<R: Read> Iterator for ClassicReader<R> {
    type Item = Result<Record, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        let raw = match self.inner.next_raw_packet()? {
            Ok(raw) => raw,
            Err(e) => return Some(Err(from_lib(e, "record"))),
        };
        let ts_usec = if self.nanos { raw.ts_frac / 1000 } else { raw.ts_frac };
        Some(Ok(Record { ts_sec: raw.ts_sec, ts_usec, link: self.link, data: raw.data.into_owned() }))
    }
}
