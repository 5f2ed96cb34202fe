//! racoon.conf + setkey.conf → an esprit IKEv2 configuration (plain data;
//! `emit.rs` writes it as TOML).
//!
//! racoon splits IKE into a `remote` stanza (phase 1: the IKE SA, per peer or
//! `anonymous` for any peer) and `sainfo` stanzas (phase 2: the IPsec SAs),
//! while setkey.conf says which traffic needs IPsec. An esprit `[[conn]]`
//! holds all three, so one conn is made per `out` policy (see
//! `policies.rs`), with the `remote` stanza of the policy's peer (its
//! address, else `anonymous`) and the `sainfo` whose IDs equal the policy's
//! selectors (else `anonymous`).
//!
//! `remote anonymous` means "any peer may use these phase 1 settings". An
//! esprit conn still needs a peer address to initiate to (racoon got it from
//! the ACQUIRE, i.e. from the policy), so `remote` is the policy's peer and
//! `remote_id = "any"`: as with racoon, the peer's identity is whatever its
//! certificate (verified against the CA) or its pre-shared key proves.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use esprit_sadb::decider::IpsecMode;

use super::algs::{self, Phase1};
use super::cert;
use super::policies::{OutPolicy, Policies};
use super::psk;
use super::racoon::{Ident, Peer, RacoonConf, Remote, SaInfo};
use super::warn::Warnings;

/// The seed document's certificate folder (its step 5) and racoon's usual default.
pub const RACOON_CERT_DIR: &str = "/etc/racoon/certs";
/// racoon's usual pre-shared key file.
pub const RACOON_PSK_FILE: &str = "/etc/racoon/psk.txt";
/// File names of the auth plugins' components (built from plugins/).
pub const X509_WASM: &str = "x509_auth.wasm";
pub const PSK_WASM: &str = "psk_auth.wasm";

/// Command-line choices that steer the conversion.
#[derive(Debug, Clone)]
pub struct Options {
    /// Instance name (`name = ...`).
    pub name: Option<String>,
    /// Where the certificates are on the host that will run esprit.
    pub certs: Option<PathBuf>,
    /// This host's address, when setkey.conf does not tell it.
    pub local: Option<IpAddr>,
    /// Folder holding the auth plugins' `.wasm` files.
    pub plugin_dir: PathBuf,
    /// Folder of racoon.conf (relative `path` values resolve against it).
    pub racoon_dir: PathBuf,
}

/// A conversion that cannot produce a usable configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{file}: no `spdadd ... -P out ipsec ...` policy that IKE can negotiate for (esprit makes one [[conn]] per out policy; see the warnings above)")]
    NoPolicy { file: String },
    #[error("cannot tell this host's address: {file}:{line}: the out policy's source is {src}, not a single address; pass --local ADDRESS (this host's address towards {peer})")]
    NeedLocal { file: String, line: u32, src: String, peer: IpAddr },
    #[error("{file}: no `remote {peer}` or `remote anonymous` stanza for the peer of {setkey}:{line}")]
    NoRemote { file: String, peer: IpAddr, setkey: String, line: u32 },
    #[error("{file}:{line}: authentication_method {method} cannot be carried over: esprit authenticates with certificates (rsasig) or pre-shared keys (psk)")]
    AuthMethod { file: String, line: u32, method: String },
}

/// How a conn authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    X509,
    Psk,
}

/// One `[[conn]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conn {
    /// Comment lines written above the conn (where it came from, notes).
    pub comments: Vec<String>,
    pub name: String,
    pub remote: String,
    pub local_id: String,
    pub remote_id: String,
    pub auth: String,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub ike: Vec<String>,
    pub esp: Vec<String>,
    pub protocol: &'static str,
    pub mode: &'static str,
    pub local_ts: Vec<String>,
    pub remote_ts: Vec<String>,
    pub start: &'static str,
    pub rekey: Option<String>,
    pub ike_rekey: Option<String>,
    pub dpd: Option<String>,
}

