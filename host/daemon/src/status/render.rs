//! Rendering of the daemon's status for people: labelled counters, ages
//! and rekey times, never a Rust `Debug` dump.

use std::fmt::Write as _;

use super::model::{Counters, IkeStatus, Status};

/// `name value, name value` for the non-zero counters (`none` if all zero).
fn counter_list(c: &Counters) -> String {
    let v: Vec<String> = c.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k} {n}")).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Seconds as `1h02m03s`.
pub fn duration(s: u64) -> String {
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m{:02}s", s / 3600, (s % 3600) / 60, s % 60),
    }
}

/// The data plane's warnings (e.g. cleartext to a peer with an SA refused).
fn render_warnings(v: &Status) -> String {
    let mut o = String::new();
    for w in &v.warnings {
        let _ = writeln!(o, "WARNING: {w}");
    }
    o
}

fn render_ike_sas(o: &mut String, ike: &IkeStatus) {
    let _ = writeln!(o, "IKE SAs:");
    if ike.ike_sas.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for sa in &ike.ike_sas {
        let rekey = sa.rekey_in_s.map(|r| format!(", rekey in {}", duration(r))).unwrap_or_default();
        let _ = writeln!(
            o,
            "  {} {} {} <-> {} peer {} {}{}  SPIs {}_i {}_r  age {}{rekey}",
            sa.conn,
            sa.state,
            sa.local,
            sa.remote,
            if sa.peer_id.is_empty() { "-" } else { &sa.peer_id },
            sa.algs,
            if sa.nat { " NAT-T" } else { "" },
            sa.spi_i,
            sa.spi_r,
            duration(sa.age_s),
        );
        for c in &sa.children {
            let _ = writeln!(o, "    CHILD_SA {} {} in {} out {}", c.name, c.algs, c.spi_in, c.spi_out);
        }
    }
    if !ike.clear_shunts.is_empty() {
        let _ = writeln!(o, "  opportunistic clear shunts: {}", ike.clear_shunts.join(", "));
    }
}

/// The IKE SAs (when the instance runs IKE) and IKE's counters.
pub fn render_ike(v: &Status) -> String {
    let mut o = String::new();
    let Some(ike) = &v.ike else { return o };
    render_ike_sas(&mut o, ike);
    let _ = writeln!(o, "  IKE counters: {}", counter_list(&ike.stats));
    o
}

/// A few lines: SAs with counters, and the drops.
pub fn render_short(v: &Status) -> String {
    let mut o = render_warnings(v);
    o.push_str(&render_ike(v));
    for sa in &v.sas {
        let _ = writeln!(
            o,
            "  SA {} {} {} {} -> {} {}: {} packets, {} bytes",
            sa.spi, sa.proto, sa.mode, sa.src, sa.dst, sa.transform, sa.packets, sa.bytes
        );
    }
    let c = |k: &str| v.counters.get(k).copied().unwrap_or(0);
    let _ = writeln!(
        o,
        "  packets: {} protected out, {} decrypted in, {} clear out",
        c("out_protected"),
        c("in_decrypted"),
        c("out_clear")
    );
    let _ = writeln!(o, "  drops: {}", counter_list(&v.drops));
    o
}

/// `esprit status --brief`: one line for the instance, one per IKE SA.
pub fn render_brief(v: &Status) -> String {
    let mut o = String::new();
    let drops: u64 = v.drops.values().sum();
    let ike = v.ike.as_ref().map(|i| format!(", {} IKE SA(s)", i.ike_sas.len())).unwrap_or_default();
    let _ = writeln!(
        o,
        "esprit {} ({}) up {}: {} SA(s), {} policies{ike}, {} drop(s), {} held{}",
        v.name,
        v.mode,
        duration(v.uptime_s),
        v.sas.len(),
        v.policies.len(),
        drops,
        v.held_packets,
        if v.warnings.is_empty() { String::new() } else { format!(", {} WARNING(s)", v.warnings.len()) }
    );
    for sa in v.ike.iter().flat_map(|i| &i.ike_sas) {
        let rekey = sa.rekey_in_s.map(|r| format!(" rekey in {}", duration(r))).unwrap_or_default();
        let _ = writeln!(o, "  {} {} {} age {}{rekey}, {} CHILD_SA(s)", sa.conn, sa.state, sa.remote, duration(sa.age_s), sa.children.len());
    }
    o
}

