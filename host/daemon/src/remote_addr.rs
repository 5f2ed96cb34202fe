//! A `[[conn]] remote`: an IP address, or a DNS name resolved when it is
//! read (at start and at every reload).
use std::net::IpAddr;

use anyhow::{bail, Result};

/// `remote`: an IP address, or a DNS name resolved now (at start and at
/// every reload), preferring an address of our own address's family.
pub fn remote_addr(r: &str, local: IpAddr) -> Result<IpAddr> {
    if let Ok(a) = r.parse::<IpAddr>() {
        return Ok(a);
    }
    let looks_like_name = !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') && r.chars().any(|c| c.is_ascii_alphabetic());
    if !looks_like_name {
        bail!("remote = {r:?}: expected an IP address, a DNS name or \"any\"");
    }
    use std::net::ToSocketAddrs;
    let addrs: Vec<IpAddr> = (r, 0u16)
        .to_socket_addrs()
        .map_err(|e| anyhow::anyhow!("remote = {r:?}: resolving the DNS name failed: {e}"))?
        .map(|a| a.ip())
        .collect();
    let pick = addrs.iter().find(|a| a.is_ipv4() == local.is_ipv4()).or(addrs.first()).copied();
    let a = pick.ok_or_else(|| anyhow::anyhow!("remote = {r:?}: the DNS name has no address"))?;
    tracing::info!("remote = {r:?} resolved to {a}");
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_is_an_address_or_a_resolvable_name() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(remote_addr("192.0.2.2", local).unwrap(), "192.0.2.2".parse::<IpAddr>().unwrap());
        assert!(remote_addr("localhost", local).unwrap().is_loopback());
        let e = remote_addr("no-such-host.invalid", local).unwrap_err().to_string();
        assert!(e.starts_with("remote = \"no-such-host.invalid\": resolving the DNS name failed"), "{e}");
        let e = remote_addr("192.0.2.300/24", local).unwrap_err().to_string();
        assert!(e.contains("expected an IP address, a DNS name or \"any\""), "{e}");
    }
}