/// A plugin spec file to write next to the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFile {
    pub file_name: String,
    pub text: String,
    /// Holds a secret: written with mode 0600.
    pub secret: bool,
}

/// `[ike]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IkeSection {
    pub port: u16,
    pub retransmit_timeout: Option<String>,
    pub retransmit_tries: Option<u32>,
    pub keepalive: Option<String>,
}

/// The whole imported configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub name: String,
    pub local: IpAddr,
    pub ike: IkeSection,
    pub conns: Vec<Conn>,
    pub plugins: Vec<PluginFile>,
    /// Policies kept as setkey text (`none` / `discard`).
    pub setkey: Vec<String>,
    /// Where the inputs were (for the header comment).
    pub sources: (String, String),
}

/// `3600` → `"1h"`, `90` → `"90s"`, `120` → `"2m"`.
#[allow(clippy::manual_is_multiple_of)] // is_multiple_of needs Rust 1.87; the MSRV is 1.85
pub fn duration(secs: u64) -> String {
    if secs != 0 && secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs != 0 && secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

fn quote_path(p: &Path) -> String {
    p.display().to_string()
}

/// Converts; warnings go to `w`.
pub fn convert(rc: &RacoonConf, pol: &Policies, setkey_file: &str, opts: &Options, w: &mut Warnings) -> Result<Imported, ConvertError> {
    let file = rc.file.as_str();
    if pol.out.is_empty() {
        return Err(ConvertError::NoPolicy { file: setkey_file.to_string() });
    }
    let local = local_address(rc, pol, setkey_file, opts, w)?;
    let cert_dir = match (&opts.certs, &rc.path_certificate) {
        (Some(d), _) => d.clone(),
        (None, Some(p)) => opts.racoon_dir.join(&p.value),
        (None, None) => PathBuf::from(RACOON_CERT_DIR),
    };

    // Remarks about racoon-wide settings.
    let mut ike = IkeSection { port: 500, ..Default::default() };
    if let Some(l) = rc.isakmp.iter().find(|l| l.value.0 == local) {
        if let Some(p) = l.value.1 {
            ike.port = p;
        }
    }
    ike.retransmit_tries = rc.timer_counter.as_ref().map(|c| c.value);
    ike.retransmit_timeout = rc.timer_interval.as_ref().map(|i| duration(i.value));
    ike.keepalive = rc.natt_keepalive.as_ref().map(|k| duration(k.value));

    for r in &rc.remotes {
        if let Peer::Address(a) = r.peer {
            if !pol.out.iter().any(|o| o.peer == a) {
                w.at(file, r.line, format!("remote {a} is used by no setkey.conf out policy; not carried over (esprit makes one conn per out policy)"));
            }
        }
    }

    let mut conns: Vec<Conn> = Vec::new();
    let mut x509: Option<X509Plugin> = None;
    let mut psk_entries: Vec<(String, String)> = Vec::new();
    for o in &pol.out {
        let remote = find_remote(rc, o.peer).ok_or_else(|| ConvertError::NoRemote {
            file: file.to_string(),
            peer: o.peer,
            setkey: setkey_file.to_string(),
            line: o.line,
        })?;
        let sainfo = find_sainfo(rc, o);
        // One conn per out policy; a second policy to the same peer gets `-2`, ...
        let same = conns.iter().filter(|c| c.remote == o.peer.to_string()).count();
        let name = if same == 0 { format!("to-{}", o.peer) } else { format!("to-{}-{}", o.peer, same + 1) };
        let mut c = conn_skeleton(&name, o);
        c.comments.push(format!(
            "from {setkey_file}:{} (out policy), {file}:{} (remote {}){}",
            o.line,
            remote.line,
            match remote.peer {
                Peer::Anonymous => "anonymous".to_string(),
                Peer::Address(a) => a.to_string(),
            },
            sainfo.map(|s| format!(", {file}:{} (sainfo)", s.line)).unwrap_or_default()
        ));
        phase1(&mut c, remote, file, w);
        phase2(&mut c, sainfo, o, file, w);
        match auth_kind(remote, file)? {
            AuthKind::X509 => x509_auth(&mut c, remote, &cert_dir, local, &mut x509, file, w),
            AuthKind::Psk => {
                psk_auth(&mut c, remote, rc, o.peer, local, opts, &mut psk_entries, file, w);
            }
        }
        conns.push(c);
    }

    let mut plugins = Vec::new();
    if let Some(x) = x509 {
        plugins.push(x.file(opts));
    }
    if conns.iter().any(|c| c.auth == "psk") {
        plugins.push(psk_file(&psk_entries, opts));
    }
    let name = opts.name.clone().unwrap_or_else(|| format!("racoon-{local}"));
    Ok(Imported {
        name,
        local,
        ike,
        conns,
        plugins,
        setkey: pol.setkey.clone(),
        sources: (file.to_string(), setkey_file.to_string()),
    })
}

/// This host's address: `--local`, else a tunnel request's local endpoint,
/// else a single-address source of an out policy, else `listen isakmp`.
fn local_address(rc: &RacoonConf, pol: &Policies, setkey_file: &str, opts: &Options, w: &mut Warnings) -> Result<IpAddr, ConvertError> {
    let guess = pol
        .out
        .iter()
        .find_map(|o| o.tunnel.map(|t| t.0))
        .or_else(|| pol.out.iter().find(|o| o.local_ts.len() == if o.local_ts.addr().is_ipv4() { 32 } else { 128 }).map(|o| o.local_ts.addr()))
        .or_else(|| rc.isakmp.first().map(|l| l.value.0));
    let local = match (opts.local, guess) {
        (Some(l), _) => l,
        (None, Some(g)) => g,
        (None, None) => {
            let o = &pol.out[0];
            return Err(ConvertError::NeedLocal { file: setkey_file.to_string(), line: o.line, src: o.local_ts.to_string(), peer: o.peer });
        }
    };
    for o in &pol.out {
        if o.mode == IpsecMode::Transport && !o.local_ts.contains(local) {
            w.at(setkey_file, o.line, format!("this host's address {local} is outside the out policy's source {}: transport mode only protects this host's own packets", o.local_ts));
        }
    }
    Ok(local)
}

fn find_remote(rc: &RacoonConf, peer: IpAddr) -> Option<&Remote> {
    rc.remotes
        .iter()
        .find(|r| r.peer == Peer::Address(peer))
        .or_else(|| rc.remotes.iter().find(|r| r.peer == Peer::Anonymous))
}

fn find_sainfo<'a>(rc: &'a RacoonConf, o: &OutPolicy) -> Option<&'a SaInfo> {
    let matches = |id: &Option<super::racoon::SaId>, p: &esprit_sadb::selector::IpPrefix| match id {
        None => true,
        Some(id) => id.addr == p.addr() && id.prefix_len == p.len(),
    };
    let specific = rc
        .sainfos
        .iter()
        .find(|s| (s.local.is_some() || s.remote.is_some()) && matches(&s.local, &o.local_ts) && matches(&s.remote, &o.remote_ts));
    specific.or_else(|| rc.sainfos.iter().find(|s| s.local.is_none() && s.remote.is_none()))
}

