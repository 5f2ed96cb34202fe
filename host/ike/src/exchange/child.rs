//! CHILD_SA creation and rekeying (RFC 7296 §1.3, §2.8, §2.9, §2.17) and
//! IKE SA rekeying (§1.3.2, §2.18), with the rekey collision rules of §2.8.1.
use tracing::{info, warn};

use crate::config::Mode;
use crate::dh::KeyExchange;
use crate::event::{ChildSaUp, Event};
use crate::exchange::ike_auth::jitter;
use crate::exchange::{err, error_notify, notify};
use crate::ike_sa::{ChildSa, Ctx, IkeSa, IkeState, Pending, Task};
use crate::ike_sa::state::{KeyInputs, KeyState};
use crate::keymat::derive_child;
use crate::message::ts::list;
use crate::message::{Notify, Payload, TrafficSelector};
use crate::proposal::{child_algs, describe, ike_algs};
use crate::types::{notify as n, ExchangeType, IkeSpi, ProtocolId, Spi};

/// A random 1–3 s pause before retrying a refused rekey, so two peers that
/// collided do not collide again (RFC 7296 §2.25 TEMPORARY_FAILURE).
fn retry_delay(ctx: &mut Ctx<'_>) -> std::time::Duration {
    std::time::Duration::from_millis(1000 + ctx.rng.next_u64() % 2000)
}

