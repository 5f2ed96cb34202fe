//! IKE_AUTH (RFC 7296 §1.2, §2.15): identities, certificates, AUTH through
//! the auth backend, configuration payload, and the first CHILD_SA.
use std::net::Ipv4Addr;

use tracing::{info, warn};

use crate::config::Mode;
use crate::event::Event;
use crate::exchange::auth_proof::AuthVerified;
use crate::exchange::{err, error_notify, notify};
use crate::ike_sa::{Ctx, IkeSa, IkeState, Pending};
use crate::message::payload::{Cp, CFG_REPLY, CFG_REQUEST, INTERNAL_IP4_ADDRESS};
use crate::message::{Identity, Notify, Payload, TrafficSelector};
use crate::types::{notify as n, ExchangeType, ProtocolId, Spi};

impl IkeSa {
    fn child_sa_payloads(&self, ctx: &mut Ctx<'_>, child: usize, spi_in: Spi, local_ts: &[TrafficSelector], remote_ts: &[TrafficSelector]) -> Vec<Payload> {
        let cfg = &ctx.peers[self.peer].children[child];
        let props = cfg.proposals.iter().enumerate().map(|(i, p)| p.to_proposal(i as u8 + 1, spi_in.to_be_bytes().to_vec(), false)).collect();
        let mut ps = vec![Payload::Sa(props), Payload::TsI(local_ts.to_vec()), Payload::TsR(remote_ts.to_vec())];
        if cfg.mode == Mode::Transport {
            ps.push(Payload::Notify(Notify::new(n::USE_TRANSPORT_MODE, Vec::new())));
        }
        ps
    }

    /// Initiator: IKE_AUTH with the first CHILD_SA.
    pub(crate) fn start_ike_auth(&mut self, ctx: &mut Ctx<'_>, child: Option<usize>) {
        let conn = ctx.peers[self.peer].clone();
        let peer_id = conn.remote_id.clone().unwrap_or_else(Identity::null);
        let auth = match self.produce_auth(ctx, &conn.local_id, &peer_id) {
            Ok(a) => a,
            Err(e) => {
                self.die(ctx, &format!("cannot produce our AUTH: {e}"));
                return;
            }
        };
        let mut ps = vec![Payload::IdI(conn.local_id.clone())];
        if let Some(c) = &conn.cert {
            ps.push(Payload::Cert { encoding: 4, data: c.clone() });
        }
        if !conn.certreq.is_empty() || conn.cert.is_some() {
            ps.push(Payload::CertReq { encoding: 4, data: conn.certreq.concat() });
        }
        ps.push(Payload::Notify(Notify::new(n::INITIAL_CONTACT, Vec::new())));
        if let Some(id) = &conn.remote_id {
            ps.push(Payload::IdR(id.clone()));
        }
        ps.push(auth);
        if conn.request_vip {
            ps.push(Payload::Cp(Cp { cfg_type: CFG_REQUEST, attrs: vec![(INTERNAL_IP4_ADDRESS, Vec::new())] }));
        }
        let mut pending = Pending::Auth { child: None, spi_in: Spi(0) };
        if let Some(ci) = child.or(if conn.children.is_empty() { None } else { Some(0) }) {
            let spi_in = ctx.spi32();
            let cfg = &conn.children[ci];
            let (local_ts, remote_ts) = match self.ts_override.take() {
                Some(t) => t,
                None if conn.request_vip => (vec![TrafficSelector::parse("0.0.0.0/0").unwrap_or(cfg.local_ts[0])], cfg.remote_ts.clone()),
                None => (cfg.local_ts.clone(), cfg.remote_ts.clone()),
            };
            ps.extend(self.child_sa_payloads(ctx, ci, spi_in, &local_ts, &remote_ts));
            pending = Pending::Auth { child: Some(ci), spi_in };
        }
        self.state = IkeState::AuthSent;
        self.send_request(ctx, ExchangeType::IkeAuth, &ps, pending);
    }