fn conn_skeleton(name: &str, o: &OutPolicy) -> Conn {
    Conn {
        comments: Vec::new(),
        name: name.to_string(),
        remote: o.peer.to_string(),
        local_id: String::new(),
        remote_id: "any".into(),
        auth: String::new(),
        cert: None,
        key: None,
        ike: Vec::new(),
        esp: Vec::new(),
        protocol: if o.ah_only { "ah" } else { "esp" },
        mode: o.mode.name(),
        local_ts: vec![o.local_ts.to_string()],
        remote_ts: vec![o.remote_ts.to_string()],
        start: "trap",
        rekey: None,
        ike_rekey: None,
        dpd: None,
    }
}

/// Phase 1 (`remote`) settings → the conn's IKE SA settings.
fn phase1(c: &mut Conn, r: &Remote, file: &str, w: &mut Warnings) {
    if let Some(m) = &r.exchange_mode {
        w.at(file, m.line, format!("exchange_mode {} is IKEv1; esprit speaks IKEv2 (IKE_SA_INIT + IKE_AUTH), which strongSwan and racoon2 also use", m.value.join(", ")));
    }
    if let Some(n) = &r.nonce_size {
        // RFC 7296 §2.10: nonces are 16..256 octets; esprit picks its own size.
        if !(16..=256).contains(&n.value) {
            w.at(file, n.line, format!("nonce_size {} ignored: IKEv2 nonces are 16 to 256 bytes (RFC 7296 section 2.10) and esprit chooses their size", n.value));
        } else {
            c.comments.push(format!("nonce_size {}: esprit chooses its nonce size itself (RFC 7296 allows 16..256)", n.value));
        }
    }
    match &r.initial_contact {
        Some(i) if !i.value => w.at(file, i.line, "initial_contact off is not carried over: esprit sends INITIAL_CONTACT on its first IKE SA with a peer (RFC 7296 section 2.4)"),
        Some(_) => c.comments.push("initial_contact on: esprit's default (INITIAL_CONTACT on the first IKE SA with a peer)".into()),
        None => {}
    }
    if let Some(p) = &r.proposal_check {
        if p.value == "obey" {
            c.comments.push("proposal_check obey: IKEv2 does not negotiate lifetimes; each side rekeys on its own schedule".into());
        } else {
            w.at(file, p.line, format!("proposal_check {} is not carried over: IKEv2 does not negotiate lifetimes (each side rekeys on its own), so there is nothing to check", p.value));
        }
    }
    if let Some(n) = &r.nat_traversal {
        if n.value == "off" {
            w.at(file, n.line, "nat_traversal off is not carried over: esprit always detects NAT (RFC 7296 section 2.23) and moves to UDP 4500 only when one is found");
        } else {
            c.comments.push(format!("nat_traversal {}: always on in esprit (RFC 7296 section 2.23, RFC 3948)", n.value));
        }
    }
    if let Some(d) = &r.dpd_delay {
        c.dpd = Some(duration(d.value));
    }
    let lifetime = r.proposals.iter().find_map(|p| p.lifetime.as_ref()).or(r.lifetime.as_ref());
    c.ike_rekey = lifetime.map(|l| duration(l.value));
    let props: Vec<Phase1> = r
        .proposals
        .iter()
        .map(|p| Phase1 { encryption: &p.encryption, hash: &p.hash, dh_group: p.dh_group.as_ref() })
        .collect();
    c.ike = algs::ike_proposals(&props, file, w);
    if c.ike.is_empty() {
        w.at(file, r.line, "no phase 1 proposal esprit can use (see above); proposing esprit's defaults aes128gcm16-prfsha256-x25519 and aes256gcm16-prfsha384-x25519");
        c.ike = vec!["aes128gcm16-prfsha256-x25519".into(), "aes256gcm16-prfsha384-x25519".into()];
    }
}

