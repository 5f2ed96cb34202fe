//! Building a [`Netstack`] from its configuration.

use super::*;

impl Netstack {
    /// Build the interface, bind every OS listener of `cfg`.
    pub fn new(cfg: NetstackConfig) -> io::Result<Self> {
        if cfg.addresses.is_empty() {
            return Err(invalid("netstack needs at least one inner address".into()));
        }
        if cfg.mtu < 1280 && cfg.addresses.iter().any(|(a, _)| a.is_ipv6()) {
            return Err(invalid(format!(
                "mtu {} is below IPv6's minimum 1280 (RFC 8200 §5)",
                cfg.mtu
            )));
        }
        if cfg.mtu < 576 {
            return Err(invalid(format!("mtu {} is below 576", cfg.mtu)));
        }
        let epoch = Instant::now();
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(epoch.elapsed().as_nanos());
            h.finish()
        };
        let mut device = InnerDevice::new(cfg.packet_queue, cfg.mtu);
        let mut icfg = Config::new(HardwareAddress::Ip);
        icfg.random_seed = seed;
        let mut iface = Interface::new(icfg, &mut device, smoltcp::time::Instant::ZERO);
        let (v4, v6) = check_addresses(&cfg.addresses)?;
        iface.update_ip_addrs(|addrs| {
            for (addr, prefix) in &cfg.addresses {
                let _ = addrs.push(IpCidr::new(IpAddress::from(*addr), *prefix));
            }
        });
        default_routes(&mut iface, v4, v6)?;
        let family_ok = |ip: IpAddr| {
            if ip.is_ipv4() {
                v4.is_some()
            } else {
                v6.is_some()
            }
        };

        let poll = mio::Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        let mut listeners = Vec::new();
        let mut udp = Vec::new();
        for f in &cfg.forwards {
            if !family_ok(f.remote.ip()) {
                return Err(invalid(format!(
                    "forward to {} needs an inner address of the same family",
                    f.remote
                )));
            }
            match f.proto {
                Proto::Tcp => {
                    let mut l = mio::net::TcpListener::bind(f.listen)?;
                    poll.registry().register(
                        &mut l,
                        Token(LISTENER_BASE + listeners.len()),
                        Interest::READABLE,
                    )?;
                    listeners.push(OsListener {
                        listener: l,
                        kind: ListenerKind::Forward(f.remote),
                        readable: true,
                    });
                }
                Proto::Udp => {
                    let mut s = mio::net::UdpSocket::bind(f.listen)?;
                    poll.registry().register(
                        &mut s,
                        Token(UDP_BASE + udp.len()),
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    udp.push(UdpForward::new(s, f.remote));
                }
            }
        }
        if let Some(addr) = cfg.socks5 {
            let mut l = mio::net::TcpListener::bind(addr)?;
            poll.registry().register(
                &mut l,
                Token(LISTENER_BASE + listeners.len()),
                Interest::READABLE,
            )?;
            listeners.push(OsListener {
                listener: l,
                kind: ListenerKind::Socks5,
                readable: true,
            });
        }
        let mut exposes = Vec::new();
        let mut sockets = SocketSet::new(Vec::new());
        let mut udp_exposes = Vec::new();
        for e in &cfg.exposes {
            if e.port == 0 {
                return Err(invalid("expose port 0".into()));
            }
            if e.proto == Proto::Udp {
                udp_exposes.push(UdpExpose::new(e.port, e.local, &mut sockets)?);
                continue;
            }
            exposes.push(ExposePort {
                port: e.port,
                local: e.local,
                listening: Vec::new(),
            });
        }
        let mut ns = Netstack {
            epoch,
            iface,
            device,
            sockets,
            udp_exposes,
            poll,
            events: Events::with_capacity(256),
            waker,
            scratch: vec![0; 65536],
            cfg,
            listeners,
            exposes,
            conns: Vec::new(),
            free: Vec::new(),
            live: 0,
            closing: Vec::new(),
            udp,
            ports: PortAllocator::new(seed),
            stats: NetstackStats::default(),
        };
        ns.replenish_listeners(epoch);
        Ok(ns)
    }
}

/// At least one address, at most one per family, sane prefixes.
pub(super) fn check_addresses(
    addresses: &[(IpAddr, u8)],
) -> io::Result<(Option<std::net::Ipv4Addr>, Option<std::net::Ipv6Addr>)> {
    if addresses.is_empty() {
        return Err(invalid("netstack needs at least one inner address".into()));
    }
    let mut v4 = None;
    let mut v6 = None;
    for (addr, prefix) in addresses {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if *prefix > max {
            return Err(invalid(format!("prefix /{prefix} too long for {addr}")));
        }
        if addr.is_unspecified() || addr.is_multicast() {
            return Err(invalid(format!("{addr} cannot be an interface address")));
        }
        match addr {
            IpAddr::V4(a) if v4.is_none() => v4 = Some(*a),
            IpAddr::V6(a) if v6.is_none() => v6 = Some(*a),
            _ => {
                return Err(invalid(format!(
                    "at most one IPv4 and one IPv6 address ({addr})"
                )))
            }
        }
    }
    Ok((v4, v6))
}

/// Everything not on-link goes out through the data plane. With medium IP
/// the gateway is only a placeholder, so it is our own address.
pub(super) fn default_routes(
    iface: &mut Interface,
    v4: Option<std::net::Ipv4Addr>,
    v6: Option<std::net::Ipv6Addr>,
) -> io::Result<()> {
    if let Some(a) = v4 {
        iface
            .routes_mut()
            .add_default_ipv4_route(a)
            .map_err(|_| invalid("route table full".into()))?;
    }
    if let Some(a) = v6 {
        iface
            .routes_mut()
            .add_default_ipv6_route(a)
            .map_err(|_| invalid("route table full".into()))?;
    }
    Ok(())
}
