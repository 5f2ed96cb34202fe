//! Installs what IKE negotiated into the data plane: a CHILD_SA pair becomes
//! two SAD entries (the outbound one bound to the connection's `out`
//! policy, so a rekeyed SA takes over at once; when we answered the rekey,
//! only once the peer can receive on it, see [`take_outbound`]) and, the
//! first time, the connection's `out`/`in` policies.
use std::net::IpAddr;
use std::time::Instant;

use anyhow::{anyhow, Result};
use esprit_crypto::Provider;
use esprit_esp::{Mode as EspMode, Protocol, Sa, SaConfig, Transform};
use esprit_ike::{ChildSaUp, Mode, ProtocolId, TrafficSelector};
use esprit_sadb::decider::{Direction, IpsecMode, IpsecProto, Level, SaRequest, Verdict};
use esprit_sadb::lifetime::Lifetimes;
use esprit_sadb::sad::{OutboundKey, SaInfo};
use esprit_sadb::selector::{IpPrefix, Selector};
use esprit_sadb::spd::{Action, NewPolicy, PolicyId};
use esprit_sadb::SadbControl;
use zeroize::Zeroizing;

use crate::dataplane::Dataplane;
use crate::keylog::KeyLog;

/// Priority of IKE-installed policies: ahead of setkey's default.
pub const IKE_PRIORITY: u32 = esprit_sadb::setkey::PRIORITY_DEFAULT - 1000;

/// The policies of one connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnPolicies {
    pub out: PolicyId,
    /// The `in` policy (kept for status and removal).
    pub inb: PolicyId,
}

pub fn selector(src: &TrafficSelector, dst: &TrafficSelector) -> Result<Selector> {
    let p = |t: &TrafficSelector| -> Result<IpPrefix> {
        let (a, l) = t.as_prefix().ok_or_else(|| anyhow!("traffic selector {t} is not a prefix (ranges are not supported by the SPD)"))?;
        IpPrefix::new(a, l).map_err(|e| anyhow!("{e}"))
    };
    let port = |t: &TrafficSelector| (t.start_port == t.end_port).then_some(t.start_port);
    Ok(Selector {
        src: p(src)?,
        dst: p(dst)?,
        proto: (src.protocol != 0).then_some(src.protocol).or((dst.protocol != 0).then_some(dst.protocol)),
        src_port: port(src),
        dst_port: port(dst),
    })
}

fn request(proto: ProtocolId, mode: Mode, tunnel: Option<(IpAddr, IpAddr)>, level: Level) -> SaRequest {
    SaRequest {
        proto: if proto == ProtocolId::Ah { IpsecProto::Ah } else { IpsecProto::Esp },
        mode: if mode == Mode::Tunnel { IpsecMode::Tunnel } else { IpsecMode::Transport },
        tunnel: if mode == Mode::Tunnel { tunnel } else { None },
        level,
    }
}

/// Adds the `out` and `in` policies of a connection.
#[allow(clippy::too_many_arguments)]
pub fn add_policies(dp: &mut Dataplane, local_ts: &TrafficSelector, remote_ts: &TrafficSelector, proto: ProtocolId, mode: Mode, local: IpAddr, remote: IpAddr, verdict: Option<Verdict>) -> Result<ConnPolicies> {
    add_policies_at(dp, local_ts, remote_ts, proto, mode, local, remote, verdict, IKE_PRIORITY)
}

/// [`add_policies`] with a priority (lower wins).
#[allow(clippy::too_many_arguments)]
pub fn add_policies_at(dp: &mut Dataplane, local_ts: &TrafficSelector, remote_ts: &TrafficSelector, proto: ProtocolId, mode: Mode, local: IpAddr, remote: IpAddr, verdict: Option<Verdict>, priority: u32) -> Result<ConnPolicies> {
    let out_v = verdict.clone().unwrap_or_else(|| Verdict::Protect(vec![request(proto, mode, Some((local, remote)), Level::Require)]));
    let in_v = verdict.unwrap_or_else(|| Verdict::Protect(vec![request(proto, mode, Some((remote, local)), Level::Require)]));
    let sadb = dp.sadb_mut();
    let out = sadb
        .add_policy(NewPolicy { selector: selector(local_ts, remote_ts)?, dir: Direction::Out, priority, action: Action::Verdict(out_v) })
        .map_err(|e| anyhow!("{e}"))?;
    let inb = sadb
        .add_policy(NewPolicy { selector: selector(remote_ts, local_ts)?, dir: Direction::In, priority, action: Action::Verdict(in_v) })
        .map_err(|e| anyhow!("{e}"))?;
    Ok(ConnPolicies { out, inb })
}

/// Removes the `out` and `in` policies of [`add_policies`] (missing ones are ignored).
pub fn remove_policies(dp: &mut Dataplane, p: ConnPolicies) {
    let sadb = dp.sadb_mut();
    let _ = sadb.delete_policy(p.out);
    let _ = sadb.delete_policy(p.inb);
}

fn transform(c: &ChildSaUp) -> Result<Transform> {
    let a = &c.algs;
    Ok(match (a.protocol, a.encr, a.integ) {
        (ProtocolId::Ah, None, Some(i)) => Transform::Ah(i),
        (ProtocolId::Esp, Some(e), None) => Transform::Aead(e.aead().ok_or_else(|| anyhow!("not an AEAD"))?),
        (ProtocolId::Esp, Some(e), Some(i)) => Transform::CbcHmac(e.cipher().ok_or_else(|| anyhow!("not a CBC cipher"))?, i),
        _ => return Err(anyhow!("unsupported CHILD_SA algorithms {}", a.name())),
    })
}

