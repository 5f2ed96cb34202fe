//! Reading `swanctl --list-sas --pretty`: vici's pretty dump (one
//! `key = value` per line, `name { }` sections, `key = [ ]` lists) parsed
//! into a tree, then into IKE_SAs and their CHILD_SAs.

/// One IKE_SA from `swanctl --list-sas`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SwanSa {
    /// Connection name (`psk`).
    pub name: String,
    pub uniqueid: u32,
    /// `ESTABLISHED`, `CONNECTING`, `DELETING`, ...
    pub state: String,
    pub local_host: String,
    pub local_port: u16,
    pub local_id: String,
    pub remote_host: String,
    pub remote_port: u16,
    pub remote_id: String,
    /// IKE SPIs as hex, as swanctl prints them.
    pub initiator_spi: String,
    pub responder_spi: String,
    /// This side initiated the IKE_SA.
    pub initiator: bool,
    /// NAT-T in use (this or the remote side "behind NAT", incl. faked).
    pub nat_any: bool,
    /// As `swanctl --list-sas` text shows it: `AES_GCM_16-128/PRF_HMAC_SHA2_256/CURVE_25519`.
    pub proposal: String,
    pub local_vips: Vec<String>,
    pub remote_vips: Vec<String>,
    pub children: Vec<SwanChildSa>,
}

/// One CHILD_SA of an IKE_SA.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SwanChildSa {
    /// Child config name (`net`); the SA's key in the listing is `net-N`.
    pub name: String,
    pub uniqueid: u32,
    pub reqid: u32,
    /// `INSTALLED`, `REKEYED`, `DELETING`, ...
    pub state: String,
    /// `TUNNEL` / `TRANSPORT`.
    pub mode: String,
    /// `ESP` / `AH`.
    pub protocol: String,
    /// UDP encapsulation (text output: `TUNNEL-in-UDP`).
    pub encap: bool,
    pub spi_in: u32,
    pub spi_out: u32,
    pub bytes_in: u64,
    pub packets_in: u64,
    pub bytes_out: u64,
    pub packets_out: u64,
    /// As the text output shows it: `AES_GCM_16-128`, `AES_CBC-256/HMAC_SHA2_256_128`.
    pub proposal: String,
    pub local_ts: Vec<String>,
    pub remote_ts: Vec<String>,
}

impl SwanChildSa {
    /// `TUNNEL-in-UDP` etc., as in the text listing.
    pub fn mode_text(&self) -> String {
        format!("{}{}", self.mode, if self.encap { "-in-UDP" } else { "" })
    }
}

/// A node of vici's pretty dump: `key = value`, `key = [ items ]`, `name { ... }`.
#[derive(Clone, Debug, PartialEq)]
enum Vici {
    Value(String),
    List(Vec<String>),
    Section(Vec<(String, Vici)>),
}

