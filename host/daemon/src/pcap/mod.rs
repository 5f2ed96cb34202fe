//! Capture files: pcap/pcapng I/O and link-layer framing, used by
//! `esprit pcap` and by the daemon's `--pcap-inner`/`--pcap-outer`.

pub mod file;
pub mod link;
pub mod udp_encap;

pub use file::{LinkType, Record, Writer};
