//! The `[ike]` and `[[conn]]` sections of the daemon config (their schema
//! is in `crate::config`), and their translation into the IKE core's [`PeerConfig`]s with errors that name the
//! file and the connection.
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use esprit_ike::{ChildConfig, Identity, Mode, PeerConfig, ProposalSpec, ProtocolId, TrafficSelector};

use crate::config::{Config, ConnMode, ConnProtocol};

pub use crate::config::{Oe, Start};

/// A connection as the daemon runs it.
#[derive(Debug, Clone)]
pub struct Conn {
    pub peer: PeerConfig,
    pub start: Start,
    pub protocol: ProtocolId,
    pub oe: Option<Oe>,
    pub oe_timeout: Duration,
    pub key: Option<PathBuf>,
}

/// A duration setting where `0` means off.
fn nonzero(d: Option<Duration>) -> Option<Duration> {
    d.filter(|d| !d.is_zero())
}

/// Our IKE address: `[ike] local`, else outer.listen's address, else (ESP
/// in UDP on every address) the outer address `crate::local_addr` picks,
/// else `[tun] source`.
pub fn local_ip(cfg: &Config) -> Result<IpAddr> {
    if let Some(a) = cfg.ike.as_ref().and_then(|i| i.local) {
        return Ok(a);
    }
    if !cfg.outer.listen.ip().is_unspecified() {
        return Ok(cfg.outer.listen.ip());
    }
    // ESP in UDP on every address: the outer socket's own choice.
    if cfg.outer.transport == crate::config::OuterTransport::Udp {
        if let Ok(a) = crate::local_addr::outer_local(cfg, &[]) {
            return Ok(a);
        }
    }
    if let Some(s) = cfg.tun.as_ref().and_then(|t| t.source) {
        return Ok(s);
    }
    bail!("{}: IKE needs our address: set [ike] local = \"192.0.2.1\" (or outer.listen / tun.source)", cfg.path.display())
}

fn ts_list(v: &[String], default: TrafficSelector, at: &str) -> Result<Vec<TrafficSelector>> {
    if v.is_empty() {
        return Ok(vec![default]);
    }
    v.iter().map(|s| TrafficSelector::parse(s).map_err(|e| anyhow::anyhow!("{at}: {e}"))).collect()
}

