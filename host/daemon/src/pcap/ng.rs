//! pcapng read as a stream through `pcap-file`: section headers (either
//! byte order), interface descriptions with `if_tsresol`, enhanced and
//! simple packet blocks. Other blocks are skipped unparsed.

use std::io::Read;

use byteorder::{BigEndian, ByteOrder, LittleEndian};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
use pcap_file::pcapng::blocks::simple_packet::SimplePacketBlock;
use pcap_file::pcapng::{PcapNgBlock, PcapNgReader, RawBlock};
use pcap_file::Endianness;

use super::record::{from_lib, LinkType, PcapError, Record};

const IDB: u32 = 1;
const SPB: u32 = 3;
const EPB: u32 = 6;

/// The packets of one pcapng file, one at a time.
pub struct NgReader<R: Read> {
    inner: PcapNgReader<R>,
}

impl<R: Read> NgReader<R> {
    /// Reads the first section header block.
    pub fn new(r: R) -> Result<Self, PcapError> {
        Ok(NgReader { inner: PcapNgReader::new(r).map_err(|e| from_lib(e, "section header"))? })
    }

    fn next_record(&mut self) -> Option<Result<Record, PcapError>> {
        loop {
            // A section header in this very block changes the byte order,
            // but only for the blocks after it.
            let endianness = self.inner.section().endianness;
            let block = match self.inner.next_raw_block()? {
                Ok(raw) => match endianness {
                    Endianness::Big => Packet::from_raw::<BigEndian>(&raw),
                    Endianness::Little => Packet::from_raw::<LittleEndian>(&raw),
                },
                Err(e) => Err(from_lib(e, "block")),
            };
            let out = match block {
                Ok(Packet::Interface) => match self.inner.interfaces().last() {
                    Some(idb) => interface(idb).map(|_| None),
                    None => Err(PcapError::Block("IDB")),
                },
                Ok(Packet::Other) => Ok(None),
                Ok(p) => self.record(p).map(Some),
                Err(e) => Err(e),
            };
            match out {
                Ok(None) => continue,
                Ok(Some(rec)) => return Some(Ok(rec)),
                Err(e) => return Some(Err(e)),
            }
        }
    }

    fn record(&self, p: Packet) -> Result<Record, PcapError> {
        match p {
            Packet::Enhanced { interface_id, ticks, data } => {
                let idb = self.inner.interfaces().get(interface_id as usize);
                let (link, tps) = interface(idb.ok_or(PcapError::Block("EPB interface id"))?)?;
                let ts_sec = (ticks / tps) as u32;
                // In u128: with if_tsresol finer than 1e-13 s the product
                // overflows u64 (a panic in debug builds, a wrong time else).
                let ts_usec = (u128::from(ticks % tps) * 1_000_000 / u128::from(tps)) as u32;
                Ok(Record { ts_sec, ts_usec, link, data })
            }
            Packet::Simple { data } => {
                let idb = self.inner.interfaces().first();
                let (link, _) = interface(idb.ok_or(PcapError::Block("SPB without interface"))?)?;
                Ok(Record { ts_sec: 0, ts_usec: 0, link, data })
            }
            Packet::Interface | Packet::Other => Err(PcapError::Block("not a packet block")),
        }
    }
}

/// What one block contributes, taken out of the reader's buffer.
enum Packet {
    Enhanced { interface_id: u32, ticks: u64, data: Vec<u8> },
    Simple { data: Vec<u8> },
    Interface,
    Other,
}

impl Packet {
    fn from_raw<B: ByteOrder>(raw: &RawBlock) -> Result<Packet, PcapError> {
        Ok(match raw.type_ {
            IDB => Packet::Interface,
            EPB => {
                let (_, epb) = EnhancedPacketBlock::from_slice::<B>(&raw.body).map_err(|e| from_lib(e, "EPB"))?;
                // `pcap-file` keeps the raw tick count as nanoseconds.
                let ticks = u64::try_from(epb.timestamp.as_nanos()).map_err(|_| PcapError::Block("EPB timestamp"))?;
                Packet::Enhanced { interface_id: epb.interface_id, ticks, data: epb.data.into_owned() }
            }
            SPB => {
                let (_, spb) = SimplePacketBlock::from_slice::<B>(&raw.body).map_err(|e| from_lib(e, "SPB"))?;
                // The block body runs to a 32-bit boundary; the packet is
                // at most its original length.
                let len = spb.data.len().min(spb.original_len as usize);
                Packet::Simple { data: spb.data[..len].to_vec() }
            }
            _ => Packet::Other,
        })
    }
}

impl<R: Read> Iterator for NgReader<R> {
    type Item = Result<Record, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record()
    }
}

/// An interface's link type and its timestamp ticks per second.
fn interface(idb: &InterfaceDescriptionBlock) -> Result<(LinkType, u64), PcapError> {
    let code = u32::from(idb.linktype);
    let link = LinkType::from_code(code).ok_or(PcapError::LinkType(code))?;
    let tsresol = idb.options.iter().find_map(|o| match o {
        InterfaceDescriptionOption::IfTsResol(v) => Some(*v),
        _ => None,
    });
    Ok((link, tsresol.map_or(1_000_000, ticks_per_second)))
}

/// `if_tsresol` (RFC draft-ietf-opsawg-pcapng §4.2): a power of ten, or of
/// two with the top bit set. Exponents beyond what a u64 holds are clamped.
fn ticks_per_second(v: u8) -> u64 {
    let exp = u32::from(v & 0x7f);
    if v & 0x80 != 0 {
        1u64 << exp.min(63)
    } else {
        10u64.pow(exp.min(18))
    }
}

#[cfg(test)]
mod tests {
    use super::ticks_per_second;

    #[test]
    fn tsresol_powers() {
        assert_eq!(ticks_per_second(6), 1_000_000);
        assert_eq!(ticks_per_second(9), 1_000_000_000);
        assert_eq!(ticks_per_second(0x80 | 10), 1024);
        assert_eq!(ticks_per_second(127), 10u64.pow(18));
        assert_eq!(ticks_per_second(0xff), 1 << 63);
    }
}
