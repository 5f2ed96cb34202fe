//! The imported configuration as daemon TOML (the `[ike]` / `[[conn]]`
//! schema of `esprit run --config`), with comments saying where each conn
//! came from. Written by hand rather than serialized so the comments can sit
//! next to the keys they explain.

use std::fmt::Write;

use super::convert::{toml_str, Imported};

fn list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| toml_str(s)).collect();
    format!("[{}]", items.join(", "))
}

/// The daemon configuration text.
pub fn render(c: &Imported) -> String {
    let mut t = String::new();
    let (racoon, setkey) = &c.sources;
    let _ = writeln!(t, "# esprit configuration written by `esprit import racoon` from");
    let _ = writeln!(t, "#   racoon.conf: {racoon}");
    let _ = writeln!(t, "#   setkey.conf: {setkey}");
    let _ = writeln!(t, "# racoon spoke IKEv1; esprit speaks IKEv2. Read the warnings the import");
    let _ = writeln!(t, "# printed: each names the line it is about.");
    let _ = writeln!(t, "name = {}", toml_str(&c.name));
    let _ = writeln!(t, "mode = \"tun\"");
    let _ = writeln!(t);
    let _ = writeln!(t, "[outer]");
    let _ = writeln!(t, "# ESP over raw IP (protocol 50) like the kernel under racoon; needs root.");
    let _ = writeln!(t, "# NAT-T (IKE and ESP in UDP) uses this port when a NAT is detected.");
    let _ = writeln!(t, "transport = \"raw\"");
    let listen = std::net::SocketAddr::new(c.local, 4500);
    let _ = writeln!(t, "listen = {}", toml_str(&listen.to_string()));
    let _ = writeln!(t);
    let _ = writeln!(t, "[tun]");
    let _ = writeln!(t, "name = \"esprit0\"");
    let _ = writeln!(t, "# Packets to the peers are routed into the TUN with this source address.");
    let _ = writeln!(t, "source = {}", toml_str(&c.local.to_string()));
    let _ = writeln!(t);
    let _ = writeln!(t, "[ike]");
    let _ = writeln!(t, "port = {}", c.ike.port);
    if let Some(v) = &c.ike.retransmit_timeout {
        let _ = writeln!(t, "retransmit_timeout = {}   # racoon timer interval", toml_str(v));
    }
    if let Some(v) = c.ike.retransmit_tries {
        let _ = writeln!(t, "retransmit_tries = {v}   # racoon timer counter");
    }
    if let Some(v) = &c.ike.keepalive {
        let _ = writeln!(t, "keepalive = {}   # racoon timer natt_keepalive", toml_str(v));
    }
    for p in &c.plugins {
        let _ = writeln!(t);
        let _ = writeln!(t, "[[plugin]]");
        let _ = writeln!(t, "spec = {}", toml_str(&p.file_name));
    }
    if !c.setkey.is_empty() {
        let _ = writeln!(t);
        let _ = writeln!(t, "[ipsec]");
        let _ = writeln!(t, "# setkey.conf policies that need no IKE (none / discard), kept as they were.");
        let _ = writeln!(t, "setkey = \"\"\"");
        for s in &c.setkey {
            let _ = writeln!(t, "{s}");
        }
        let _ = writeln!(t, "\"\"\"");
    }
    for conn in &c.conns {
        let _ = writeln!(t);
        let _ = writeln!(t, "[[conn]]");
        for line in &conn.comments {
            let _ = writeln!(t, "# {line}");
        }
        let _ = writeln!(t, "name = {}", toml_str(&conn.name));
        let _ = writeln!(t, "remote = {}", toml_str(&conn.remote));
        if conn.local_id == "dn:" {
            let _ = writeln!(t, "# FILL IN the subject of our certificate: openssl x509 -noout -subject -nameopt RFC2253 -in CERT");
        }
        let _ = writeln!(t, "local_id = {}", toml_str(&conn.local_id));
        let _ = writeln!(t, "remote_id = {}", toml_str(&conn.remote_id));
        let _ = writeln!(t, "auth = {}", toml_str(&conn.auth));
        if let Some(v) = &conn.cert {
            let _ = writeln!(t, "cert = {}", toml_str(v));
        }
        if let Some(v) = &conn.key {
            let _ = writeln!(t, "key = {}", toml_str(v));
        }
        let _ = writeln!(t, "ike = {}", list(&conn.ike));
        let _ = writeln!(t, "esp = {}", list(&conn.esp));
        let _ = writeln!(t, "protocol = {}", toml_str(conn.protocol));
        let _ = writeln!(t, "mode = {}", toml_str(conn.mode));
        let _ = writeln!(t, "local_ts = {}", list(&conn.local_ts));
        let _ = writeln!(t, "remote_ts = {}", list(&conn.remote_ts));
        let _ = writeln!(t, "start = {}   # racoon negotiated on the kernel's ACQUIRE", toml_str(conn.start));
        if let Some(v) = &conn.rekey {
            let _ = writeln!(t, "rekey = {}   # sainfo lifetime", toml_str(v));
        }
        if let Some(v) = &conn.ike_rekey {
            let _ = writeln!(t, "ike_rekey = {}   # remote lifetime", toml_str(v));
        }
        if let Some(v) = &conn.dpd {
            let _ = writeln!(t, "dpd = {}   # dpd_delay", toml_str(v));
        }
    }
    t
}
