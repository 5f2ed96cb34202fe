//! racoon.conf (ipsec-tools, racoon.conf(5)): the subset that describes IKE
//! peers and SA proposals, read into plain data for the converter.
//!
//! Accepted grammar (everything else is skipped with a warning naming
//! `file:line`; malformed text is an error naming `file:line:col` and what
//! was expected):
//! ```text
//! path certificate "DIR";  path pre_shared_key "FILE";  path include|script|backupsa "...";
//! include "FILE";
//! listen { isakmp ADDRESS [[PORT]]; isakmp_natt ADDRESS [PORT]; adminsock ...; strict_address; }
//! log LEVEL;   padding { ... }   timer { counter N; interval N UNIT; natt_keepalive N UNIT; ... }
//! remote ADDRESS|anonymous [PORT] {
//!     exchange_mode main|aggressive|base[, ...];  doi ipsec_doi;  situation identity_only;
//!     my_identifier TYPE [VALUE];  peers_identifier TYPE [VALUE];  verify_identifier on|off;
//!     certificate_type x509 "CERT" "KEY";  ca_type x509 "CACERT";  verify_cert on|off;
//!     nonce_size N;  initial_contact on|off;  proposal_check obey|strict|claim|exact;
//!     lifetime time N UNIT;  nat_traversal on|off|force;  dpd_delay N;
//!     proposal { encryption_algorithm ALG [KEYLEN]; hash_algorithm ALG;
//!                authentication_method psk|pre_shared_key|rsasig; dh_group GROUP;
//!                lifetime time N UNIT; }
//! }
//! sainfo anonymous | ID anonymous | anonymous ID | ID ID  [from IDTYPE [VALUE]] [group NAME] {
//!     lifetime time N UNIT;  encryption_algorithm ALG [KEYLEN][, ...];
//!     authentication_algorithm ALG[, ...];  compression_algorithm deflate;  pfs_group GROUP;
//! }
//! ID = address|subnet ADDRESS[/PREFIX][[PORT]] UL_PROTO
//! UNIT = sec|secs|second|seconds|min|mins|minute|minutes|hour|hours
//! ```

pub mod syntax;

use std::net::IpAddr;

use syntax::{Pos, Stmt, Word};

use super::warn::Warnings;

/// racoon.conf could not be read or is malformed.
#[derive(Debug, thiserror::Error)]
pub enum RacoonError {
    /// `file:line:col: what was expected, found what`.
    #[error("{file}:{line}:{col}: {message}")]
    Syntax { file: String, line: u32, col: u32, message: String },
    #[error("{file}: {error}")]
    Io {
        file: String,
        // In the message, not a `source`: a `{:#}` chain would print it twice.
        error: std::io::Error,
    },
}

impl RacoonError {
    pub fn syntax(file: &str, pos: Pos, message: impl Into<String>) -> Self {
        RacoonError::Syntax { file: file.to_string(), line: pos.line, col: pos.col, message: message.into() }
    }
}

/// A value and the line it was written on (for warnings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At<T> {
    pub value: T,
    pub line: u32,
}

/// An algorithm name with racoon's optional key length (`aes 256`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alg {
    pub name: String,
    pub key_len: Option<u32>,
    pub line: u32,
}

/// `my_identifier` / `peers_identifier`: the ID type and optional value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub kind: String,
    pub value: Option<String>,
    pub line: u32,
}

/// Which peers a `remote` stanza is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Anonymous,
    Address(IpAddr),
}

/// A phase 1 `proposal { }` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proposal {
    pub line: u32,
    pub encryption: Vec<Alg>,
    pub hash: Vec<Alg>,
    pub auth_method: Option<At<String>>,
    pub dh_group: Option<At<String>>,
    pub lifetime: Option<At<u64>>,
}

/// `certificate_type x509 "CERT" "KEY"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: String,
    pub key: String,
    pub line: u32,
}

