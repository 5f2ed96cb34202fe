//! Classic pcap output through `pcap-file`: little endian, microsecond
//! timestamps, snap length 262144. Every tool reads it.

use std::io::{self, Write};
use std::time::Duration;

use byteorder::LittleEndian;
use pcap_file::pcap::{PcapHeader, PcapPacket};
use pcap_file::{DataLink, Endianness, TsResolution};

use super::file::LinkType;

const SNAPLEN: u32 = 262_144;

/// Writes a classic pcap file.
pub struct Writer<W: Write> {
    inner: W,
}

impl<W: Write> Writer<W> {
    /// Writes the file header.
    pub fn new(mut inner: W, link: LinkType) -> io::Result<Self> {
        let header = PcapHeader {
            snaplen: SNAPLEN,
            datalink: DataLink::from(link.code()),
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::Little,
            ..PcapHeader::default()
        };
        header.write_to(&mut inner).map_err(into_io)?;
        Ok(Writer { inner })
    }

    /// Appends one frame, captured whole.
    pub fn write(&mut self, ts_sec: u32, ts_usec: u32, data: &[u8]) -> io::Result<()> {
        let len = u32::try_from(data.len()).map_err(|_| io::Error::other("frame too large"))?;
        let ts = Duration::from_secs(ts_sec.into()) + Duration::from_micros(ts_usec.into());
        let packet = PcapPacket::new(ts, len, data);
        packet.write_to::<_, LittleEndian>(&mut self.inner, TsResolution::MicroSecond, SNAPLEN).map_err(into_io)?;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn into_io(e: pcap_file::PcapError) -> io::Error {
    match e {
        pcap_file::PcapError::IoError(e) => e,
        e => io::Error::other(e.to_string()),
    }
}