fn narrow(offered: &[TrafficSelector], allowed: &[TrafficSelector]) -> Vec<TrafficSelector> {
    let mut out = Vec::new();
    for o in offered {
        for a in allowed {
            if let Some(i) = o.intersect(a) {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
    }
    out
}

impl IkeSa {
    #[allow(clippy::too_many_arguments)]
    fn install_child(&mut self, ctx: &mut Ctx<'_>, ci: usize, spi_in: Spi, spi_out: Spi, algs: crate::proposal::ChildAlgs, mode: Mode, gir: Option<&[u8]>, ni: &[u8], nr: &[u8], we_initiated: bool, local_ts: Vec<TrafficSelector>, remote_ts: Vec<TrafficSelector>, replaces: Option<Spi>) {
        // CHILD_SAs only from an authenticated IKE SA.
        let Some(est) = self.key_state.established() else { return };
        let km = derive_child(est.keyed.algs.prf, &est.keyed.keys.sk_d, gir, ni, nr, &algs);
        let (enc_in, integ_in, enc_out, integ_out) = if we_initiated {
            (km.r2i_enc.clone(), km.r2i_integ.clone(), km.i2r_enc.clone(), km.i2r_integ.clone())
        } else {
            (km.i2r_enc.clone(), km.i2r_integ.clone(), km.r2i_enc.clone(), km.r2i_integ.clone())
        };
        let conn = &ctx.peers[self.peer];
        let cfg = &conn.children[ci];
        let reqid = match replaces.and_then(|s| self.find_child(s)) {
            Some(i) => self.children[i].reqid,
            None => ctx.reqid(),
        };
        info!(
            conn = %conn.name, child = %cfg.name,
            "CHILD_SA {} established: SPIs in {spi_in:08x} out {spi_out:08x}, {}, {} === {}{}",
            cfg.name, algs.name(), list(&local_ts), list(&remote_ts),
            if replaces.is_some() { " (rekeyed)" } else { "" }
        );
        ctx.stats.child_established += 1;
        let rekey_at = cfg.rekey.map(|d| ctx.now + jitter(ctx, d));
        // Responder of a rekey: make-before-break (see `outbound`).
        let defer_outbound = replaces.is_some() && !we_initiated;
        let outbound_pending = defer_outbound.then(|| ctx.now + ctx.cfg.outbound_switch_fallback);
        if defer_outbound {
            self.outbound_changes.push((spi_in, true));
        }
        let (ni_v, nr_v) = (ni.to_vec(), nr.to_vec());
        ctx.events.push_back(Event::ChildUp(ChildSaUp {
            conn: conn.name.clone(),
            child: cfg.name.clone(),
            reqid,
            mode,
            local: self.local,
            remote: self.remote,
            encap: self.nat,
            spi_in,
            spi_out,
            algs,
            enc_in,
            integ_in,
            enc_out,
            integ_out,
            local_ts: local_ts.clone(),
            remote_ts: remote_ts.clone(),
            replaces,
            defer_outbound,
        }));
        self.children.push(ChildSa {
            cfg: ci,
            name: cfg.name.clone(),
            reqid,
            spi_in,
            spi_out,
            algs,
            mode,
            local_ts,
            remote_ts,
            rekey_at,
            rekeying: false,
            nonces: (ni_v, nr_v),
            created_by_us: we_initiated,
            outbound_pending,
        });
    }

    /// Initiator: the CHILD_SA part of an IKE_AUTH or CREATE_CHILD_SA response.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn complete_child_as_initiator(&mut self, ctx: &mut Ctx<'_>, ci: usize, spi_in: Spi, ps: &[Payload], ni: &[u8], nr: &[u8], ke: Option<KeyExchange>, rekey_of: Option<Spi>) {
        let conn = ctx.peers[self.peer].clone();
        let cfg = &conn.children[ci];
        let sa = ps.iter().find_map(|p| if let Payload::Sa(s) = p { Some(s) } else { None });
        let tsi = ps.iter().find_map(|p| if let Payload::TsI(t) = p { Some(t.clone()) } else { None });
        let tsr = ps.iter().find_map(|p| if let Payload::TsR(t) = p { Some(t.clone()) } else { None });
        let (Some([prop]), Some(tsi), Some(tsr)) = (sa.map(|s| s.as_slice()), tsi, tsr) else {
            ctx.stats.malformed += 1;
            warn!(conn = %conn.name, "CHILD_SA response lacks SA or traffic selectors");
            return;
        };
        let Some(algs) = cfg.proposals.iter().find_map(|s| s.select(prop, false)).and_then(|p| child_algs(&p)) else {
            warn!(conn = %conn.name, "peer chose a CHILD_SA proposal we did not offer");
            return;
        };
        if prop.spi.len() != 4 {
            ctx.stats.malformed += 1;
            return;
        }
        let spi_out = Spi::from_be_bytes([prop.spi[0], prop.spi[1], prop.spi[2], prop.spi[3]]);
        let mode = if notify(ps, n::USE_TRANSPORT_MODE).is_some() { Mode::Transport } else { Mode::Tunnel };
        if mode != cfg.mode {
            warn!(conn = %conn.name, "peer answered with {:?} mode, we asked for {:?}; deleting the CHILD_SA", mode, cfg.mode);
        }
        let gir = match (ke, ps.iter().find_map(|p| if let Payload::Ke { group, data } = p { Some((*group, data)) } else { None })) {
            (Some(k), Some((g, d))) if g == k.group() => match k.complete(d) {
                Ok(s) => Some(s),
                Err(e) => {
                    warn!(conn = %conn.name, "CHILD_SA key exchange failed: {e}");
                    return;
                }
            },
            (Some(_), _) if algs.dh.is_some() => {
                warn!(conn = %conn.name, "peer chose PFS but sent no matching KE payload");
                return;
            }
            _ => None,
        };
        self.install_child(ctx, ci, spi_in, spi_out, algs, mode, gir.as_deref().map(|v| v.as_slice()), ni, nr, true, tsi, tsr, rekey_of);
        if mode != cfg.mode {
            self.tasks.push_back(Task::DeleteChild { spi_in });
        }
    }

    /// Responder: choose a child config, proposal and narrowed selectors
    /// from a request; installs the CHILD_SA and returns the response payloads.
    pub(crate) fn accept_child(&mut self, ctx: &mut Ctx<'_>, ps: &[Payload], ni: &[u8], nr: &[u8], replaces: Option<Spi>, vip_ts: Option<TrafficSelector>, in_ike_auth: bool) -> Result<Vec<Payload>, u16> {
        let conn = ctx.peers[self.peer].clone();
        let sa = ps.iter().find_map(|p| if let Payload::Sa(s) = p { Some(s) } else { None });
        let tsi = ps.iter().find_map(|p| if let Payload::TsI(t) = p { Some(t) } else { None });
        let tsr = ps.iter().find_map(|p| if let Payload::TsR(t) = p { Some(t) } else { None });
        let (Some(sa), Some(tsi), Some(tsr)) = (sa, tsi, tsr) else {
            ctx.stats.malformed += 1;
            return Err(n::INVALID_SYNTAX);
        };
        let want_transport = notify(ps, n::USE_TRANSPORT_MODE).is_some();
        let mut ts_ok = None;
        for (ci, cfg) in conn.children.iter().enumerate() {
            if replaces.is_some_and(|old| self.find_child(old).is_some_and(|i| self.children[i].cfg != ci)) {
                continue;
            }
            let allowed_remote = match vip_ts {
                Some(v) => vec![v],
                None => cfg.remote_ts.clone(),
            };
            let remote = narrow(tsi, &allowed_remote);
            let local = narrow(tsr, &cfg.local_ts);
            if remote.is_empty() || local.is_empty() {
                continue;
            }
            if (cfg.mode == Mode::Transport) != want_transport {
                continue;
            }
            ts_ok = Some((ci, local, remote));
            break;
        }
        let Some((ci, local_ts, remote_ts)) = ts_ok else {
            ctx.stats.ts_unacceptable += 1;
            let ours: Vec<String> = conn.children.iter().map(|c| format!("{}: {} === {} ({:?})", c.name, list(&c.local_ts), list(&c.remote_ts), c.mode)).collect();
            warn!(conn = %conn.name, "traffic selectors unacceptable: peer proposed {} === {}{}, we allow [{}]; answering TS_UNACCEPTABLE", list(tsi), list(tsr), if want_transport { " (transport mode)" } else { "" }, ours.join("; "));
            return Err(n::TS_UNACCEPTABLE);
        };
        let cfg = &conn.children[ci];
        let chosen = sa.iter().find_map(|peer| cfg.proposals.iter().find_map(|s| s.select(peer, !in_ike_auth)));
        let Some(prop) = chosen else {
            ctx.stats.no_proposal += 1;
            let ours: Vec<_> = cfg.proposals.iter().map(|p| p.text.clone()).collect();
            warn!(conn = %conn.name, child = %cfg.name, "no CHILD_SA proposal in common: peer offered [{}], we accept [{}]; answering NO_PROPOSAL_CHOSEN", describe(sa), ours.join(", "));
            return Err(n::NO_PROPOSAL_CHOSEN);
        };
        let Some(algs) = child_algs(&prop) else { return Err(n::NO_PROPOSAL_CHOSEN) };
        if prop.spi.len() != 4 {
            ctx.stats.malformed += 1;
            return Err(n::INVALID_SYNTAX);
        }
        let spi_out = Spi::from_be_bytes([prop.spi[0], prop.spi[1], prop.spi[2], prop.spi[3]]);
        let spi_in = ctx.spi32();
        let mut out = Vec::new();
        let mut gir = None;
        if let Some(g) = algs.dh {
            let Some((kg, kd)) = ps.iter().find_map(|p| if let Payload::Ke { group, data } = p { Some((*group, data)) } else { None }) else {
                return Err(n::INVALID_SYNTAX);
            };
            if kg != g {
                return Err(n::INVALID_KE_PAYLOAD);
            }
            let ke = KeyExchange::new(g, ctx.rng).map_err(|_| n::NO_PROPOSAL_CHOSEN)?;
            out.push(Payload::Ke { group: g, data: ke.public().to_vec() });
            gir = Some(ke.complete(kd).map_err(|_| n::INVALID_SYNTAX)?);
        }
        let mut chosen_prop = prop.clone();
        chosen_prop.spi = spi_in.to_be_bytes().to_vec();
        let mut resp = vec![Payload::Sa(vec![chosen_prop]), Payload::TsI(remote_ts.clone()), Payload::TsR(local_ts.clone())];
        if cfg.mode == Mode::Transport {
            resp.push(Payload::Notify(Notify::new(n::USE_TRANSPORT_MODE, Vec::new())));
        }
        resp.append(&mut out);
        self.install_child(ctx, ci, spi_in, spi_out, algs, cfg.mode, gir.as_deref().map(|v| v.as_slice()), ni, nr, false, local_ts, remote_ts, replaces);
        Ok(resp)
    }

    /// Initiator: CREATE_CHILD_SA for a new child or a child rekey.
    pub(crate) fn start_create_child(&mut self, ctx: &mut Ctx<'_>, ci: usize, local_ts: Vec<TrafficSelector>, remote_ts: Vec<TrafficSelector>, rekey_of: Option<Spi>) {
        let conn = ctx.peers[self.peer].clone();
        let cfg = &conn.children[ci];
        let spi_in = ctx.spi32();
        let nonce = ctx.nonce();
        let mut ps = Vec::new();
        if let Some(old) = rekey_of {
            let proto = self.find_child(old).map(|i| self.children[i].algs.protocol).unwrap_or(ProtocolId::Esp);
            ps.push(Payload::Notify(Notify { protocol: proto.to_u8(), spi: old.to_be_bytes().to_vec(), ntype: n::REKEY_SA, data: Vec::new() }));
        }
        let props = cfg.proposals.iter().enumerate().map(|(i, p)| p.to_proposal(i as u8 + 1, spi_in.to_be_bytes().to_vec(), true)).collect();
        ps.push(Payload::Sa(props));
        ps.push(Payload::Nonce(nonce.clone()));
        let group = cfg.proposals.first().and_then(|p| p.dh.first().copied());
        let ke = match group {
            Some(g) => match KeyExchange::new(g, ctx.rng) {
                Ok(k) => {
                    ps.push(Payload::Ke { group: g, data: k.public().to_vec() });
                    Some(k)
                }
                Err(_) => None,
            },
            None => None,
        };
        ps.push(Payload::TsI(local_ts.clone()));
        ps.push(Payload::TsR(remote_ts.clone()));
        if cfg.mode == Mode::Transport {
            ps.push(Payload::Notify(Notify::new(n::USE_TRANSPORT_MODE, Vec::new())));
        }
        if let Some(old) = rekey_of {
            if let Some(i) = self.find_child(old) {
                self.children[i].rekeying = true;
            }
        }
        self.send_request(ctx, ExchangeType::CreateChildSa, &ps, Pending::CreateChild { child: ci, spi_in, nonce, ke, rekey_of });
    }

    /// Initiator: CREATE_CHILD_SA response for a child.
    pub(crate) fn handle_create_child_response(&mut self, ctx: &mut Ctx<'_>, ps: &[Payload], pending: Pending) {
        let Pending::CreateChild { child, spi_in, nonce, ke, rekey_of, .. } = pending else { return };
        let conn_name = ctx.peers[self.peer].name.clone();
        if let Some(old) = rekey_of {
            if let Some(i) = self.find_child(old) {
                self.children[i].rekeying = false;
            }
        }
        if let Some(e) = error_notify(ps) {
            warn!(conn = %conn_name, "peer refused CREATE_CHILD_SA: {}", n::name(e.ntype));
            if let Some(old) = rekey_of {
                // Try again later (e.g. TEMPORARY_FAILURE during a collision).
                let wait = retry_delay(ctx);
                if let Some(i) = self.find_child(old) {
                    self.children[i].rekey_at = Some(ctx.now + wait);
                }
            }
            return;
        }
        let Some(nr) = ps.iter().find_map(|p| if let Payload::Nonce(x) = p { Some(x.clone()) } else { None }) else {
            ctx.stats.malformed += 1;
            return;
        };
        // Collision (§2.8.1): the peer also rekeyed `old` while we did.
        let peer_rekey = rekey_of.and_then(|old| {
            let oi = self.find_child(old)?;
            let old_c = &self.children[oi];
            self.children.iter().find(|c| !c.created_by_us && c.reqid == old_c.reqid && c.spi_in != old_c.spi_in).map(|c| (c.spi_in, c.nonces.clone()))
        });
        let old_still_there = rekey_of.map(|o| self.find_child(o).is_some()).unwrap_or(true);
        self.complete_child_as_initiator(ctx, child, spi_in, ps, &nonce, &nr, ke, if old_still_there { rekey_of } else { None });
        ctx.stats.rekeys += u64::from(rekey_of.is_some());
        ctx.stats.child_rekeys += u64::from(rekey_of.is_some());
        let Some(old) = rekey_of else { return };
        if !old_still_there {
            // The peer deleted the SA while we rekeyed it: keep the new one.
            return;
        }
        match peer_rekey {
            Some((their_new, their_nonces)) => {
                let ours_min = nonce.clone().min(nr.clone());
                let theirs_min = their_nonces.0.clone().min(their_nonces.1.clone());
                if ours_min < theirs_min {
                    info!(conn = %conn_name, "rekey collision: our new CHILD_SA {spi_in:08x} has the lowest nonce and is redundant; deleting it");
                    self.tasks.push_back(Task::DeleteChild { spi_in });
                } else {
                    info!(conn = %conn_name, "rekey collision: the peer's CHILD_SA {their_new:08x} is redundant (the peer deletes it); deleting the old SA");
                    self.tasks.push_back(Task::DeleteChild { spi_in: old });
                }
            }
            None => self.tasks.push_back(Task::DeleteChild { spi_in: old }),
        }
    }

    /// Initiator: rekey the IKE SA.
    pub(crate) fn start_rekey_ike(&mut self, ctx: &mut Ctx<'_>) {
        let conn = ctx.peers[self.peer].clone();
        let mut spi = [0u8; 8];
        ctx.rng.fill_bytes(&mut spi);
        let nonce = ctx.nonce();
        let group = self.key_state.algs().map(|a| a.dh).unwrap_or(31);
        let Ok(ke) = KeyExchange::new(group, ctx.rng) else { return };
        let props = conn.ike.iter().enumerate().map(|(i, p)| p.to_proposal(i as u8 + 1, spi.to_vec(), true)).collect();
        let ps = vec![Payload::Sa(props), Payload::Nonce(nonce.clone()), Payload::Ke { group, data: ke.public().to_vec() }];
        self.send_request(ctx, ExchangeType::CreateChildSa, &ps, Pending::RekeyIke { new_spi: IkeSpi(spi), nonce, ke: Some(ke) });
    }

    fn spawn_rekeyed(&mut self, ctx: &mut Ctx<'_>, we_initiated: bool, spi_i: IkeSpi, spi_r: IkeSpi, algs: crate::proposal::IkeAlgs, gir: &[u8], ni: Vec<u8>, nr: Vec<u8>) -> Option<Box<IkeSa>> {
        let inputs = KeyInputs { provider: ctx.provider, algs, ni: &ni, nr: &nr, spi_i, spi_r, initiator: we_initiated };
        let established = self.key_state.established()?.rekeyed(gir, inputs).ok()?;
        let mut new = IkeSa::new(self.peer, we_initiated, spi_i, spi_r, self.local, self.remote, ctx.now);
        new.key_state = KeyState::Established(established);
        new.ni = ni;
        new.nr = nr;
        new.nat = self.nat;
        new.children = std::mem::take(&mut self.children);
        // Children waiting to send now live in the new IKE SA.
        new.outbound_changes = new.children.iter().filter(|c| c.outbound_pending.is_some()).map(|c| (c.spi_in, true)).collect();
        new.vip = self.vip.take();
        new.rekeyed_from = true;
        new.dh_group = algs.dh;
        // Requests waiting on the old SA move over.
        new.tasks = std::mem::take(&mut self.tasks);
        new.announce_established(ctx);
        ctx.stats.rekeys += 1;
        ctx.stats.ike_rekeys += 1;
        self.state = IkeState::Rekeyed;
        Some(Box::new(new))
    }

    /// Initiator: the IKE rekey response.
    pub(crate) fn handle_rekey_ike_response(&mut self, ctx: &mut Ctx<'_>, ps: &[Payload], pending: Pending) -> Option<Box<IkeSa>> {
        let Pending::RekeyIke { new_spi, nonce, ke } = pending else { return None };
        let conn = ctx.peers[self.peer].clone();
        if let Some(e) = error_notify(ps) {
            warn!(conn = %conn.name, "peer refused the IKE SA rekey: {}; retrying later", n::name(e.ntype));
            self.rekey_at = Some(ctx.now + retry_delay(ctx));
            return None;
        }
        let sa = ps.iter().find_map(|p| if let Payload::Sa(s) = p { Some(s) } else { None });
        let nr = ps.iter().find_map(|p| if let Payload::Nonce(x) = p { Some(x.clone()) } else { None });
        let kd = ps.iter().find_map(|p| if let Payload::Ke { group, data } = p { Some((*group, data)) } else { None });
        let (Some([prop]), Some(nr), Some((g, kd)), Some(ke)) = (sa.map(|s| s.as_slice()), nr, kd, ke) else {
            ctx.stats.malformed += 1;
            return None;
        };
        let algs = conn.ike.iter().find_map(|s| s.select(prop, true)).and_then(|p| ike_algs(&p))?;
        if g != ke.group() || prop.spi.len() != 8 {
            return None;
        }
        let gir = ke.complete(kd).ok()?;
        let mut spi_r = [0u8; 8];
        spi_r.copy_from_slice(&prop.spi);
        info!(conn = %conn.name, "IKE SA rekeyed: new SPIs {} {}", new_spi, IkeSpi(spi_r));
        let new = self.spawn_rekeyed(ctx, true, new_spi, IkeSpi(spi_r), algs, &gir, nonce, nr);
        // The initiator of the rekey deletes the old IKE SA.
        self.tasks.clear();
        self.tasks.push_back(Task::DeleteIke);
        new
    }

    /// Responder: a CREATE_CHILD_SA request.
    pub(crate) fn respond_create_child(&mut self, ctx: &mut Ctx<'_>, mid: u32, ps: &[Payload]) -> Option<Box<IkeSa>> {
        let conn = ctx.peers[self.peer].clone();
        let Some(ni) = ps.iter().find_map(|p| if let Payload::Nonce(x) = p { Some(x.clone()) } else { None }) else {
            ctx.stats.malformed += 1;
            self.send_response(ctx, ExchangeType::CreateChildSa, mid, &[err(n::INVALID_SYNTAX)]);
            return None;
        };
        let nr = ctx.nonce();
        let is_ike = crate::exchange::ike_auth::protocol_of(ps) == Some(ProtocolId::Ike);
        if is_ike {
            let sa = ps.iter().find_map(|p| if let Payload::Sa(s) = p { Some(s) } else { None })?;
            let kd = ps.iter().find_map(|p| if let Payload::Ke { group, data } = p { Some((*group, data.clone())) } else { None });
            let chosen = sa.iter().find_map(|peer| conn.ike.iter().find_map(|s| s.select(peer, true)));
            let (Some(prop), Some((g, kd))) = (chosen, kd) else {
                ctx.stats.no_proposal += 1;
                self.send_response(ctx, ExchangeType::CreateChildSa, mid, &[err(n::NO_PROPOSAL_CHOSEN)]);
                return None;
            };
            let algs = ike_algs(&prop)?;
            if g != algs.dh {
                self.send_response(ctx, ExchangeType::CreateChildSa, mid, &[Payload::Notify(Notify::new(n::INVALID_KE_PAYLOAD, algs.dh.to_be_bytes().to_vec()))]);
                return None;
            }
            if self.in_flight.as_ref().is_some_and(|f| matches!(f.pending, Pending::RekeyIke { .. })) {
                // Simultaneous IKE rekey (§2.8.2): keep it simple and let ours win later.
                self.send_response(ctx, ExchangeType::CreateChildSa, mid, &[err(n::TEMPORARY_FAILURE)]);
                return None;
            }
            if prop.spi.len() != 8 {
                self.send_response(ctx, ExchangeType::CreateChildSa, mid, &[err(n::INVALID_SYNTAX)]);
                return None;
            }
            let ke = KeyExchange::new(g, ctx.rng).ok()?;
            let ke_pub = ke.public().to_vec();
            let Ok(gir) = ke.complete(&kd) else {
                self.send_response(ctx, ExchangeType::CreateChildSa, mid, &[err(n::INVALID_SYNTAX)]);
                return None;
            };
            let mut spi_i = [0u8; 8];
            spi_i.copy_from_slice(&prop.spi);
            let mut spi_r = [0u8; 8];
            ctx.rng.fill_bytes(&mut spi_r);
            let mut resp_prop = prop.clone();
            resp_prop.spi = spi_r.to_vec();
            self.send_response(ctx, ExchangeType::CreateChildSa, mid, &[Payload::Sa(vec![resp_prop]), Payload::Nonce(nr.clone()), Payload::Ke { group: g, data: ke_pub }]);
            info!(conn = %conn.name, "IKE SA rekeyed by the peer: new SPIs {} {}", IkeSpi(spi_i), IkeSpi(spi_r));
            return self.spawn_rekeyed(ctx, false, IkeSpi(spi_i), IkeSpi(spi_r), algs, &gir, ni, nr);
        }
        let rekey = notify(ps, n::REKEY_SA).map(|x| x.spi.clone());
        let replaces = match rekey {
            Some(spi) if spi.len() == 4 => {
                let peer_spi = Spi::from_be_bytes([spi[0], spi[1], spi[2], spi[3]]);
                match self.children.iter().find(|c| c.spi_out == peer_spi) {
                    Some(c) => Some(c.spi_in),
                    None => {
                        warn!(conn = %conn.name, "peer wants to rekey CHILD_SA {peer_spi:08x}, which we do not have; answering CHILD_SA_NOT_FOUND");
                        self.send_response(ctx, ExchangeType::CreateChildSa, mid, &[err(n::CHILD_SA_NOT_FOUND)]);
                        return None;
                    }
                }
            }
            Some(_) => {
                self.send_response(ctx, ExchangeType::CreateChildSa, mid, &[err(n::INVALID_SYNTAX)]);
                return None;
            }
            None => None,
        };
        let out = match self.accept_child(ctx, ps, &ni, &nr, replaces, None, false) {
            Ok(mut p) => {
                // Rekeys the peer starts count too (issue 11: they did not).
                ctx.stats.rekeys += u64::from(replaces.is_some());
                ctx.stats.child_rekeys += u64::from(replaces.is_some());
                p.push(Payload::Nonce(nr));
                p
            }
            Err(t) => vec![err(t)],
        };
        self.send_response(ctx, ExchangeType::CreateChildSa, mid, &out);
        None
    }
}
