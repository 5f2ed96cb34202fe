//! IKE_SA_INIT (RFC 7296 §1.2): proposals, key exchange, nonces, NAT
//! detection, COOKIE (§2.6) and INVALID_KE_PAYLOAD (§1.2) retries.
use std::net::SocketAddr;

use tracing::{info, warn};

use crate::dh::KeyExchange;
use crate::exchange::{error_notify, natd, notify};
use crate::ike_sa::state::{KeyInputs, KeyState, Keyed};
use crate::ike_sa::{Ctx, IkeSa, IkeState, Pending};
use crate::message::{Header, Notify, Payload};
use crate::proposal::{describe, ike_algs};
use crate::types::{notify as n, ExchangeType, IkeSpi};

/// RFC 7427 §4: SHA2-256 (2), SHA2-384 (3), SHA2-512 (4), Identity (5).
fn signature_hash_algorithms() -> Payload {
    Payload::Notify(Notify::new(n::SIGNATURE_HASH_ALGORITHMS, vec![0, 2, 0, 3, 0, 4, 0, 5]))
}

impl IkeSa {
    fn sa_init_request_payloads(&mut self, ctx: &mut Ctx<'_>) -> Vec<Payload> {
        let conn = &ctx.peers[self.peer];
        let props: Vec<_> = conn.ike.iter().enumerate().map(|(i, p)| p.to_proposal(i as u8 + 1, Vec::new(), true)).collect();
        let mut ps = Vec::new();
        if let Some(c) = &self.cookie {
            ps.push(Payload::Notify(Notify::new(n::COOKIE, c.clone())));
        }
        ps.push(Payload::Sa(props));
        if let Some(ke) = self.key_state.pending_ke() {
            ps.push(Payload::Ke { group: ke.group(), data: ke.public().to_vec() });
        }
        ps.push(Payload::Nonce(self.ni.clone()));
        ps.push(Payload::Notify(Notify::new(n::NAT_DETECTION_SOURCE_IP, natd::hash(self.spi_i, IkeSpi::ZERO, self.local))));
        ps.push(Payload::Notify(Notify::new(n::NAT_DETECTION_DESTINATION_IP, natd::hash(self.spi_i, IkeSpi::ZERO, self.remote))));
        ps.push(signature_hash_algorithms());
        ps.push(Payload::Notify(Notify::new(n::IKEV2_FRAGMENTATION_SUPPORTED, Vec::new())));
        ps
    }

    /// Initiator: sends IKE_SA_INIT with a KE for `group`.
    pub(crate) fn start_sa_init(&mut self, ctx: &mut Ctx<'_>, group: u16, child: Option<usize>) {
        self.dh_group = group;
        match KeyExchange::new(group, ctx.rng) {
            Ok(k) => self.key_state.start_key_exchange(k),
            Err(e) => {
                self.die(ctx, &format!("cannot start key exchange: {e}"));
                return;
            }
        }
        if self.ni.is_empty() {
            self.ni = ctx.nonce();
        }
        self.next_mid = 0;
        let ps = self.sa_init_request_payloads(ctx);
        self.send_request(ctx, ExchangeType::IkeSaInit, &ps, Pending::SaInit { child });
        if let Some(f) = &self.in_flight {
            self.init_request = f.datagrams.concat();
        }
    }