impl Vici {
    fn get(&self, key: &str) -> Option<&Vici> {
        match self {
            Vici::Section(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    fn str(&self, key: &str) -> String {
        match self.get(key) {
            Some(Vici::Value(v)) => v.clone(),
            _ => String::new(),
        }
    }
    fn num<T: std::str::FromStr + Default>(&self, key: &str) -> T {
        self.str(key).parse().unwrap_or_default()
    }
    fn list(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(Vici::List(v)) => v.clone(),
            _ => Vec::new(),
        }
    }
    fn sections(&self) -> Vec<(&str, &Vici)> {
        match self {
            Vici::Section(items) => items.iter().filter(|(_, v)| matches!(v, Vici::Section(_))).map(|(k, v)| (k.as_str(), v)).collect(),
            _ => Vec::new(),
        }
    }
}

/// Parses vici's pretty dump (`swanctl --pretty`) into a tree. Top-level
/// messages (`list-sa event { ... }`) become entries of the root section.
fn parse_vici_pretty(text: &str) -> Vici {
    let mut stack: Vec<(String, Vec<(String, Vici)>)> = vec![(String::new(), Vec::new())];
    let mut list: Option<(String, Vec<String>)> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some((_, items)) = &mut list {
            if line == "]" {
                let (k, items) = list.take().expect("in a list");
                stack.last_mut().expect("root").1.push((k, Vici::List(items)));
            } else {
                items.push(line.to_string());
            }
            continue;
        }
        if line == "}" {
            if stack.len() > 1 {
                let (k, items) = stack.pop().expect("nested");
                stack.last_mut().expect("root").1.push((k, Vici::Section(items)));
            }
        } else if let Some(name) = line.strip_suffix('{') {
            stack.push((name.trim().to_string(), Vec::new()));
        } else if let Some((k, v)) = line.split_once(" = ") {
            if v == "[" {
                list = Some((k.to_string(), Vec::new()));
            } else {
                stack.last_mut().expect("root").1.push((k.to_string(), Vici::Value(v.to_string())));
            }
        } else if let Some(k) = line.strip_suffix(" = [") {
            list = Some((k.to_string(), Vec::new()));
        }
    }
    while stack.len() > 1 {
        let (k, items) = stack.pop().expect("nested");
        stack.last_mut().expect("root").1.push((k, Vici::Section(items)));
    }
    Vici::Section(stack.pop().expect("root").1)
}

/// The IKE_SAs in `swanctl --list-sas --pretty` output.
pub fn parse_list_sas(text: &str) -> Vec<SwanSa> {
    let root = parse_vici_pretty(text);
    let mut out = Vec::new();
    for (msg, body) in root.sections() {
        if msg != "list-sa event" {
            continue;
        }
        for (name, ike) in body.sections() {
            let mut sa = SwanSa {
                name: name.to_string(),
                uniqueid: ike.num("uniqueid"),
                state: ike.str("state"),
                local_host: ike.str("local-host"),
                local_port: ike.num("local-port"),
                local_id: ike.str("local-id"),
                remote_host: ike.str("remote-host"),
                remote_port: ike.num("remote-port"),
                remote_id: ike.str("remote-id"),
                initiator_spi: ike.str("initiator-spi"),
                responder_spi: ike.str("responder-spi"),
                initiator: ike.str("initiator") == "yes",
                nat_any: ike.str("nat-any") == "yes",
                proposal: proposal_text(ike),
                local_vips: ike.list("local-vips"),
                remote_vips: ike.list("remote-vips"),
                children: Vec::new(),
            };
            if let Some(children) = ike.get("child-sas") {
                for (_, c) in children.sections() {
                    sa.children.push(SwanChildSa {
                        name: c.str("name"),
                        uniqueid: c.num("uniqueid"),
                        reqid: c.num("reqid"),
                        state: c.str("state"),
                        mode: c.str("mode"),
                        protocol: c.str("protocol"),
                        encap: c.str("encap") == "yes",
                        spi_in: u32::from_str_radix(&c.str("spi-in"), 16).unwrap_or(0),
                        spi_out: u32::from_str_radix(&c.str("spi-out"), 16).unwrap_or(0),
                        bytes_in: c.num("bytes-in"),
                        packets_in: c.num("packets-in"),
                        bytes_out: c.num("bytes-out"),
                        packets_out: c.num("packets-out"),
                        proposal: proposal_text(c),
                        local_ts: c.list("local-ts"),
                        remote_ts: c.list("remote-ts"),
                    });
                }
            }
            out.push(sa);
        }
    }
    out
}

/// `ENCR-KEYSIZE/INTEG/PRF/DH` from the algorithm fields, the way the text
/// listing prints a proposal.
fn proposal_text(v: &Vici) -> String {
    let mut parts = Vec::new();
    let encr = v.str("encr-alg");
    if !encr.is_empty() {
        let ks = v.str("encr-keysize");
        parts.push(if ks.is_empty() { encr } else { format!("{encr}-{ks}") });
    }
    for k in ["integ-alg", "prf-alg", "dh-group"] {
        let x = v.str(k);
        if !x.is_empty() {
            parts.push(x);
        }
    }
    if v.str("esn") == "1" {
        parts.push("ESN".into());
    }
    parts.join("/")
}
