//! What every capture reader yields and fails with: the link type, one
//! record, the error (shared by [`super::classic`], [`super::ng`] and
//! [`super::file`], which picks between them).

use std::io;

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
    #[error("malformed capture ({0}): {1}")]
    Format(&'static str, &'static str),
}

/// A `pcap-file` error, with what was being read.
pub(super) fn from_lib(e: pcap_file::PcapError, what: &'static str) -> PcapError {
    use pcap_file::PcapError as E;
    match e {
        E::IncompleteBuffer => PcapError::Truncated(what),
        E::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof => PcapError::Truncated(what),
        E::IoError(e) => PcapError::Io(e),
        E::InvalidField(field) => PcapError::Format(what, field),
        E::Utf8Error(_) | E::FromUtf8Error(_) => PcapError::Format(what, "text option is not UTF-8"),
        E::InvalidInterfaceId(_) => PcapError::Block("EPB interface id"),
    }
}