/// The full table of `esprit status`.
pub fn render_full(v: &Status) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "esprit {} ({} mode), up {}", v.name, v.mode, duration(v.uptime_s));
    o.push_str(&render_warnings(v));
    if let Some(ike) = &v.ike {
        o.push('\n');
        render_ike_sas(&mut o, ike);
    }
    let _ = writeln!(o, "\nSecurity Associations:");
    if v.sas.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for sa in &v.sas {
        let _ = writeln!(
            o,
            "  {} {:<3} {:<9} {} -> {}  {}{}  reqid {}  window {}  {} pkts {} bytes  age {}{}",
            sa.spi,
            sa.proto,
            sa.mode,
            sa.src,
            sa.dst,
            sa.transform,
            if sa.esn { " esn" } else { "" },
            sa.reqid.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
            sa.replay_window,
            sa.packets,
            sa.bytes,
            duration(sa.age_s),
            if sa.expired { "  EXPIRED" } else { "" }
        );
        let e = &sa.engine;
        let mut line = format!("      out {} pkts {} bytes, in {} pkts {} bytes", e.packets_out, e.bytes_out, e.packets_in, e.bytes_in);
        for (k, d) in [("drops in", &e.drops_in), ("drops out", &e.drops_out)] {
            if d.values().any(|n| *n > 0) {
                let _ = write!(line, "; {k}: {}", counter_list(d));
            }
        }
        let _ = writeln!(o, "{line}");
    }
    let _ = writeln!(o, "\nSecurity Policies (in evaluation order):");
    for p in &v.policies {
        let _ = writeln!(o, "  {}", p.policy);
    }
    let _ = writeln!(o, "\nCounters:");
    for (k, n) in &v.counters {
        let _ = writeln!(o, "  {k:<24} {n}");
    }
    let _ = writeln!(o, "  {:<24} {}", "held_packets (now)", v.held_packets);
    let _ = writeln!(o, "\nDrops by reason:");
    if v.drops.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for (k, n) in &v.drops {
        let _ = writeln!(o, "  {n:>10}  {k}");
    }
    if let Some(rules) = &v.cleartext_enforcement {
        let _ = writeln!(o, "\nCleartext from protected peers (dropped by the kernel filter esprit installed):");
        for r in rules {
            let _ = writeln!(o, "  {:>10}  {}", r.dropped, r.rule);
        }
    }
    if !v.plugins.is_empty() {
        let _ = writeln!(o, "\nPolicy plugins:");
        for p in &v.plugins {
            let _ = writeln!(
                o,
                "  {} version {}  reloads {} (rejected {})  quarantined {}\n      calls and faults: {}{}",
                p.name,
                p.version,
                p.reloads,
                p.rejected_reloads,
                if p.quarantined { "yes" } else { "no" },
                counter_list(&p.faults),
                p.last_error.as_ref().map(|e| format!("\n      last reload error: {e}")).unwrap_or_default()
            );
        }
    }
    if let Some(ike) = &v.ike {
        let _ = writeln!(o, "\nIKE counters: {}", counter_list(&ike.stats));
    }
    if let Some(ns) = &v.netstack {
        // Gauges too: a zero is information here.
        let all: Vec<String> = ns.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(o, "netstack: {}", all.join(", "));
    }
    for (k, c) in [("SPD", &v.spd), ("inbound checks", &v.inbound), ("outbound decisions", &v.outbound), ("ACQUIREs", &v.acquires), ("control socket", &v.control)] {
        let _ = writeln!(o, "{k}: {}", counter_list(c));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_debug_dumps() {
        let mut s = Status { name: "x".into(), mode: "netstack".into(), ..Status::default() };
        s.spd.insert("lookups".into(), 3);
        s.ike = Some(IkeStatus::default());
        let text = render_full(&s) + &render_brief(&s) + &render_short(&s);
        assert!(!text.contains(" { "), "{text}");
        assert!(text.contains("SPD: lookups 3"), "{text}");
        assert_eq!(duration(3723), "1h02m03s");
    }
}