/// Phase 2 (`sainfo`) settings → the conn's CHILD_SA settings.
fn phase2(c: &mut Conn, s: Option<&SaInfo>, o: &OutPolicy, file: &str, w: &mut Warnings) {
    let Some(s) = s else {
        c.comments.push("no sainfo matched: esprit's default CHILD_SA proposals".into());
        c.esp = if o.ah_only { vec!["sha256".into()] } else { vec!["aes128gcm16".into(), "aes256gcm16".into()] };
        return;
    };
    for comp in &s.compression {
        w.at(file, comp.line, format!("compression_algorithm {} is not carried over: esprit does not implement IPComp (RFC 3173)", comp.name));
    }
    c.rekey = s.lifetime.as_ref().map(|l| duration(l.value));
    c.esp = algs::child_proposals(&s.encryption, &s.authentication, s.pfs_group.as_ref(), o.ah_only, file, w);
    if c.esp.is_empty() {
        w.at(file, s.line, "no encryption algorithm of this sainfo is usable (see above); proposing esprit's default aes128gcm16 and aes256gcm16");
        c.esp = vec!["aes128gcm16".into(), "aes256gcm16".into()];
    }
}

fn auth_kind(r: &Remote, file: &str) -> Result<AuthKind, ConvertError> {
    let method = r.proposals.iter().find_map(|p| p.auth_method.as_ref());
    match method {
        None if r.certificate.is_some() => Ok(AuthKind::X509),
        None => Ok(AuthKind::Psk),
        Some(m) => match m.value.as_str() {
            "rsasig" => Ok(AuthKind::X509),
            "psk" | "pre_shared_key" => Ok(AuthKind::Psk),
            other => Err(ConvertError::AuthMethod { file: file.to_string(), line: m.line, method: other.to_string() }),
        },
    }
}

