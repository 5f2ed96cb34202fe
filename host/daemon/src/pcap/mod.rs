//! Capture files: pcap/pcapng I/O and link-layer framing, used by
//! `esprit pcap` and by the daemon's `--pcap-inner`/`--pcap-outer`.

mod classic;
pub mod file;
pub mod link;
mod ng;
mod record;
pub mod udp_encap;
mod writer;

pub use file::{LinkType, Reader, Record};
pub use writer::Writer;
