//! Rendering of the daemon's status (the control socket's JSON) for people.

use std::fmt::Write as _;

use serde_json::Value;

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// The data plane's warnings (e.g. cleartext to a peer with an SA refused).
fn render_warnings(v: &Value) -> String {
    let mut o = String::new();
    for w in v["warnings"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "WARNING: {}", s(w));
    }
    o
}

/// The IKE SAs (when the instance runs IKE).
pub fn render_ike(v: &Value) -> String {
    let mut o = String::new();
    let Some(ike) = v.get("ike") else { return o };
    let sas = ike["ike_sas"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(o, "IKE SAs:");
    if sas.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for sa in &sas {
        let _ = writeln!(
            o,
            "  {} {} {} <-> {} peer {} {}{}  SPIs {}_i {}_r",
            s(&sa["conn"]),
            s(&sa["state"]),
            s(&sa["local"]),
            s(&sa["remote"]),
            s(&sa["peer_id"]),
            s(&sa["algs"]),
            if sa["nat"] == Value::Bool(true) { " NAT-T" } else { "" },
            s(&sa["spi_i"]),
            s(&sa["spi_r"]),
        );
        for c in sa["children"].as_array().into_iter().flatten() {
            let _ = writeln!(o, "    CHILD_SA {} {} in {} out {}", s(&c["name"]), s(&c["algs"]), s(&c["spi_in"]), s(&c["spi_out"]));
        }
    }
    if let Some(sh) = ike["clear_shunts"].as_array().filter(|a| !a.is_empty()) {
        let _ = writeln!(o, "  opportunistic clear shunts: {}", sh.iter().map(s).collect::<Vec<_>>().join(", "));
    }
    let _ = writeln!(o, "  {}", s(&ike["stats"]));
    o
}

/// A few lines: SAs with counters, and the drops.
pub fn render_short(v: &Value) -> String {
    let mut o = render_warnings(v);
    o.push_str(&render_ike(v));
    for sa in v["sas"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "  SA {} {} {} {} -> {} {}: {} packets, {} bytes",
            s(&sa["spi"]),
            s(&sa["proto"]),
            s(&sa["mode"]),
            s(&sa["src"]),
            s(&sa["dst"]),
            s(&sa["transform"]),
            s(&sa["packets"]),
            s(&sa["bytes"])
        );
    }
    let c = &v["counters"];
    let _ = writeln!(
        o,
        "  packets: {} protected out, {} decrypted in, {} clear out",
        s(&c["out_protected"]),
        s(&c["in_decrypted"]),
        s(&c["out_clear"])
    );
    let drops = v["drops"].as_object();
    match drops {
        Some(d) if !d.is_empty() => {
            let list: Vec<String> = d.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            let _ = writeln!(o, "  drops: {}", list.join(", "));
        }
        _ => {
            let _ = writeln!(o, "  drops: none");
        }
    }
    o
}

/// The full table of `esprit status`.
pub fn render_full(v: &Value) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "esprit {} ({} mode), up {} s", s(&v["name"]), s(&v["mode"]), s(&v["uptime_s"]));
    o.push_str(&render_warnings(v));
    if v.get("ike").is_some() {
        let _ = write!(o, "\n{}", render_ike(v));
    }
    let _ = writeln!(o, "\nSecurity Associations:");
    let sas = v["sas"].as_array().cloned().unwrap_or_default();
    if sas.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for sa in &sas {
        let _ = writeln!(
            o,
            "  {} {:<3} {:<9} {} -> {}  {}{}  reqid {}  window {}  {} pkts {} bytes  age {} s{}",
            s(&sa["spi"]),
            s(&sa["proto"]),
            s(&sa["mode"]),
            s(&sa["src"]),
            s(&sa["dst"]),
            s(&sa["transform"]),
            if sa["esn"] == Value::Bool(true) { " esn" } else { "" },
            s(&sa["reqid"]),
            s(&sa["replay_window"]),
            s(&sa["packets"]),
            s(&sa["bytes"]),
            s(&sa["age_s"]),
            if sa["expired"] == Value::Bool(true) { "  EXPIRED" } else { "" }
        );
        let e = &sa["engine"];
        let mut line = format!(
            "      out {} pkts {} bytes, in {} pkts {} bytes",
            s(&e["packets_out"]),
            s(&e["bytes_out"]),
            s(&e["packets_in"]),
            s(&e["bytes_in"])
        );
        for k in ["drops_in", "drops_out"] {
            let d: Vec<String> = e[k].as_array().into_iter().flatten().map(s).collect();
            if !d.is_empty() {
                line.push_str(&format!("; {k}: {}", d.join(", ")));
            }
        }
        let _ = writeln!(o, "{line}");
    }
    let _ = writeln!(o, "\nSecurity Policies (in evaluation order):");
    for p in v["policies"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "  {}", s(&p["policy"]));
    }
    let _ = writeln!(o, "\nCounters:");
    for (k, n) in v["counters"].as_object().into_iter().flatten() {
        let _ = writeln!(o, "  {k:<16} {}", s(n));
    }
    let _ = writeln!(o, "\nDrops by reason:");
    match v["drops"].as_object() {
        Some(d) if !d.is_empty() => {
            for (k, n) in d {
                let _ = writeln!(o, "  {:>10}  {k}", s(n));
            }
        }
        _ => {
            let _ = writeln!(o, "  (none)");
        }
    }
    if let Some(rules) = v["cleartext_enforcement"].as_array() {
        let _ = writeln!(o, "\nCleartext from protected peers (dropped by the kernel filter esprit installed):");
        for r in rules {
            let _ = writeln!(o, "  {:>10}  {}", s(&r["dropped"]), s(&r["rule"]));
        }
    }
    if let Some(pl) = v["plugins"].as_array() {
        let _ = writeln!(o, "\nPolicy plugins:");
        for p in pl {
            let _ = writeln!(
                o,
                "  {} version {}  reloads {} (rejected {})  quarantined {}  faults {}{}",
                s(&p["name"]),
                s(&p["version"]),
                s(&p["reloads"]),
                s(&p["rejected_reloads"]),
                s(&p["quarantined"]),
                s(&p["faults"]),
                p["last_error"].as_str().map(|e| format!("\n      last reload error: {e}")).unwrap_or_default()
            );
        }
    }
    for k in ["spd", "inbound", "outbound", "acquires"] {
        let _ = writeln!(o, "\n{k}: {}", s(&v[k]));
    }
    o
}
