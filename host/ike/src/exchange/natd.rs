//! NAT detection (RFC 7296 §2.23): SHA-1(SPIi | SPIr | IP | port).
use std::net::{IpAddr, SocketAddr};

use aws_lc_rs::digest;

use crate::types::IkeSpi;

pub(crate) fn hash(spi_i: IkeSpi, spi_r: IkeSpi, a: SocketAddr) -> Vec<u8> {
    let mut c = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    c.update(&spi_i.0);
    c.update(&spi_r.0);
    match a.ip() {
        IpAddr::V4(v) => c.update(&v.octets()),
        IpAddr::V6(v) => c.update(&v.octets()),
    }
    c.update(&a.port().to_be_bytes());
    c.finish().as_ref().to_vec()
}