    /// Initiator: the IKE_AUTH response.
    pub(crate) fn handle_ike_auth_response(&mut self, ctx: &mut Ctx<'_>, ps: &[Payload], pending: Pending) {
        let conn = ctx.peers[self.peer].clone();
        if let Some(e) = notify(ps, n::AUTHENTICATION_FAILED) {
            let _ = e;
            ctx.stats.auth_failed += 1;
            // We sent IDr = remote_id: a peer without that identity (e.g.
            // strongSwan, whose IKE ID/certificate is another name) refuses
            // with AUTHENTICATION_FAILED too, so name it as a suspect.
            let asked = conn.remote_id.as_ref().map(|r| format!(", and that the peer really is {r} (our remote_id, sent as IDr)")).unwrap_or_default();
            warn!(conn = %conn.name, peer = %self.remote, "peer {} rejected our authentication (AUTHENTICATION_FAILED): check that both sides use the same pre-shared key / trust our CA, that our ID {} is the one the peer expects{asked}", self.remote, conn.local_id);
            self.die(ctx, "peer rejected our authentication (AUTHENTICATION_FAILED)");
            return;
        }
        let Some(idr) = ps.iter().find_map(|p| if let Payload::IdR(i) = p { Some(i.clone()) } else { None }) else {
            ctx.stats.malformed += 1;
            self.die(ctx, &format!("IKE_AUTH response has no IDr{}", error_notify(ps).map(|e| format!(" (notify {})", n::name(e.ntype))).unwrap_or_default()));
            return;
        };
        if let Some(want) = &conn.remote_id {
            if *want != idr {
                ctx.stats.auth_failed += 1;
                warn!(conn = %conn.name, "peer identifies as {idr}, but remote_id is {want}");
                self.die(ctx, &format!("peer identity {idr} is not the configured remote_id {want}"));
                return;
            }
        }
        let proof = match self.verify_auth(ctx, &idr, &conn.local_id, ps) {
            Ok(proof) => proof,
            Err(e) => {
                ctx.stats.auth_failed += 1;
                warn!(conn = %conn.name, peer = %self.remote, "authentication of peer {idr} failed: {e}");
                self.die(ctx, &format!("authentication of {idr} failed: {e}"));
                return;
            }
        };
        self.establish(ctx, proof);
        if let Some(cp) = ps.iter().find_map(|p| if let Payload::Cp(c) = p { Some(c) } else { None }) {
            if let Some((_, v)) = cp.attrs.iter().find(|(t, v)| *t == INTERNAL_IP4_ADDRESS && v.len() == 4) {
                let a = Ipv4Addr::new(v[0], v[1], v[2], v[3]);
                self.vip = None;
                info!(conn = %conn.name, "virtual IP {a} assigned by the peer");
                ctx.events.push_back(Event::VirtualIp { conn: conn.name.clone(), addr: a });
            }
        } else if conn.request_vip {
            warn!(conn = %conn.name, "asked for a virtual IP but the peer assigned none");
        }
        if let Pending::Auth { child: Some(ci), spi_in, .. } = pending {
            if let Some(e) = error_notify(ps) {
                warn!(conn = %conn.name, "IKE SA is up, but the peer refused CHILD_SA {}: {}", conn.children[ci].name, n::name(e.ntype));
                return;
            }
            let ni = self.ni.clone();
            let nr = self.nr.clone();
            self.complete_child_as_initiator(ctx, ci, spi_in, ps, &ni, &nr, None, None);
        }
    }

    /// Responder: the IKE_AUTH request.
    pub(crate) fn respond_ike_auth(&mut self, ctx: &mut Ctx<'_>, mid: u32, ps: &[Payload]) {
        let Some(idi) = ps.iter().find_map(|p| if let Payload::IdI(i) = p { Some(i.clone()) } else { None }) else {
            ctx.stats.malformed += 1;
            self.send_response(ctx, ExchangeType::IkeAuth, mid, &[err(n::INVALID_SYNTAX)]);
            self.die(ctx, "IKE_AUTH request without IDi");
            return;
        };
        // Pick the connection for this identity among those for the address.
        let remote_ip = self.remote.ip();
        let pick = ctx.peers.iter().position(|c| {
            c.remote.is_none_or(|a| a == remote_ip) && c.remote_id.as_ref().is_none_or(|r| *r == idi) && c.ike.iter().any(|p| self.key_state.algs().is_some_and(|a| p.prf.contains(&a.prf)))
        });
        let Some(pi) = pick else {
            ctx.stats.auth_failed += 1;
            let known: Vec<String> = ctx.peers.iter().filter(|c| c.remote.is_none_or(|a| a == remote_ip)).map(|c| format!("{} (remote_id {})", c.name, c.remote_id.as_ref().map(|i| i.to_string()).unwrap_or_else(|| "any".into()))).collect();
            warn!(peer = %self.remote, "peer identifies as {idi}, but no connection expects that identity (candidates: {}); answering AUTHENTICATION_FAILED", known.join(", "));
            self.send_response(ctx, ExchangeType::IkeAuth, mid, &[err(n::AUTHENTICATION_FAILED)]);
            self.die(ctx, &format!("no connection for peer identity {idi}"));
            return;
        };
        self.peer = pi;
        let conn = ctx.peers[pi].clone();
        let proof = match self.verify_auth(ctx, &idi, &conn.local_id, ps) {
            Ok(proof) => proof,
            Err(e) => {
                ctx.stats.auth_failed += 1;
                warn!(conn = %conn.name, peer = %self.remote, "authentication of peer {idi} failed: {e}; answering AUTHENTICATION_FAILED");
                self.send_response(ctx, ExchangeType::IkeAuth, mid, &[err(n::AUTHENTICATION_FAILED)]);
                self.die(ctx, &format!("authentication of {idi} failed: {e}"));
                return;
            }
        };
        let auth = match self.produce_auth(ctx, &conn.local_id, &idi) {
            Ok(a) => a,
            Err(e) => {
                warn!(conn = %conn.name, "cannot produce our AUTH: {e}");
                self.send_response(ctx, ExchangeType::IkeAuth, mid, &[err(n::AUTHENTICATION_FAILED)]);
                self.die(ctx, &format!("cannot produce our AUTH: {e}"));
                return;
            }
        };
        self.initial_contact = notify(ps, n::INITIAL_CONTACT).is_some();
        let mut out = vec![Payload::IdR(conn.local_id.clone())];
        if let Some(c) = &conn.cert {
            out.push(Payload::Cert { encoding: 4, data: c.clone() });
        }
        out.push(auth);
        // Configuration payload: hand out a virtual IP.
        let mut vip_ts = None;
        if let Some(cp) = ps.iter().find_map(|p| if let Payload::Cp(c) = p { Some(c) } else { None }) {
            if cp.cfg_type == CFG_REQUEST && cp.attrs.iter().any(|(t, _)| *t == INTERNAL_IP4_ADDRESS) {
                match self.lease(ctx) {
                    Some(a) => {
                        out.push(Payload::Cp(Cp { cfg_type: CFG_REPLY, attrs: vec![(INTERNAL_IP4_ADDRESS, a.octets().to_vec())] }));
                        vip_ts = Some(TrafficSelector::from_prefix(a.into(), 32));
                    }
                    None => {
                        warn!(conn = %conn.name, "peer asked for a virtual IP but no pool address is free (pool = {:?})", conn.pool);
                        out.push(err(n::INTERNAL_ADDRESS_FAILURE));
                    }
                }
            }
        }
        self.establish(ctx, proof);
        if ps.iter().any(|p| matches!(p, Payload::Sa(_))) && vip_ts.is_some() | !out.iter().any(|p| matches!(p, Payload::Notify(x) if x.ntype == n::INTERNAL_ADDRESS_FAILURE)) {
            let ni = self.ni.clone();
            let nr = self.nr.clone();
            match self.accept_child(ctx, ps, &ni, &nr, None, vip_ts, true) {
                Ok(mut child_ps) => out.append(&mut child_ps),
                Err(notify_type) => out.push(err(notify_type)),
            }
        }
        self.send_response(ctx, ExchangeType::IkeAuth, mid, &out);
    }