/// An identifier in the schema's typed form.
fn ident(id: &Ident, default_addr: Option<IpAddr>, file: &str, w: &mut Warnings) -> Option<String> {
    match (id.kind.as_str(), &id.value) {
        ("address", Some(v)) => Some(format!("ip:{v}")),
        ("address", None) => default_addr.map(|a| format!("ip:{a}")),
        ("fqdn", Some(v)) => Some(format!("fqdn:{v}")),
        ("user_fqdn", Some(v)) => Some(format!("email:{v}")),
        ("asn1dn", Some(v)) => Some(format!("dn:{v}")),
        ("asn1dn", None) => None, // from the certificate
        ("keyid", Some(v)) if v != "file" && v != "tag" => Some(format!("keyid:{v}")),
        (kind, _) => {
            w.at(file, id.line, format!("identifier `{kind}` {} cannot be carried over; write local_id/remote_id by hand", id.value.as_deref().unwrap_or("")));
            None
        }
    }
}

struct X509Plugin {
    ca: PathBuf,
    key_handle: String,
    scheme: &'static str,
}

impl X509Plugin {
    fn file(&self, opts: &Options) -> PluginFile {
        let text = format!(
            "# Plugin spec: x509 certificate authentication (RFC 7296 section 3.8 with\n\
             # RFC 7427 signatures), written by `esprit import racoon`.\n\
             name = \"x509\"\n\
             path = {}\n\n\
             [config]\n\
             # The private key is registered in the host key store under the conn's\n\
             # name (`key` of the [[conn]]); the plugin signs through this handle.\n\
             key_handle = {}\n\
             scheme = \"{}\"\n\n\
             [config_files]\n\
             # The CA that signed the peers' certificates (the seed's cacert.pem).\n\
             # esprit always verifies the peer's certificate chain against it.\n\
             ca = {}\n",
            toml_str(&quote_path(&opts.plugin_dir.join(X509_WASM))),
            toml_str(&self.key_handle),
            self.scheme,
            toml_str(&quote_path(&self.ca)),
        );
        PluginFile { file_name: "x509.plugin.toml".into(), text, secret: false }
    }
}

/// A TOML basic string.
pub fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn resolve(dir: &Path, name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() { p.to_path_buf() } else { dir.join(p) }
}

