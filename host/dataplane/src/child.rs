//! What IKE negotiated, as data plane changes: a connection's traffic
//! selectors become its `out`/`in` policies, and a CHILD_SA pair (keys from
//! RFC 7296 §2.17) becomes two SAD entries, the outbound one bound to the
//! connection's `out` policy so that a rekeyed SA takes over at once.
//!
//! The daemon's IKE side and the simulated pair (`tests/sim_pair.rs`) both
//! install through here.

use std::net::IpAddr;
use std::time::Instant;

use esprit_crypto::Provider;
use esprit_esp::{Protocol, Sa, SaConfig, Spi, Transform};
use esprit_ike::{ChildSaUp, Mode, ProtocolId, TrafficSelector};
use esprit_sadb::decider::{Direction, IpsecProto, Level, SaRequest, Verdict};
use esprit_sadb::lifetime::Lifetimes;
use esprit_sadb::sad::{OutboundKey, SaInfo};
use esprit_sadb::selector::{IpPrefix, Selector};
use esprit_sadb::spd::{Action, NewPolicy, PolicyId};
use esprit_sadb::SadbControl;
use zeroize::Zeroizing;

use crate::Dataplane;

/// Why an IKE result could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("traffic selector {0} is not a prefix (ranges are not supported by the SPD)")]
    NotAPrefix(String),
    #[error("{0}")]
    Selector(String),
    #[error("unsupported CHILD_SA algorithms {0}")]
    Algorithms(String),
    #[error("{0}")]
    Sa(String),
    #[error(transparent)]
    Sadb(#[from] esprit_sadb::SadbError),
}

/// The policies of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnPolicies {
    pub out: PolicyId,
    pub inb: PolicyId,
}

/// The SAs of an installed CHILD_SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installed {
    pub proto: IpsecProto,
    pub spi_in: Spi,
    pub spi_out: Spi,
    pub local: IpAddr,
    pub remote: IpAddr,
    /// The outbound SA is on standby (`ChildSaUp::defer_outbound`): the
    /// replaced SA keeps the policy until [`Dataplane::take_outbound`].
    pub standby: bool,
}

/// The SPD selector of a pair of (prefix) traffic selectors.
pub fn selector(src: &TrafficSelector, dst: &TrafficSelector) -> Result<Selector, ChildError> {
    let p = |t: &TrafficSelector| -> Result<IpPrefix, ChildError> {
        let (a, l) = t.as_prefix().ok_or_else(|| ChildError::NotAPrefix(t.to_string()))?;
        IpPrefix::new(a, l).map_err(|e| ChildError::Selector(e.to_string()))
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
        proto: proto.ipsec().unwrap_or(IpsecProto::Esp),
        mode,
        tunnel: if mode == Mode::Tunnel { tunnel } else { None },
        level,
    }
}

/// What a connection's policies say: `verdict`, or protect with the
/// connection's protocol and mode between `local` and `remote`.
pub struct PolicySpec<'a> {
    pub local_ts: &'a TrafficSelector,
    pub remote_ts: &'a TrafficSelector,
    pub proto: ProtocolId,
    pub mode: Mode,
    pub local: IpAddr,
    pub remote: IpAddr,
    pub verdict: Option<Verdict>,
    /// Lower wins.
    pub priority: u32,
}

impl Dataplane {
    /// Adds the `out` and `in` policies of a connection.
    pub fn add_conn_policies(&mut self, p: PolicySpec<'_>) -> Result<ConnPolicies, ChildError> {
        let out_v = p.verdict.clone().unwrap_or_else(|| Verdict::Protect(vec![request(p.proto, p.mode, Some((p.local, p.remote)), Level::Require)]));
        let in_v = p.verdict.unwrap_or_else(|| Verdict::Protect(vec![request(p.proto, p.mode, Some((p.remote, p.local)), Level::Require)]));
        let out = self.sadb.add_policy(NewPolicy {
            selector: selector(p.local_ts, p.remote_ts)?,
            dir: Direction::Out,
            priority: p.priority,
            action: Action::Verdict(out_v),
        })?;
        let inb = self.sadb.add_policy(NewPolicy {
            selector: selector(p.remote_ts, p.local_ts)?,
            dir: Direction::In,
            priority: p.priority,
            action: Action::Verdict(in_v),
        })?;
        Ok(ConnPolicies { out, inb })
    }