/// Translates every `[[conn]]`.
pub fn conns(cfg: &Config) -> Result<Vec<Conn>> {
    let local = local_ip(cfg)?;
    let mut out = Vec::new();
    for c in &cfg.conn {
        // Duplicate names were refused by `Config::parse`.
        let name = c.name.get_ref();
        let at = format!("{}: [[conn]] {name}", c.at);
        let remote = match c.remote.as_str() {
            "any" | "%any" => None,
            r => Some(crate::remote_addr::remote_addr(r, local).map_err(|e| anyhow::anyhow!("{at}: {e}"))?),
        };
        let protocol = match c.protocol {
            ConnProtocol::Esp => ProtocolId::Esp,
            ConnProtocol::Ah => ProtocolId::Ah,
        };
        let mode = match c.mode {
            ConnMode::Tunnel => Mode::Tunnel,
            ConnMode::Transport => Mode::Transport,
        };
        let ike_texts = if c.ike.is_empty() { vec!["aes128gcm16-prfsha256-x25519".to_string()] } else { c.ike.clone() };
        let ike = ike_texts.iter().map(|p| ProposalSpec::parse(p, ProtocolId::Ike).map_err(|e| anyhow::anyhow!("{at}: ike: {e}"))).collect::<Result<Vec<_>>>()?;
        let esp_default = if protocol == ProtocolId::Ah { "sha256" } else { "aes128gcm16" };
        let esp_texts = if c.esp.is_empty() { vec![esp_default.to_string()] } else { c.esp.clone() };
        let esp = esp_texts.iter().map(|p| ProposalSpec::parse(p, protocol).map_err(|e| anyhow::anyhow!("{at}: esp: {e}"))).collect::<Result<Vec<_>>>()?;
        let host = |a: IpAddr| TrafficSelector::from_prefix(a, if a.is_ipv4() { 32 } else { 128 });
        let local_ts = ts_list(&c.local_ts, host(local), &at)?;
        let remote_default = match remote {
            Some(r) => host(r),
            None => TrafficSelector::parse(if local.is_ipv4() { "0.0.0.0/0" } else { "::/0" }).map_err(|e| anyhow::anyhow!(e))?,
        };
        let remote_ts = ts_list(&c.remote_ts, remote_default, &at)?;
        let start = c.start;
        let oe_group = c.oe.is_some();
        if start != Start::None && remote.is_none() && !oe_group {
            bail!("{at}: start = {:?} needs a remote address (remote = \"any\" can only respond, or set `oe` for an opportunistic group)", start.as_str());
        }
        let id = |s: &Option<String>, default: Option<Identity>, what: &str| -> Result<Option<Identity>> {
            match s.as_deref() {
                None => Ok(default),
                Some("any") | Some("%any") => Ok(None),
                Some(t) => Identity::parse(t).map(Some).map_err(|e| anyhow::anyhow!("{at}: {what}: {e}")),
            }
        };
        let local_id = id(&c.local_id, Some(Identity::ip(local)), "local_id")?.unwrap_or_else(|| Identity::ip(local));
        let remote_id = id(&c.remote_id, remote.map(Identity::ip), "remote_id")?;
        let cert = match &c.cert {
            Some(p) => {
                let p = cfg.resolve(p);
                Some(crate::pki::key_file::load_certificate(&p).map_err(|e| anyhow::anyhow!("{at}: cert: {e}"))?)
            }
            None => None,
        };
        let certreq = match &c.ca {
            Some(p) => {
                let p = cfg.resolve(p);
                let der = crate::pki::key_file::load_certificate(&p).map_err(|e| anyhow::anyhow!("{at}: ca: {e}"))?;
                vec![spki_sha1(&der).with_context(|| format!("{at}: ca {}: not an X.509 certificate", p.display()))?]
            }
            None => Vec::new(),
        };
        let pool = match &c.pool {
            Some(p) => {
                let (a, l) = crate::config::parse_prefix(p).with_context(|| format!("{at}: pool"))?;
                match a {
                    IpAddr::V4(v) => Some((v, l)),
                    IpAddr::V6(_) => bail!("{at}: pool: only IPv4 pools are supported"),
                }
            }
            None => None,
        };
        let oe = c.oe;
        let rekey = nonzero(c.rekey);
        out.push(Conn {
            peer: PeerConfig {
                name: name.clone(),
                remote,
                remote_port: c.remote_port.unwrap_or(500),
                local_id,
                remote_id,
                auth: c.auth.clone(),
                ike,
                children: vec![ChildConfig { name: name.clone(), proposals: esp, mode, local_ts, remote_ts, rekey }],
                cert,
                certreq,
                ike_rekey: nonzero(c.ike_rekey),
                dpd: nonzero(c.dpd),
                request_vip: c.vip,
                pool,
            },
            start,
            protocol,
            oe,
            oe_timeout: nonzero(c.oe_timeout).unwrap_or(Duration::from_secs(3)),
            key: c.key.as_ref().map(|k| cfg.resolve(k)),
        });
    }
    Ok(out)
}

/// The largest per-packet overhead a CHILD_SA of any `[[conn]]` can add, for
/// the TUN MTU. The data plane sizes the TUN from the SAs it has at start,
/// and IKE installs its SAs only later: an IKE-only config got MTU 1500, so
/// every full-size inner packet became an outer packet over the link MTU
/// ("outer send/receive error"; TCP over an IKE transport SA stalled).
/// Worst cases: ESP = header 8 + CBC IV 16 + padding 15 + trailer 2 + ICV 32
/// (HMAC-SHA-512/256); AH = 12 + ICV 32, padded for IPv6; tunnel mode adds an
/// IPv6 header (40); UDP encapsulation (configured or after a NAT) adds 8.
pub fn max_overhead(cfg: &Config) -> usize {
    cfg.conn
        .iter()
        .map(|c| {
            let proto = if c.protocol == ConnProtocol::Ah { 48 } else { 73 };
            let tunnel = if c.mode == ConnMode::Transport { 0 } else { 40 };
            proto + tunnel + 8
        })
        .max()
        .unwrap_or(0)
}

/// SHA-1 of a certificate's SubjectPublicKeyInfo (the CERTREQ CA hash, RFC 7296 §3.7).
fn spki_sha1(der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let spki = cert.tbs_certificate.subject_pki.raw;
    Some(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, spki).as_ref().to_vec())
}
