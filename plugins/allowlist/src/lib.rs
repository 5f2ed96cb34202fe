//! `allowlist`: a CIDR/port table from the plugin's config.
//!
//! Config (`[config]` of the plugin spec):
//! - `allow`: list of `CIDR` or `CIDR PROTO/PORT` (`PROTO` = tcp, udp, or a
//!   number; `PORT` 0 = any), matched against the flow's remote address and
//!   destination port;
//! - `on_match` (default `protect`) and `otherwise` (default `discard`):
//!   verdicts (see `esprit_plugin_sdk::parse_verdict`);
//! - `tag`: free text added to every explanation.
use std::sync::OnceLock;

use esprit_plugin_sdk::text::{push_decimal, push_ip};
use esprit_plugin_sdk::{export_policy, host, parse_verdict, Cidr, Decision, Flow, Policy, Verdict};

struct Entry {
    net: Cidr,
    proto: Option<u8>,
    port: Option<u16>,
    /// ` matches "CIDR PROTO/PORT"`: the explanation's tail, made once.
    matched: String,
}

struct Table {
    entries: Vec<Entry>,
    on_match: Verdict,
    otherwise: Verdict,
    /// `allowlist[TAG]: `: the explanation's head, made once.
    head: String,
}

static TABLE: OnceLock<Table> = OnceLock::new();

fn parse_entry(s: &str) -> Result<Entry, String> {
    let mut parts = s.split_whitespace();
    let net: Cidr = parts.next().ok_or("empty entry")?.parse().map_err(|e| format!("{e}"))?;
    let (mut proto, mut port) = (None, None);
    if let Some(pp) = parts.next() {
        let (p, n) = pp.split_once('/').ok_or_else(|| format!("{pp:?}: want PROTO/PORT"))?;
        proto = Some(match p {
            "tcp" => 6,
            "udp" => 17,
            "icmp" => 1,
            n => n.parse().map_err(|_| format!("bad protocol {n:?}"))?,
        });
        let n: u16 = n.parse().map_err(|_| format!("bad port {n:?}"))?;
        port = (n != 0).then_some(n);
    }
    if parts.next().is_some() {
        return Err(format!("{s:?}: trailing text"));
    }
    Ok(Entry { net, proto, port, matched: format!(" matches {s:?}") })
}

fn load() -> Result<Table, String> {
    let entries = host::config_list("allow").iter().map(|e| parse_entry(e)).collect::<Result<Vec<_>, _>>()?;
    let verdict = |key: &str, default: &str| parse_verdict(&host::config_get(key).unwrap_or_else(|| default.to_string()));
    Ok(Table {
        entries,
        on_match: verdict("on_match", "protect")?,
        otherwise: verdict("otherwise", "discard")?,
        head: format!("allowlist[{}]: ", host::config_get("tag").unwrap_or_default()),
    })
}

struct Allowlist;

impl Policy for Allowlist {
    fn init() -> Result<(), String> {
        let t = load()?;
        host::info(&format!("allowlist: {} entries", t.entries.len()));
        let _ = TABLE.set(t);
        Ok(())
    }

    fn decide(flow: &Flow) -> Decision {
        let Some(t) = TABLE.get() else {
            return Decision::new(Verdict::Discard, "allowlist: not initialised");
        };
        let remote = flow.remote();
        let hit = t.entries.iter().find(|e| {
            e.net.contains(remote) && e.proto.is_none_or(|p| p == flow.proto) && e.port.is_none_or(|p| p == flow.dst_port)
        });
        // On the decision path: one allocation for the explanation, the
        // fixed parts made by `init`.
        let mut why = String::with_capacity(t.head.len() + 64);
        why.push_str(&t.head);
        push_ip(&mut why, remote);
        match hit {
            Some(e) => {
                why.push_str(&e.matched);
                Decision::new(t.on_match.clone(), why)
            }
            None => {
                why.push_str(" port ");
                push_decimal(&mut why, u64::from(flow.dst_port));
                why.push_str(" not listed");
                Decision::new(t.otherwise.clone(), why)
            }
        }
    }
}

export_policy!(Allowlist);