    /// Installs both SAs of a CHILD_SA; the outbound one is bound to `out`,
    /// except for a rekey we answered (`defer_outbound`): then it waits on
    /// standby until the peer can receive on it ([`Dataplane::take_outbound`],
    /// RFC 7296 §2.8 make-before-break). `record` sees both SA configs first
    /// (a key log).
    #[allow(clippy::too_many_arguments)]
    pub fn install_child<E: std::fmt::Display>(
        &mut self,
        c: &ChildSaUp,
        out: PolicyId,
        provider: &dyn Provider,
        replay: u32,
        mut record: impl FnMut(&SaConfig) -> Result<(), E>,
        now: Instant,
    ) -> Result<Installed, ChildError> {
        let (in_cfg, out_cfg) = sa_configs(c, replay)?;
        for cfg in [&in_cfg, &out_cfg] {
            record(cfg).map_err(|e| ChildError::Sa(e.to_string()))?;
        }
        let protocol = in_cfg.protocol;
        let mode = in_cfg.mode;
        let (local, remote) = (c.local.ip(), c.remote.ip());
        let proto = if protocol == Protocol::Ah { IpsecProto::Ah } else { IpsecProto::Esp };
        let ipsec_mode = Some(mode);
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
            bind: Some(OutboundKey { policy: out, request: 0, sa_key: None }),
        };
        let in_sa = Sa::new(in_cfg, provider).map_err(|e| ChildError::Sa(e.to_string()))?;
        let out_sa = Sa::new(out_cfg, provider).map_err(|e| ChildError::Sa(e.to_string()))?;
        self.sadb.add_sa(in_info, in_sa, now)?;
        let added = if c.defer_outbound {
            self.sadb.sad_mut().insert_standby(out_info, out_sa, now).map(|_| ()).map_err(|e| ChildError::Sa(e.to_string()))
        } else {
            self.sadb.add_sa(out_info, out_sa, now).map(|_| ()).map_err(ChildError::from)
        };
        if let Err(e) = added {
            let _ = self.sadb.delete_sa(c.spi_in, proto, local);
            return Err(e);
        }
        Ok(Installed { proto, spi_in: c.spi_in, spi_out: c.spi_out, local, remote, standby: c.defer_outbound })
    }

    /// Whether a packet arrived on the CHILD_SA's inbound SA (the peer
    /// installed the pair).
    pub fn child_inbound_used(&self, i: &Installed) -> bool {
        let sad = self.sadb.sad();
        sad.inbound(i.spi_in, i.proto, i.local).and_then(|h| sad.get(h)).is_some_and(|e| e.counters.packets > 0)
    }

    /// The standby outbound SA of a rekey we answered takes over the policy
    /// (`Event::ChildOutbound`).
    pub fn take_outbound(&mut self, i: &mut Installed) -> Result<(), ChildError> {
        let sad = self.sadb.sad_mut();
        let h = sad.inbound(i.spi_out, i.proto, i.remote).ok_or_else(|| ChildError::Sa(format!("outbound SA {:08x} is not installed", i.spi_out)))?;
        sad.take_binding(h).map_err(|e| ChildError::Sa(e.to_string()))?;
        i.standby = false;
        Ok(())
    }

    /// Removes the policies of [`Dataplane::add_conn_policies`] (missing ones are ignored).
    pub fn remove_conn_policies(&mut self, p: ConnPolicies) {
        let _ = self.sadb.delete_policy(p.out);
        let _ = self.sadb.delete_policy(p.inb);
    }

    /// Removes both SAs of a CHILD_SA (missing ones are ignored).
    pub fn remove_child(&mut self, i: &Installed) {
        let _ = self.sadb.delete_sa(i.spi_in, i.proto, i.local);
        let _ = self.sadb.delete_sa(i.spi_out, i.proto, i.remote);
    }
}

fn transform(c: &ChildSaUp) -> Result<Transform, ChildError> {
    let a = &c.algs;
    let bad = || ChildError::Algorithms(a.name());
    Ok(match (a.protocol, a.encr, a.integ) {
        (ProtocolId::Ah, None, Some(i)) => Transform::Ah(i),
        (ProtocolId::Esp, Some(e), None) => Transform::Aead(e.aead().ok_or_else(bad)?),
        (ProtocolId::Esp, Some(e), Some(i)) => Transform::CbcHmac(e.cipher().ok_or_else(bad)?, i),
        _ => return Err(bad()),
    })
}

/// The inbound and outbound SA configs of a CHILD_SA.
fn sa_configs(c: &ChildSaUp, replay: u32) -> Result<(SaConfig, SaConfig), ChildError> {
    let t = transform(c)?;
    let protocol = c.algs.protocol.ipsec().unwrap_or(Protocol::Esp);
    let mode = c.mode;
    let (local, remote) = (c.local.ip(), c.remote.ip());
    let cfg = |spi: Spi, src: IpAddr, dst: IpAddr, enc: &Zeroizing<Vec<u8>>, integ: &Zeroizing<Vec<u8>>| {
        let (enc_key, auth_key) = match t {
            Transform::Ah(_) => (Zeroizing::new(Vec::new()), integ.clone()),
            _ => (enc.clone(), integ.clone()),
        };
        SaConfig { spi, protocol, mode, src, dst, transform: t, enc_key, auth_key, esn: c.algs.esn, replay_window: replay, tfc_padding: false }
    };
    Ok((cfg(c.spi_in, remote, local, &c.enc_in, &c.integ_in), cfg(c.spi_out, local, remote, &c.enc_out, &c.integ_out)))
}