    fn lease(&mut self, ctx: &mut Ctx<'_>) -> Option<Ipv4Addr> {
        let conn = &ctx.peers[self.peer];
        let (base, len) = conn.pool?;
        let size = 1u32 << (32 - len.min(32) as u32);
        let start = u32::from(base) & !(size - 1);
        for i in 1..size.saturating_sub(1) {
            let a = Ipv4Addr::from(start + i);
            if !ctx.leases.iter().any(|(_, x)| *x == a) {
                ctx.leases.push((conn.name.clone(), a));
                self.vip = Some(a);
                return Some(a);
            }
        }
        None
    }

    /// Both roles: the peer's AUTH verified (`proof`), so the IKE SA is
    /// established. Without keys (cannot happen: AUTH needs them) the SA dies.
    pub(crate) fn establish(&mut self, ctx: &mut Ctx<'_>, proof: AuthVerified) {
        if !self.key_state.establish(proof) {
            self.die(ctx, "IKE SA not keyed");
            return;
        }
        self.announce_established(ctx);
    }

    /// The IKE SA is established (after IKE_AUTH, or as the successor of a
    /// rekeyed one): timers, counters and the `IkeUp` event.
    pub(crate) fn announce_established(&mut self, ctx: &mut Ctx<'_>) {
        let conn = &ctx.peers[self.peer];
        self.state = IkeState::Established;
        ctx.stats.ike_established += 1;
        self.rekey_at = conn.ike_rekey.map(|d| ctx.now + jitter(ctx, d));
        self.dpd_at = conn.dpd.map(|d| ctx.now + d);
        if self.nat {
            self.keepalive_at = Some(ctx.now + ctx.cfg.keepalive);
        }
        let peer_id = self.key_state.peer_id().cloned().unwrap_or_else(Identity::null);
        let algs = self.key_state.algs().map(|a| a.name()).unwrap_or_default();
        info!(conn = %conn.name, peer = %self.remote, "IKE SA established with {peer_id} ({algs})");
        ctx.events.push_back(Event::IkeUp {
            conn: conn.name.clone(),
            local: self.local,
            remote: self.remote,
            peer_id,
            algs,
            rekeyed: self.rekeyed_from,
        });
    }
}

/// Rekey a little early, at a random point in the last tenth (avoids collisions).
pub(crate) fn jitter(ctx: &mut Ctx<'_>, d: std::time::Duration) -> std::time::Duration {
    let tenth = d.as_millis() as u64 / 10;
    if tenth == 0 {
        return d;
    }
    d - std::time::Duration::from_millis(ctx.rng.next_u64() % tenth)
}

pub(crate) fn protocol_of(ps: &[Payload]) -> Option<ProtocolId> {
    ps.iter().find_map(|p| if let Payload::Sa(s) = p { s.first().map(|x| x.protocol) } else { None })
}
