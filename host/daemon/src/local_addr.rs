//! Our outer address when `outer.listen` binds every address
//! (`"0.0.0.0:4500"`, `"[::]:4500"`): the socket stays bound to any
//! address, and the one address inbound SAs are addressed to (and IKE
//! speaks from) is `[ike] local`, else the source the kernel's routing
//! picks towards the first peer (a `[[conn]]` remote), else the end of a
//! static SA that is ours, else `[tun] source`. One outer address per
//! instance: a multi-homed host sets `[ike] local`.
use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, Result};
use socket2::{Domain, Socket, Type};

use crate::config::Config;

/// The source address the kernel would use towards `peer` (a connected UDP
/// socket sends nothing). `fwmark`: route as esprit's outer packets do.
pub fn source_for(peer: IpAddr, fwmark: Option<u32>) -> std::io::Result<IpAddr> {
    let s = Socket::new(Domain::for_address(SocketAddr::new(peer, 9)), Type::DGRAM, None)?;
    if let Some(m) = fwmark {
        // Without CAP_NET_ADMIN the main table's answer is as good.
        let _ = s.set_mark(m);
    }
    s.connect(&SocketAddr::new(peer, 9).into())?;
    let local = s.local_addr()?.as_socket().map(|a| a.ip());
    local.ok_or_else(|| std::io::Error::other("no local address"))
}

/// Whether `a` is an address of this host (it can be bound).
fn is_local(a: IpAddr) -> bool {
    std::net::UdpSocket::bind(SocketAddr::new(a, 0)).is_ok()
}

/// Our outer address (see the module doc); `static_peers` are the
/// addresses of the static SAs (ours and the peers').
pub fn outer_local(cfg: &Config, static_peers: &[IpAddr]) -> Result<IpAddr> {
    let listen = cfg.outer.listen.ip();
    if !listen.is_unspecified() {
        return Ok(listen);
    }
    if let Some(a) = cfg.ike.as_ref().and_then(|i| i.local) {
        return Ok(a);
    }
    let fwmark = (cfg.mode == crate::config::Mode::Tun).then(|| cfg.instance_ids().fwmark);
    let family = |a: &IpAddr| a.is_ipv4() == listen.is_ipv4();
    let conn_peers = cfg.conn.iter().filter(|c| !matches!(c.remote.as_str(), "any" | "%any")).filter_map(|c| crate::remote_addr::remote_addr(&c.remote, listen).ok());
    for peer in conn_peers.filter(family) {
        if let Ok(a) = source_for(peer, fwmark) {
            return Ok(a);
        }
    }
    // Static SAs: one end is ours.
    if let Some(a) = static_peers.iter().copied().filter(family).find(|a| is_local(*a)) {
        return Ok(a);
    }
    // Last: `[tun] source` (in tunnel mode an inner address, so after the routes).
    if let Some(a) = cfg.tun.as_ref().and_then(|t| t.source) {
        return Ok(a);
    }
    bail!(
        "{}: outer.listen = \"{}\" binds every address, but no peer tells which one is ours: set [ike] local = \"192.0.2.1\" (or tun.source, or a concrete outer.listen)",
        cfg.path.display(),
        cfg.outer.listen
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_to_loopback_comes_from_loopback() {
        assert!(source_for("127.0.0.1".parse().unwrap(), None).unwrap().is_loopback());
    }

    #[test]
    fn any_address_takes_ours_from_a_static_sa() {
        let cfg = Config::parse(std::path::Path::new("x.toml"), "mode = \"netstack\"\n[outer]\nlisten = \"0.0.0.0:4500\"\n[netstack]\naddress = [\"10.0.0.1/32\"]\n").unwrap();
        let sa_ends = ["192.0.2.200".parse().unwrap(), "127.0.0.1".parse().unwrap()];
        assert_eq!(outer_local(&cfg, &sa_ends).unwrap(), "127.0.0.1".parse::<IpAddr>().unwrap());
        let e = outer_local(&cfg, &[]).unwrap_err().to_string();
        assert!(e.contains("binds every address") && e.contains("[ike] local"), "{e}");
    }
}