/// The SAs of an installed CHILD_SA.
#[derive(Debug, Clone, Copy)]
pub struct Installed {
    pub proto: IpsecProto,
    pub spi_in: u32,
    pub spi_out: u32,
    pub local: IpAddr,
    pub remote: IpAddr,
    /// The outbound SA is on standby (`defer_outbound`): the replaced SA
    /// keeps the policy until [`take_outbound`].
    pub standby: bool,
}

/// Installs both SAs; the outbound one is bound to `policies.out`.
pub fn install_child(dp: &mut Dataplane, c: &ChildSaUp, policies: ConnPolicies, provider: &dyn Provider, replay: u32, keylog: Option<&KeyLog>, now: Instant) -> Result<Installed> {
    let t = transform(c)?;
    let protocol = if c.algs.protocol == ProtocolId::Ah { Protocol::Ah } else { Protocol::Esp };
    let mode = if c.mode == Mode::Tunnel { EspMode::Tunnel } else { EspMode::Transport };
    let (local, remote) = (c.local.ip(), c.remote.ip());
    let cfg = |spi: u32, src: IpAddr, dst: IpAddr, enc: &Zeroizing<Vec<u8>>, integ: &Zeroizing<Vec<u8>>| {
        let (enc_key, auth_key) = match t {
            Transform::Ah(_) => (Zeroizing::new(Vec::new()), integ.clone()),
            _ => (enc.clone(), integ.clone()),
        };
        SaConfig { spi, protocol, mode, src, dst, transform: t, enc_key, auth_key, esn: c.algs.esn, replay_window: replay, tfc_padding: false }
    };
    let in_cfg = cfg(c.spi_in, remote, local, &c.enc_in, &c.integ_in);
    let out_cfg = cfg(c.spi_out, local, remote, &c.enc_out, &c.integ_out);
    if let Some(k) = keylog {
        k.record(&in_cfg)?;
        k.record(&out_cfg)?;
    }
    let proto = if protocol == Protocol::Ah { IpsecProto::Ah } else { IpsecProto::Esp };
    let ipsec_mode = Some(if mode == EspMode::Tunnel { IpsecMode::Tunnel } else { IpsecMode::Transport });
    let in_sel = match (c.remote_ts.as_slice(), c.local_ts.as_slice()) {
        ([r], [l]) => selector(r, l).ok(),
        _ => None,
    };
    // The outbound SA's selectors are not checked per packet; the data
    // plane uses them to refuse cleartext to what the SA protects.
    let out_sel = match (c.local_ts.as_slice(), c.remote_ts.as_slice()) {
        ([l], [r]) => selector(l, r).ok(),
        _ => None,
    };
    let in_info = SaInfo { spi: c.spi_in, proto, mode: ipsec_mode, src: remote, dst: local, reqid: Some(c.reqid), lifetimes: Lifetimes::default(), selector: in_sel, bind: None };
    let out_info = SaInfo {
        spi: c.spi_out,
        proto,
        mode: ipsec_mode,
        src: local,
        dst: remote,
        reqid: Some(c.reqid),
        lifetimes: Lifetimes::default(),
        selector: out_sel,
        bind: Some(OutboundKey { policy: policies.out, request: 0, sa_key: None }),
    };
    let in_sa = Sa::new(in_cfg, provider).map_err(|e| anyhow!("{e}"))?;
    let out_sa = Sa::new(out_cfg, provider).map_err(|e| anyhow!("{e}"))?;
    let sadb = dp.sadb_mut();
    sadb.add_sa(in_info, in_sa, now).map_err(|e| anyhow!("{e}"))?;
    let added = if c.defer_outbound {
        sadb.sad_mut().insert_standby(out_info, out_sa, now).map(|_| ()).map_err(|e| anyhow!("{e}"))
    } else {
        sadb.add_sa(out_info, out_sa, now).map(|_| ()).map_err(|e| anyhow!("{e}"))
    };
    if let Err(e) = added {
        let _ = sadb.delete_sa(c.spi_in, proto, local);
        return Err(e);
    }
    Ok(Installed { proto, spi_in: c.spi_in, spi_out: c.spi_out, local, remote, standby: c.defer_outbound })
}

/// Whether a packet arrived on the inbound SA (the peer installed the pair).
pub fn inbound_used(dp: &Dataplane, i: &Installed) -> bool {
    let sad = dp.sadb().sad();
    sad.inbound(i.spi_in, i.proto, i.local).and_then(|h| sad.get(h)).is_some_and(|e| e.counters.packets > 0)
}

/// The standby outbound SA of a rekey we answered takes over the policy
/// (Event::ChildOutbound).
pub fn take_outbound(dp: &mut Dataplane, i: &mut Installed) -> Result<()> {
    let sad = dp.sadb_mut().sad_mut();
    let h = sad.inbound(i.spi_out, i.proto, i.remote).ok_or_else(|| anyhow!("outbound SA {:08x} is not installed", i.spi_out))?;
    sad.take_binding(h).map_err(|e| anyhow!("{e}"))?;
    i.standby = false;
    Ok(())
}

/// Removes both SAs of a CHILD_SA (missing ones are ignored).
pub fn remove_child(dp: &mut Dataplane, i: &Installed) {
    let sadb = dp.sadb_mut();
    let _ = sadb.delete_sa(i.spi_in, i.proto, i.local);
    let _ = sadb.delete_sa(i.spi_out, i.proto, i.remote);
}