/// A `remote` stanza (phase 1 settings for one peer or for any peer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub peer: Peer,
    pub line: u32,
    pub exchange_mode: Option<At<Vec<String>>>,
    pub my_identifier: Option<Ident>,
    pub peers_identifier: Option<Ident>,
    pub certificate: Option<CertFiles>,
    pub ca: Option<At<String>>,
    pub verify_cert: Option<At<bool>>,
    pub nonce_size: Option<At<u32>>,
    pub initial_contact: Option<At<bool>>,
    pub proposal_check: Option<At<String>>,
    pub lifetime: Option<At<u64>>,
    pub nat_traversal: Option<At<String>>,
    pub dpd_delay: Option<At<u64>>,
    pub proposals: Vec<Proposal>,
}

/// One side of a `sainfo` (`address 10.0.0.0/24 any`); `None` = anonymous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaId {
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub proto: String,
}

/// A `sainfo` stanza (phase 2 settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaInfo {
    pub line: u32,
    pub local: Option<SaId>,
    pub remote: Option<SaId>,
    pub lifetime: Option<At<u64>>,
    pub encryption: Vec<Alg>,
    pub authentication: Vec<Alg>,
    pub compression: Vec<Alg>,
    pub pfs_group: Option<At<String>>,
}

/// racoon.conf as far as the importer understands it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RacoonConf {
    /// The file name as the user gave it (for warnings).
    pub file: String,
    pub path_certificate: Option<At<String>>,
    pub path_pre_shared_key: Option<At<String>>,
    /// `listen { isakmp ADDRESS [PORT]; }`.
    pub isakmp: Vec<At<(IpAddr, Option<u16>)>>,
    pub timer_counter: Option<At<u32>>,
    pub timer_interval: Option<At<u64>>,
    pub natt_keepalive: Option<At<u64>>,
    pub remotes: Vec<Remote>,
    pub sainfos: Vec<SaInfo>,
}

/// Reads and interprets a racoon.conf file.
pub fn parse_file(path: &std::path::Path, warnings: &mut Warnings) -> Result<RacoonConf, RacoonError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| RacoonError::Io { file: file.clone(), error: source })?;
    parse_str(&file, &text, warnings)
}

/// Interprets racoon.conf text; `file` names it in errors and warnings.
pub fn parse_str(file: &str, text: &str, warnings: &mut Warnings) -> Result<RacoonConf, RacoonError> {
    let stmts = syntax::parse(file, text)?;
    let mut r = Reader { file, warnings };
    let mut conf = RacoonConf { file: file.to_string(), ..Default::default() };
    for s in &stmts {
        r.top(s, &mut conf)?;
    }
    Ok(conf)
}

struct Reader<'a> {
    file: &'a str,
    warnings: &'a mut Warnings,
}

type R<T> = Result<T, RacoonError>;