#[allow(clippy::too_many_arguments)]
fn x509_auth(c: &mut Conn, r: &Remote, cert_dir: &Path, local: IpAddr, plugin: &mut Option<X509Plugin>, file: &str, w: &mut Warnings) {
    c.auth = "x509".into();
    if let Some(v) = &r.verify_cert {
        if !v.value {
            w.at(file, v.line, "verify_cert off: esprit always verifies the peer certificate against the CA (cacert.pem from the seed's step 5); set verify_cert on");
        }
    }
    let mut scheme = cert::DEFAULT_SCHEME;
    let mut subject = None;
    match &r.certificate {
        None => w.at(file, r.line, "authentication_method rsasig without certificate_type x509: no certificate to send; set `cert` and `key` by hand"),
        Some(cf) => {
            let cert_path = resolve(cert_dir, &cf.cert);
            let key_path = resolve(cert_dir, &cf.key);
            match cert::read_cert(&cert_path) {
                Ok(info) => {
                    scheme = info.scheme;
                    subject = Some(info.subject);
                }
                Err(e) => w.at(file, cf.line, format!("{e}; local_id is left as a `dn:` placeholder: fill in the certificate's subject (or pass --certs DIR where the certificates are)")),
            }
            for problem in cert::check_key(&key_path) {
                w.at(file, cf.line, problem);
            }
            c.cert = Some(quote_path(&cert_path));
            c.key = Some(quote_path(&key_path));
        }
    }
    c.local_id = match &r.my_identifier {
        Some(id) if id.kind == "asn1dn" && id.value.is_none() => match subject {
            Some(s) => format!("dn:{s}"),
            None => "dn:".into(),
        },
        Some(id) => ident(id, Some(local), file, w).unwrap_or_else(|| format!("ip:{local}")),
        // racoon's default my_identifier is the address
        None => format!("ip:{local}"),
    };
    if let Some(id) = &r.peers_identifier {
        if let Some(v) = ident(id, None, file, w) {
            c.remote_id = v;
        }
    }
    let ca = match &r.ca {
        Some(ca) => resolve(cert_dir, &ca.value),
        None => cert_dir.join("cacert.pem"),
    };
    if std::fs::metadata(&ca).is_err() {
        w.general(format!("CA certificate {} is not here; esprit reads it at run time to verify peers (copy the seed's cacert.pem there, or pass --certs DIR)", ca.display()));
    }
    match plugin {
        None => *plugin = Some(X509Plugin { ca, key_handle: c.name.clone(), scheme }),
        Some(p) if p.ca != ca => w.at(file, r.line, format!("a second CA ({}) is not carried over: one x509 plugin spec holds one CA ({})", ca.display(), p.ca.display())),
        Some(_) => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn psk_auth(c: &mut Conn, r: &Remote, rc: &RacoonConf, peer: IpAddr, local: IpAddr, opts: &Options, entries: &mut Vec<(String, String)>, file: &str, w: &mut Warnings) {
    c.auth = "psk".into();
    c.local_id = r.my_identifier.as_ref().and_then(|id| ident(id, Some(local), file, w)).unwrap_or_else(|| format!("ip:{local}"));
    if let Some(id) = &r.peers_identifier {
        if let Some(v) = ident(id, Some(peer), file, w) {
            c.remote_id = v;
        }
    }
    let (path, line) = match &rc.path_pre_shared_key {
        Some(p) => (resolve(&opts.racoon_dir, &p.value), p.line),
        None => (PathBuf::from(RACOON_PSK_FILE), r.line),
    };
    match psk::read(&path) {
        Err(e) => w.at(file, line, format!("{e}; the psk plugin spec has no secret for {peer}: add one to psk.plugin.toml")),
        Ok(list) => match psk::lookup(&list, peer) {
            None => w.at(file, line, format!("{} has no key for {peer} (nor `*`); add one to psk.plugin.toml", path.display())),
            Some(e) => {
                let id = if e.id == "*" { "*".to_string() } else { peer.to_string() };
                if !entries.iter().any(|(i, _)| *i == id) {
                    entries.push((id, e.key.to_string()));
                }
            }
        },
    }
}

fn psk_file(entries: &[(String, String)], opts: &Options) -> PluginFile {
    let mut text = format!(
        "# Plugin spec: pre-shared key authentication (RFC 7296 section 2.15),\n\
         # written by `esprit import racoon` from racoon's psk.txt. Keep it private.\n\
         name = \"psk\"\n\
         path = {}\n",
        toml_str(&quote_path(&opts.plugin_dir.join(PSK_WASM)))
    );
    for (n, (id, key)) in entries.iter().enumerate() {
        text.push_str(&format!("\n[config.secrets.peer{}]\nid = {}\nsecret = {}\n", n + 1, toml_str(id), toml_str(key)));
    }
    PluginFile { file_name: "psk.plugin.toml".into(), text, secret: true }
}