    /// Initiator: the IKE_SA_INIT response.
    pub(crate) fn handle_sa_init_response(&mut self, ctx: &mut Ctx<'_>, hdr: &Header, ps: &[Payload], raw: &[u8], child: Option<usize>) {
        let conn_name = ctx.peers[self.peer].name.clone();
        if let Some(c) = notify(ps, n::COOKIE) {
            info!(conn = %conn_name, "responder demands a cookie; retrying IKE_SA_INIT with it");
            self.cookie = Some(c.data.clone());
            let g = self.dh_group;
            self.start_sa_init(ctx, g, child);
            return;
        }
        if let Some(e) = notify(ps, n::INVALID_KE_PAYLOAD) {
            let want = if e.data.len() == 2 { u16::from_be_bytes([e.data[0], e.data[1]]) } else { 0 };
            let offered = ctx.peers[self.peer].ike.iter().any(|p| p.dh.contains(&want));
            ctx.stats.invalid_ke += 1;
            if offered && want != self.dh_group {
                info!(conn = %conn_name, "responder wants key exchange group {} ({}); retrying", want, crate::proposal::group_name(want));
                self.start_sa_init(ctx, want, child);
            } else {
                self.die(ctx, &format!("responder asked for key exchange group {want}, which we did not offer"));
            }
            return;
        }
        if let Some(e) = error_notify(ps) {
            if e.ntype == n::NO_PROPOSAL_CHOSEN {
                let ours: Vec<_> = ctx.peers[self.peer].ike.iter().map(|p| p.text.clone()).collect();
                ctx.stats.no_proposal += 1;
                warn!(conn = %conn_name, "peer {} accepted none of our IKE proposals (we offered: {})", self.remote, ours.join(", "));
            }
            let why = format!("peer answered IKE_SA_INIT with {}", n::name(e.ntype));
            self.die(ctx, &why);
            return;
        }
        let sa = ps.iter().find_map(|p| if let Payload::Sa(s) = p { Some(s) } else { None });
        let ke = ps.iter().find_map(|p| if let Payload::Ke { group, data } = p { Some((*group, data)) } else { None });
        let nonce = ps.iter().find_map(|p| if let Payload::Nonce(x) = p { Some(x) } else { None });
        let (Some(sa), Some((group, ke_data)), Some(nonce)) = (sa, ke, nonce) else {
            ctx.stats.malformed += 1;
            self.die(ctx, "IKE_SA_INIT response lacks SA, KE or Nonce");
            return;
        };
        // The responder must pick one of our proposals, unchanged.
        let chosen = match sa.as_slice() {
            [one] => ctx.peers[self.peer].ike.iter().find_map(|spec| spec.select(one, true)).and_then(|p| ike_algs(&p)),
            _ => None,
        };
        let Some(algs) = chosen.filter(|a| a.dh == group && group == self.dh_group) else {
            ctx.stats.malformed += 1;
            self.die(ctx, "responder chose a proposal we did not offer");
            return;
        };
        self.spi_r = hdr.spi_r;
        self.nr = nonce.clone();
        self.init_response = raw.to_vec();
        self.peer_fragmentation = notify(ps, n::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
        self.detect_nat(ps);
        let Some(unkeyed) = self.key_state.take_unkeyed() else { return };
        let inputs = KeyInputs { provider: ctx.provider, algs, ni: &self.ni, nr: &self.nr, spi_i: self.spi_i, spi_r: self.spi_r, initiator: true };
        match unkeyed.complete(ke_data, inputs) {
            Some(Ok(keyed)) => self.key_state = KeyState::Keyed(keyed),
            Some(Err(e)) => {
                self.die(ctx, &e.to_string());
                return;
            }
            None => return,
        }
        if self.nat && self.remote.port() == 500 {
            // RFC 7296 §2.23: float to port 4500 once a NAT is detected.
            self.remote.set_port(ctx.cfg.natt_port);
            self.local.set_port(ctx.cfg.natt_port);
        }
        info!(conn = %conn_name, peer = %self.remote, "IKE_SA_INIT done: {}{}", algs.name(), if self.nat { ", NAT detected, using UDP 4500" } else { "" });
        self.start_ike_auth(ctx, child);
    }

    pub(crate) fn detect_nat(&mut self, ps: &[Payload]) {
        let srcs: Vec<_> = ps.iter().filter_map(|p| match p {
            Payload::Notify(x) if x.ntype == n::NAT_DETECTION_SOURCE_IP => Some(x.data.clone()),
            _ => None,
        }).collect();
        let dst = notify(ps, n::NAT_DETECTION_DESTINATION_IP).map(|x| x.data.clone());
        if srcs.is_empty() && dst.is_none() {
            return;
        }
        // Hashes in IKE_SA_INIT requests use a zero responder SPI.
        let spi_r = if self.initiator { self.spi_r } else { IkeSpi::ZERO };
        let peer_ok = srcs.iter().any(|h| *h == natd::hash(self.spi_i, spi_r, self.remote));
        let us_ok = dst.map(|h| h == natd::hash(self.spi_i, spi_r, self.local)).unwrap_or(true);
        self.nat = !(peer_ok && us_ok);
    }

}

/// Responder: what to do with an IKE_SA_INIT request.
pub(crate) enum InitReply {
    /// A new half-open SA (the response was sent).
    Created(Box<IkeSa>),
    /// A stateless answer (COOKIE, INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN).
    Stateless(Vec<u8>),
    /// Dropped: the peer's address has `half_open_per_ip` half-open SAs.
    PerIpLimit,
    Drop,
}

/// Half-open SAs now, for the COOKIE and per-address decisions.
pub(crate) struct HalfOpenCount {
    pub total: usize,
    /// From the requesting address.
    pub from_peer: usize,
}

fn stateless(now: std::time::Instant, hdr: &Header, ps: &[Payload]) -> Vec<u8> {
    let sa = IkeSa::new(0, false, hdr.spi_i, IkeSpi::ZERO, SocketAddr::from(([0, 0, 0, 0], 0)), SocketAddr::from(([0, 0, 0, 0], 0)), now);
    sa.plain_message(ExchangeType::IkeSaInit, hdr.message_id, true, ps)
}

pub(crate) fn cookie_value(secret: &[u8; 32], ni: &[u8], remote: SocketAddr, spi_i: IkeSpi) -> Vec<u8> {
    let mut c = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    c.update(ni);
    c.update(remote.to_string().as_bytes());
    c.update(&spi_i.0);
    c.update(secret);
    let mut v = vec![1u8];
    v.extend_from_slice(c.finish().as_ref());
    v
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn respond_sa_init(
    ctx: &mut Ctx<'_>,
    local: SocketAddr,
    remote: SocketAddr,
    hdr: &Header,
    ps: &[Payload],
    raw: &[u8],
    half_open: HalfOpenCount,
    cookie_secret: &[u8; 32],
) -> InitReply {
    let sa = ps.iter().find_map(|p| if let Payload::Sa(s) = p { Some(s) } else { None });
    let ke = ps.iter().find_map(|p| if let Payload::Ke { group, data } = p { Some((*group, data)) } else { None });
    let nonce = ps.iter().find_map(|p| if let Payload::Nonce(x) = p { Some(x) } else { None });
    let (Some(sa), Some((group, ke_data)), Some(nonce)) = (sa, ke, nonce) else {
        ctx.stats.malformed += 1;
        warn!(peer = %remote, "IKE_SA_INIT request lacks SA, KE or Nonce; answering INVALID_SYNTAX");
        return InitReply::Stateless(stateless(ctx.now, hdr, &[super::err(n::INVALID_SYNTAX)]));
    };
    if half_open.total >= ctx.cfg.cookie_threshold {
        let want = cookie_value(cookie_secret, nonce, remote, hdr.spi_i);
        match notify(ps, n::COOKIE) {
            Some(c) if c.data == want => {}
            _ => {
                ctx.stats.cookies_sent += 1;
                return InitReply::Stateless(stateless(ctx.now, hdr, &[Payload::Notify(Notify::new(n::COOKIE, want))]));
            }
        }
    }
    // After the COOKIE check, so a spoofed source cannot block the address
    // it spoofs once COOKIEs are demanded (RFC 7296 §2.6).
    if ctx.cfg.half_open_per_ip > 0 && half_open.from_peer >= ctx.cfg.half_open_per_ip {
        return InitReply::PerIpLimit;
    }
    // Candidate connections: those for this address (or any address).
    let mut chosen = None;
    for (i, conn) in ctx.peers.iter().enumerate() {
        if conn.remote.is_some_and(|a| a != remote.ip()) {
            continue;
        }
        for peer_prop in sa {
            if let Some(p) = conn.ike.iter().find_map(|spec| spec.select(peer_prop, true)) {
                if let Some(a) = ike_algs(&p) {
                    chosen = Some((i, p, a));
                    break;
                }
            }
        }
        if chosen.is_some() {
            break;
        }
    }
    let Some((peer, prop, algs)) = chosen else {
        ctx.stats.no_proposal += 1;
        let ours: Vec<String> = ctx.peers.iter().filter(|c| c.remote.is_none_or(|a| a == remote.ip())).flat_map(|c| c.ike.iter().map(|p| p.text.clone())).collect();
        warn!(peer = %remote, "no IKE proposal in common: peer offered [{}], we accept [{}]; answering NO_PROPOSAL_CHOSEN", describe(sa), ours.join(", "));
        return InitReply::Stateless(stateless(ctx.now, hdr, &[super::err(n::NO_PROPOSAL_CHOSEN)]));
    };
    if group != algs.dh {
        ctx.stats.invalid_ke += 1;
        info!(peer = %remote, "peer's KE uses group {group}, we chose {}; answering INVALID_KE_PAYLOAD", algs.dh);
        return InitReply::Stateless(stateless(ctx.now, hdr, &[Payload::Notify(Notify::new(n::INVALID_KE_PAYLOAD, algs.dh.to_be_bytes().to_vec()))]));
    }
    let mut spi_r = [0u8; 8];
    ctx.rng.fill_bytes(&mut spi_r);
    let mut ike = IkeSa::new(peer, false, hdr.spi_i, IkeSpi(spi_r), local, remote, ctx.now);
    ike.state = IkeState::HalfOpen;
    ike.ni = nonce.clone();
    ike.nr = ctx.nonce();
    ike.init_request = raw.to_vec();
    ike.peer_mid = 1;
    ike.half_open_until = Some(ctx.now + ctx.cfg.half_open_timeout);
    ike.dh_group = group;
    ike.peer_fragmentation = notify(ps, n::IKEV2_FRAGMENTATION_SUPPORTED).is_some();
    ike.detect_nat(ps);
    let ke = match KeyExchange::new(group, ctx.rng) {
        Ok(k) => k,
        Err(_) => return InitReply::Drop,
    };
    let ke_pub = ke.public().to_vec();
    let gir = match ke.complete(ke_data) {
        Ok(g) => g,
        Err(e) => {
            ctx.stats.malformed += 1;
            warn!(peer = %remote, "bad KE payload: {e}; answering INVALID_SYNTAX");
            return InitReply::Stateless(stateless(ctx.now, hdr, &[super::err(n::INVALID_SYNTAX)]));
        }
    };
    let inputs = KeyInputs { provider: ctx.provider, algs, ni: &ike.ni, nr: &ike.nr, spi_i: ike.spi_i, spi_r: ike.spi_r, initiator: false };
    match Keyed::derive(&gir, inputs) {
        Ok(keyed) => ike.key_state = KeyState::Keyed(keyed),
        Err(e) => {
            warn!(peer = %remote, "{e}");
            return InitReply::Drop;
        }
    }
    let mut out = vec![
        Payload::Sa(vec![prop]),
        Payload::Ke { group, data: ke_pub },
        Payload::Nonce(ike.nr.clone()),
        Payload::Notify(Notify::new(n::NAT_DETECTION_SOURCE_IP, natd::hash(ike.spi_i, ike.spi_r, local))),
        Payload::Notify(Notify::new(n::NAT_DETECTION_DESTINATION_IP, natd::hash(ike.spi_i, ike.spi_r, remote))),
        signature_hash_algorithms(),
    ];
    if ike.peer_fragmentation {
        out.push(Payload::Notify(Notify::new(n::IKEV2_FRAGMENTATION_SUPPORTED, Vec::new())));
    }
    if ctx.peers[peer].cert.is_some() || !ctx.peers[peer].certreq.is_empty() {
        out.push(Payload::CertReq { encoding: 4, data: ctx.peers[peer].certreq.concat() });
    }
    ike.send_response(ctx, ExchangeType::IkeSaInit, hdr.message_id, &out);
    if let Some((_, d)) = &ike.last_response {
        ike.init_response = d.concat();
    }
    info!(conn = %ctx.peers[peer].name, peer = %remote, "IKE_SA_INIT answered: {}{}", algs.name(), if ike.nat { ", NAT detected" } else { "" });
    InitReply::Created(Box::new(ike))
}