impl Reader<'_> {
    fn err(&self, pos: Pos, msg: impl Into<String>) -> RacoonError {
        RacoonError::syntax(self.file, pos, msg)
    }

    fn warn(&mut self, line: u32, msg: impl Into<String>) {
        self.warnings.at(self.file, line, msg);
    }

    /// Argument `n` (0-based, after the keyword) or an error saying what was expected.
    fn arg<'s>(&self, s: &'s Stmt, n: usize, expected: &str) -> R<&'s Word> {
        s.args().get(n).ok_or_else(|| {
            let end = s.words.last().map(|w| Pos { line: w.pos.line, col: w.pos.col + w.text.chars().count() as u32 + 1 });
            self.err(end.unwrap_or(s.pos), format!("`{}` expects {expected}", s.keyword()))
        })
    }

    /// The error for a word where the statement should have ended.
    fn missing_semi(&self, s: &Stmt, w: &Word) -> RacoonError {
        let prev = s.words.iter().take_while(|x| x.pos != w.pos).last();
        let hint = match prev {
            Some(p) if p.pos.line < w.pos.line => format!(" (is the ';' missing at the end of line {}?)", p.pos.line),
            _ => String::new(),
        };
        let after = prev.map(|p| format!(" after '{}'", p.text)).unwrap_or_default();
        self.err(w.pos, format!("expected ',' or ';'{after}, found '{}'{hint}", w.text))
    }

    /// At most `n` words after the keyword.
    fn at_most(&self, s: &Stmt, n: usize) -> R<()> {
        match s.args().get(n) {
            Some(w) => Err(self.missing_semi(s, w)),
            None => Ok(()),
        }
    }

    fn number<T: std::str::FromStr>(&self, w: &Word, what: &str) -> R<T> {
        w.text.parse().map_err(|_| self.err(w.pos, format!("expected {what}, found '{}'", w.text)))
    }

    fn on_off(&self, s: &Stmt) -> R<At<bool>> {
        let w = self.arg(s, 0, "on or off")?;
        let v = match w.text.as_str() {
            "on" => true,
            "off" => false,
            other => return Err(self.err(w.pos, format!("expected on or off, found '{other}'"))),
        };
        self.at_most(s, 1)?;
        Ok(At { value: v, line: s.pos.line })
    }

    fn no_block(&self, s: &Stmt) -> R<()> {
        match &s.block {
            Some(_) => Err(self.err(s.pos, format!("expected ';' after `{}`, found a '{{' block", s.keyword()))),
            None => Ok(()),
        }
    }

    fn block<'s>(&self, s: &'s Stmt) -> R<&'s [Stmt]> {
        s.block.as_deref().ok_or_else(|| self.err(s.pos, format!("expected a '{{' block after `{}`", s.words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "))))
    }

    /// `N UNIT` starting at argument `n`, in seconds.
    fn duration(&self, s: &Stmt, n: usize) -> R<u64> {
        let num = self.arg(s, n, "a number and a unit (sec, min or hour)")?;
        let v: u64 = self.number(num, "a number")?;
        let unit = match s.args().get(n + 1) {
            None => return Ok(v), // racoon reads a bare number as seconds
            Some(u) => u,
        };
        self.at_most(s, n + 2)?;
        let mult = match unit.text.as_str() {
            "sec" | "secs" | "second" | "seconds" => 1,
            "min" | "mins" | "minute" | "minutes" => 60,
            "hour" | "hours" => 3600,
            other => return Err(self.err(unit.pos, format!("expected a time unit (sec, min or hour), found '{other}'"))),
        };
        Ok(v.saturating_mul(mult))
    }

    /// `lifetime time N UNIT` → seconds; `lifetime byte ...` → a warning.
    fn lifetime(&mut self, s: &Stmt) -> R<Option<At<u64>>> {
        let kind = self.arg(s, 0, "`time N UNIT` or `byte N UNIT`")?;
        match kind.text.as_str() {
            "time" => Ok(Some(At { value: self.duration(s, 1)?, line: s.pos.line })),
            "byte" => {
                self.warn(s.pos.line, "lifetime byte is not carried over: esprit rekeys CHILD_SAs by time (and by its own packet/byte limits)");
                Ok(None)
            }
            other => Err(self.err(kind.pos, format!("expected `time` or `byte` after lifetime, found '{other}'"))),
        }
    }

    /// A comma-separated algorithm list, each item `NAME [KEYLEN]`.
    fn algs(&self, s: &Stmt) -> R<Vec<Alg>> {
        self.arg(s, 0, "at least one algorithm")?;
        let mut out: Vec<Alg> = Vec::new();
        // After a name: a key length, ',' or the end. After a key length: ',' or the end.
        let mut after_len = false;
        let mut expect_name = true;
        for w in s.args() {
            if expect_name {
                out.push(Alg { name: w.text.to_ascii_lowercase(), key_len: None, line: w.pos.line });
                after_len = false;
            } else if after_len || w.text.parse::<u32>().is_err() {
                return Err(self.missing_semi(s, w));
            } else {
                let len: u32 = self.number(w, "a key length in bits")?;
                if let Some(last) = out.last_mut() {
                    last.key_len = Some(len);
                }
                after_len = true;
            }
            expect_name = w.comma_after;
        }
        Ok(out)
    }

    fn one_value(&self, s: &Stmt, expected: &str) -> R<At<String>> {
        let w = self.arg(s, 0, expected)?;
        self.at_most(s, 1)?;
        Ok(At { value: w.text.clone(), line: s.pos.line })
    }

    fn top(&mut self, s: &Stmt, conf: &mut RacoonConf) -> R<()> {
        let line = s.pos.line;
        match s.keyword() {
            "path" => {
                self.no_block(s)?;
                let kind = self.arg(s, 0, "certificate, pre_shared_key, include, script or backupsa")?;
                let value = self.arg(s, 1, "a quoted path")?;
                self.at_most(s, 2)?;
                let v = At { value: value.text.clone(), line };
                match kind.text.as_str() {
                    "certificate" => conf.path_certificate = Some(v),
                    "pre_shared_key" => conf.path_pre_shared_key = Some(v),
                    "include" | "script" | "backupsa" => {
                        self.warn(line, format!("path {} is not used by esprit; ignored", kind.text))
                    }
                    other => self.warn(line, format!("unknown path type '{other}'; ignored")),
                }
            }
            "include" => self.warn(line, "include is not followed by the importer: import the included file's stanzas by merging them into this file"),
            "listen" => {
                for st in self.block(s)? {
                    self.listen(st, conf)?;
                }
            }
            "log" => {
                let level = self.arg(s, 0, "a log level")?;
                self.at_most(s, 1)?;
                self.warn(line, format!("log {}: set esprit's log level with the environment variable ESPRIT_LOG (e.g. ESPRIT_LOG=debug)", level.text));
            }
            "padding" => {
                self.block(s)?;
                self.warn(line, "padding is not carried over: esprit pads ESP as RFC 4303 section 2.4 says and checks padding on input");
            }
            "timer" => {
                for st in self.block(s)? {
                    self.timer(st, conf)?;
                }
            }
            "remote" => {
                let r = self.remote(s)?;
                conf.remotes.push(r);
            }
            "sainfo" => {
                let si = self.sainfo(s)?;
                conf.sainfos.push(si);
            }
            other => self.warn(line, format!("unknown statement `{other}`; ignored")),
        }
        Ok(())
    }

    fn listen(&mut self, s: &Stmt, conf: &mut RacoonConf) -> R<()> {
        let line = s.pos.line;
        match s.keyword() {
            "isakmp" => {
                let a = self.arg(s, 0, "an address")?;
                let (addr, port) = self.addr_port(a)?;
                self.at_most(s, 2)?;
                let port = match (port, s.args().get(1)) {
                    (Some(p), _) => Some(p),
                    (None, Some(w)) => {
                        let p = w.text.trim_start_matches('[').trim_end_matches(']');
                        Some(p.parse().map_err(|_| self.err(w.pos, format!("expected a port number, found '{}'", w.text)))?)
                    }
                    (None, None) => None,
                };
                conf.isakmp.push(At { value: (addr, port), line });
            }
            "isakmp_natt" => self.warn(line, "listen isakmp_natt: esprit's NAT-T port is the [outer] listen port (4500)"),
            "adminsock" => self.warn(line, "listen adminsock: esprit's control socket is `control_socket` (see `esprit status`)"),
            "strict_address" => {}
            other => self.warn(line, format!("unknown listen statement `{other}`; ignored")),
        }
        Ok(())
    }

    fn timer(&mut self, s: &Stmt, conf: &mut RacoonConf) -> R<()> {
        let line = s.pos.line;
        match s.keyword() {
            "counter" => {
                let w = self.arg(s, 0, "a number")?;
                self.at_most(s, 1)?;
                conf.timer_counter = Some(At { value: self.number(w, "a number")?, line });
            }
            "interval" => conf.timer_interval = Some(At { value: self.duration(s, 0)?, line }),
            "natt_keepalive" => conf.natt_keepalive = Some(At { value: self.duration(s, 0)?, line }),
            other => self.warn(line, format!("timer {other} has no esprit setting; ignored")),
        }
        Ok(())
    }

    /// `ADDRESS[PORT]` or `ADDRESS`.
    fn addr_port(&self, w: &Word) -> R<(IpAddr, Option<u16>)> {
        let (a, port) = match w.text.split_once('[') {
            Some((a, rest)) => {
                let p = rest.strip_suffix(']').ok_or_else(|| self.err(w.pos, format!("expected ADDRESS[PORT], found '{}'", w.text)))?;
                let port = if p == "any" { None } else { Some(p.parse().map_err(|_| self.err(w.pos, format!("expected a port number in brackets, found '{p}'")))?) };
                (a, port)
            }
            None => (w.text.as_str(), None),
        };
        let addr = a.parse().map_err(|_| self.err(w.pos, format!("expected an IPv4 or IPv6 address, found '{a}'")))?;
        Ok((addr, port))
    }

    fn remote(&mut self, s: &Stmt) -> R<Remote> {
        let who = self.arg(s, 0, "an address or `anonymous`")?;
        let peer = if who.text == "anonymous" { Peer::Anonymous } else { Peer::Address(self.addr_port(who)?.0) };
        if s.args().len() > 1 {
            self.warn(s.pos.line, "remote: words after the address (port, `inherit`) are not carried over");
        }
        let mut r = Remote {
            peer,
            line: s.pos.line,
            exchange_mode: None,
            my_identifier: None,
            peers_identifier: None,
            certificate: None,
            ca: None,
            verify_cert: None,
            nonce_size: None,
            initial_contact: None,
            proposal_check: None,
            lifetime: None,
            nat_traversal: None,
            dpd_delay: None,
            proposals: Vec::new(),
        };
        for st in self.block(s)? {
            let line = st.pos.line;
            if st.keyword() != "proposal" {
                self.no_block(st)?;
            }
            match st.keyword() {
                "exchange_mode" => {
                    let modes = self.algs(st)?.into_iter().map(|a| a.name).collect();
                    r.exchange_mode = Some(At { value: modes, line });
                }
                "doi" | "situation" => self.at_most(st, 1)?, // racoon knows one value of each (ipsec_doi, identity_only)
                "my_identifier" => r.my_identifier = Some(self.ident(st)?),
                "peers_identifier" => r.peers_identifier = Some(self.ident(st)?),
                "verify_identifier" => {
                    self.on_off(st)?;
                }
                "certificate_type" => {
                    let kind = self.arg(st, 0, "x509 \"CERT\" \"KEY\"")?;
                    if kind.text != "x509" {
                        self.warn(line, format!("certificate_type {} is not supported (esprit reads X.509 PEM/DER); ignored", kind.text));
                        continue;
                    }
                    let cert = self.arg(st, 1, "x509 \"CERT\" \"KEY\"")?.text.clone();
                    let key = self.arg(st, 2, "x509 \"CERT\" \"KEY\"")?.text.clone();
                    self.at_most(st, 3)?;
                    r.certificate = Some(CertFiles { cert, key, line });
                }
                "ca_type" => {
                    let kind = self.arg(st, 0, "x509 \"CACERT\"")?;
                    if kind.text != "x509" {
                        self.warn(line, format!("ca_type {} is not supported; ignored", kind.text));
                        continue;
                    }
                    self.at_most(st, 2)?;
                    r.ca = Some(At { value: self.arg(st, 1, "x509 \"CACERT\"")?.text.clone(), line });
                }
                "verify_cert" => r.verify_cert = Some(self.on_off(st)?),
                "nonce_size" => {
                    let w = self.arg(st, 0, "a number of bytes")?;
                    self.at_most(st, 1)?;
                    r.nonce_size = Some(At { value: self.number(w, "a number of bytes")?, line });
                }
                "initial_contact" => r.initial_contact = Some(self.on_off(st)?),
                "proposal_check" => r.proposal_check = Some(self.one_value(st, "obey, strict, claim or exact")?),
                "lifetime" => r.lifetime = self.lifetime(st)?,
                "nat_traversal" => r.nat_traversal = Some(self.one_value(st, "on, off or force")?),
                "dpd_delay" => {
                    let w = self.arg(st, 0, "a number of seconds")?;
                    self.at_most(st, 1)?;
                    r.dpd_delay = Some(At { value: self.number(w, "a number of seconds")?, line });
                }
                "proposal" => r.proposals.push(self.proposal(st)?),
                "send_cert" | "send_cr" | "generate_policy" | "support_proxy" | "passive" | "dpd_retry" | "dpd_maxfail"
                | "ike_frag" | "esp_frag" | "rekey" | "weak_phase1_check" | "mode_cfg" | "script" | "ph1id" => {
                    self.warn(line, format!("{} has no esprit setting; ignored", st.keyword()))
                }
                other => self.warn(line, format!("unknown remote statement `{other}`; ignored")),
            }
        }
        Ok(r)
    }

    fn ident(&self, s: &Stmt) -> R<Ident> {
        let kind = self.arg(s, 0, "an identifier type (address, fqdn, user_fqdn, keyid, asn1dn)")?;
        let value = s.args().get(1).map(|w| w.text.clone());
        self.at_most(s, 2)?;
        Ok(Ident { kind: kind.text.clone(), value, line: s.pos.line })
    }

    fn proposal(&mut self, s: &Stmt) -> R<Proposal> {
        let mut p = Proposal { line: s.pos.line, ..Default::default() };
        for st in self.block(s)? {
            self.no_block(st)?;
            let line = st.pos.line;
            match st.keyword() {
                "encryption_algorithm" => p.encryption = self.algs(st)?,
                "hash_algorithm" => p.hash = self.algs(st)?,
                "authentication_method" => p.auth_method = Some(self.one_value(st, "psk, pre_shared_key or rsasig")?),
                "dh_group" => p.dh_group = Some(self.one_value(st, "a Diffie-Hellman group (number or name)")?),
                "lifetime" => p.lifetime = self.lifetime(st)?,
                other => self.warn(line, format!("unknown proposal statement `{other}`; ignored")),
            }
        }
        Ok(p)
    }

    /// `address|subnet ADDRESS[/PREFIX][[PORT]] UL_PROTO` starting at argument `n`.
    fn sa_id(&mut self, s: &Stmt, n: &mut usize) -> R<Option<SaId>> {
        let w = self.arg(s, *n, "`anonymous` or `address ADDRESS[/PREFIX] UL_PROTO`")?;
        match w.text.as_str() {
            "anonymous" => {
                *n += 1;
                Ok(None)
            }
            "address" | "subnet" => {
                let a = self.arg(s, *n + 1, "an address after `address`")?;
                let text = a.text.split('[').next().unwrap_or("");
                if a.text.contains('[') {
                    self.warn(s.pos.line, format!("sainfo port in '{}' is not carried over: the conn covers all ports", a.text));
                }
                let (addr_s, len_s) = match text.split_once('/') {
                    Some((x, l)) => (x, Some(l)),
                    None => (text, None),
                };
                let addr: IpAddr = addr_s.parse().map_err(|_| self.err(a.pos, format!("expected an IPv4 or IPv6 address, found '{addr_s}'")))?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let prefix_len = match len_s {
                    None => max,
                    Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max).ok_or_else(|| self.err(a.pos, format!("expected a prefix length 0..{max}, found '{l}'")))?,
                };
                let proto = self.arg(s, *n + 2, "an upper-layer protocol (any, tcp, udp, icmp, ...) after the address")?;
                *n += 3;
                Ok(Some(SaId { addr, prefix_len, proto: proto.text.clone() }))
            }
            other => Err(self.err(w.pos, format!("expected `anonymous`, `address` or `subnet`, found '{other}'"))),
        }
    }

    fn sainfo(&mut self, s: &Stmt) -> R<SaInfo> {
        let mut n = 0;
        let local = self.sa_id(s, &mut n)?;
        let remote = if local.is_none() && s.args().len() == 1 {
            None // plain `sainfo anonymous`
        } else if n < s.args().len() && !matches!(s.args()[n].text.as_str(), "from" | "group") {
            self.sa_id(s, &mut n)?
        } else {
            None
        };
        if n < s.args().len() {
            self.warn(s.pos.line, format!("sainfo `{}` clause is not carried over: IKEv2 matches the CHILD_SA by its traffic selectors", s.args()[n].text));
        }
        let mut si = SaInfo {
            line: s.pos.line,
            local,
            remote,
            lifetime: None,
            encryption: Vec::new(),
            authentication: Vec::new(),
            compression: Vec::new(),
            pfs_group: None,
        };
        for st in self.block(s)? {
            self.no_block(st)?;
            match st.keyword() {
                "lifetime" => si.lifetime = self.lifetime(st)?,
                "encryption_algorithm" => si.encryption = self.algs(st)?,
                "authentication_algorithm" => si.authentication = self.algs(st)?,
                "compression_algorithm" => si.compression = self.algs(st)?,
                "pfs_group" => si.pfs_group = Some(self.one_value(st, "a Diffie-Hellman group (number or name)")?),
                "my_identifier" | "remoteid" => self.warn(st.pos.line, format!("sainfo {} is not carried over", st.keyword())),
                other => self.warn(st.pos.line, format!("unknown sainfo statement `{other}`; ignored")),
            }
        }
        Ok(si)
    }
}

#[cfg(test)]
mod tests;
