//! Kernel plumbing for tun mode: policy routing so that protected prefixes go
//! into the TUN while esprit's own (fwmark-ed) outer packets never do (the
//! prefixes known at start, and per peer those of IKE's SAs while they are
//! installed), and an
//! nftables filter that enforces `in ... ipsec require` policies on cleartext
//! that bypasses esprit (RFC 4301 §5.2: "a peer that suddenly sends plain IP
//! is dropped"). Everything installed is removed again on drop.
//!
//! Table, fwmark and rule priority are the instance's own
//! ([`crate::instance`]); setup first removes whatever a previous run of
//! the same instance left (its rules, its table's routes, its nftables
//! table), so it is idempotent after kill -9 or an OOM kill, and the state
//! file ([`crate::tun_state`]) brings back the sysctls on a clean stop.

use std::net::IpAddr;
use std::process::Command;

use anyhow::{bail, Context, Result};
use tracing::info;

use crate::instance::Ids;
use crate::tun_state::Claim;

/// One cleartext-enforcement rule: drop packets from `src` to `dst` (with an
/// optional upper-layer protocol and ports) that did not come out of esprit.
#[derive(Debug, Clone)]
pub struct EnforceRule {
    pub src: String,
    pub dst: String,
    pub proto: Option<u8>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// Shown in status: which policy the rule stands for.
    pub label: String,
}

pub struct TunPlumbing {
    dev: String,
    table: u32,
    fwmark: u32,
    priority: u32,
    rules_v4: bool,
    rules_v6: bool,
    routes: Vec<(String, Option<IpAddr>)>,
    /// The routes of `routes` added after start for IKE's per-peer SAs
    /// (removed again with them); the others stay while esprit runs.
    dynamic: Vec<String>,
    nft_table: Option<String>,
    /// This run's state file (released on drop, after the plumbing is gone).
    claim: Option<Claim>,
}

/// The nftables table of instance `name`.
pub fn nft_table_name(name: &str) -> String {
    format!("esprit_{}", name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"))
}

/// Removes what a run of an instance with these ids installed: every rule
/// that looks up its table (whatever its fwmark or priority), the table's
/// routes and its nftables table. Missing pieces are fine: this is what
/// makes setup idempotent.
pub fn remove_stale(ids: Ids, nft_table: &str) -> usize {
    let t = ids.table.to_string();
    let mut removed = 0;
    for fam in ["-4", "-6"] {
        // One rule per `del`; a bound in case `ip` misbehaves.
        for _ in 0..64 {
            let ok = Command::new("ip").args([fam, "rule", "del", "lookup", &t]).output().map(|o| o.status.success()).unwrap_or(false);
            if !ok {
                break;
            }
            removed += 1;
        }
        let _ = Command::new("ip").args([fam, "route", "flush", "table", &t]).output();
    }
    if Command::new("nft").args(["delete", "table", "inet", nft_table]).output().map(|o| o.status.success()).unwrap_or(false) {
        removed += 1;
    }
    removed
}

fn run(args: &[&str]) -> Result<()> {
    let out = Command::new(args[0]).args(&args[1..]).output().with_context(|| format!("running {}", args[0]))?;
    if !out.status.success() {
        bail!("`{}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

fn is_v6(prefix: &str) -> bool {
    prefix.contains(':')
}

impl TunPlumbing {
    /// Routes `routes` (prefix, preferred source) into `dev` through table
    /// `ids.table`, consulted only for packets without `ids.fwmark`, after
    /// removing what a previous run of this instance (`claim`) left.
    pub fn install(dev: &str, ids: Ids, routes: &[(String, Option<IpAddr>)], claim: Claim) -> Result<TunPlumbing> {
        if let Some(old) = &claim.stale {
            let n = remove_stale(old.ids, &old.nft_table);
            info!(removed = n, "removed the previous run's rules and nftables table (table {}, fwmark {:#x})", old.ids.table, old.ids.fwmark);
        }
        let n = remove_stale(ids, &claim.rec.nft_table);
        if n > 0 {
            info!(removed = n, "removed stale rules or nftables table of this instance (table {})", ids.table);
        }
        let mut p = TunPlumbing {
            dev: dev.into(),
            table: ids.table,
            fwmark: ids.fwmark,
            priority: ids.priority,
            rules_v4: false,
            rules_v6: false,
            routes: routes.to_vec(),
            dynamic: Vec::new(),
            nft_table: None,
            claim: Some(claim),
        };
        for (prefix, _) in routes {
            p.ensure_rule(prefix)?;
        }
        p.restore_routes()?;
        // Without IPv6 routes the TUN needs no IPv6 (no router solicitations).
        if !routes.iter().any(|(r, _)| is_v6(r)) {
            let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"), "1");
        }
        // Decrypted packets written into the TUN come from remote prefixes:
        // strict reverse-path filtering would drop them.
        let _ = std::fs::write(format!("/proc/sys/net/ipv4/conf/{dev}/rp_filter"), "0");
        if std::fs::read_to_string("/proc/sys/net/ipv4/conf/all/rp_filter").map(|v| v.trim() == "1").unwrap_or(false) {
            let _ = std::fs::write("/proc/sys/net/ipv4/conf/all/rp_filter", "2");
        }
        Ok(p)
    }

    /// The policy-routing rule for `prefix`'s address family: packets
    /// without esprit's fwmark consult our table.
    fn ensure_rule(&mut self, prefix: &str) -> Result<()> {
        let (t, m) = (self.table.to_string(), format!("{:#x}", self.fwmark));
        let fam = if is_v6(prefix) { "-6" } else { "-4" };
        let on = if is_v6(prefix) { &mut self.rules_v6 } else { &mut self.rules_v4 };
        if !*on {
            let prio = self.priority.to_string();
            run(&["ip", fam, "rule", "add", "not", "fwmark", &m, "lookup", &t, "priority", &prio])?;
            *on = true;
        }
        Ok(())
    }

    /// Adds (`add`) or removes a route into the TUN for a prefix an IKE SA
    /// protects (a peer of a `remote = "any"` or opportunistic conn), so
    /// that what this host sends there reaches esprit. The caller counts
    /// references; routes installed at start are never removed here.
    /// Failures are logged (the data plane still refuses cleartext to a
    /// protected peer, see `protected_peers`).
    pub fn route(&mut self, add: bool, prefix: &str, src: Option<IpAddr>) {
        let r = if add { self.add_route(prefix, src) } else { self.remove_route(prefix) };
        match r {
            Ok(true) => tracing::info!(dev = %self.dev, table = self.table, "{} route {prefix} into the TUN for an IKE SA", if add { "added" } else { "removed" }),
            Ok(false) => {}
            Err(e) => tracing::warn!("{} route {prefix} into the TUN: {e:#}", if add { "adding" } else { "removing" }),
        }
    }

    fn add_route(&mut self, prefix: &str, src: Option<IpAddr>) -> Result<bool> {
        if self.routes.iter().any(|(r, _)| r == prefix) {
            return Ok(false);
        }
        self.ensure_rule(prefix)?;
        if is_v6(prefix) {
            let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", self.dev), "0");
        }
        // A `[tun] source` the kernel refuses for this prefix must not keep
        // the traffic away from esprit: route it without one.
        let src = match self.replace_route(prefix, src) {
            Ok(()) => src,
            Err(e) if src.is_some() => {
                tracing::warn!("route {prefix} into the TUN with source {src:?}: {e:#}; adding it without a source");
                self.replace_route(prefix, None)?;
                None
            }
            Err(e) => return Err(e),
        };
        self.routes.push((prefix.to_string(), src));
        self.dynamic.push(prefix.to_string());
        Ok(true)
    }

    fn remove_route(&mut self, prefix: &str) -> Result<bool> {
        if !self.dynamic.iter().any(|r| r == prefix) {
            return Ok(false);
        }
        self.dynamic.retain(|r| r != prefix);
        self.routes.retain(|(r, _)| r != prefix);
        let fam = if is_v6(prefix) { "-6" } else { "-4" };
        let t = self.table.to_string();
        run(&["ip", fam, "route", "del", prefix, "dev", self.dev.as_str(), "table", &t])?;
        Ok(true)
    }

    /// (Re)installs the routes into the TUN (also after the device was recreated).
    pub fn restore_routes(&self) -> Result<()> {
        for (prefix, src) in &self.routes {
            self.replace_route(prefix, *src)?;
        }
        Ok(())
    }

    fn replace_route(&self, prefix: &str, src: Option<IpAddr>) -> Result<()> {
        let t = self.table.to_string();
        let fam = if is_v6(prefix) { "-6" } else { "-4" };
        let mut args = vec!["ip", fam, "route", "replace", prefix, "dev", self.dev.as_str(), "table", &t];
        let s;
        if let Some(src) = src {
            s = src.to_string();
            args.extend(["src", s.as_str()]);
        }
        run(&args)
    }

    pub fn table_name(&self) -> Option<&str> {
        self.nft_table.as_deref()
    }

    /// Installs the nftables table enforcing `rules`. `ports` are the UDP ports
    /// esprit itself listens on (IKE/ESP-in-UDP is never filtered).
    pub fn enforce(&mut self, name: &str, rules: &[EnforceRule], ports: &[u16]) -> Result<()> {
        if rules.is_empty() {
            return Ok(());
        }
        let table = nft_table_name(name);
        let mut script = format!(
            "table inet {table} {{\n chain prerouting {{\n  type filter hook prerouting priority -150; policy accept;\n  iifname \"{}\" accept\n  meta l4proto {{ esp, ah }} accept\n",
            self.dev
        );
        let mut udp: Vec<u16> = vec![500, 4500];
        udp.extend_from_slice(ports);
        udp.sort_unstable();
        udp.dedup();
        let ports: Vec<String> = udp.iter().map(u16::to_string).collect();
        script.push_str(&format!("  udp dport {{ {} }} accept\n", ports.join(", ")));
        for r in rules {
            let fam = if is_v6(&r.src) { "ip6" } else { "ip" };
            let mut m = format!("  {fam} saddr {} {fam} daddr {}", r.src, r.dst);
            if let Some(p) = r.proto {
                m.push_str(&format!(" meta l4proto {p}"));
                if matches!(p, 6 | 17) {
                    if let Some(sp) = r.src_port {
                        m.push_str(&format!(" th sport {sp}"));
                    }
                    if let Some(dp) = r.dst_port {
                        m.push_str(&format!(" th dport {dp}"));
                    }
                }
            }
            m.push_str(&format!(" counter drop comment \"{}\"\n", r.label.replace('"', "'")));
            script.push_str(&m);
        }
        script.push_str(" }\n}\n");
        let _ = Command::new("nft").args(["delete", "table", "inet", &table]).output();
        let mut child = Command::new("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("running nft (install the nftables package)")?;
        use std::io::Write;
        child.stdin.take().context("nft stdin")?.write_all(script.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("nft rejected the enforcement table: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        self.nft_table = Some(table);
        Ok(())
    }

}

/// Reads the counters of an esprit nftables table.
pub fn enforcement_drops(table: &str) -> Vec<(String, u64)> {
    let Ok(out) = Command::new("nft").args(["-j", "list", "table", "inet", table]).output() else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else { return Vec::new() };
    let mut res = Vec::new();
    for item in v["nftables"].as_array().into_iter().flatten() {
        let rule = &item["rule"];
        let Some(comment) = rule["comment"].as_str() else { continue };
        let packets = rule["expr"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|e| e["counter"]["packets"].as_u64())
            .unwrap_or(0);
        res.push((comment.to_string(), packets));
    }
    res
}

impl Drop for TunPlumbing {
    fn drop(&mut self) {
        let (t, m, prio) = (self.table.to_string(), format!("{:#x}", self.fwmark), self.priority.to_string());
        for (on, fam) in [(self.rules_v4, "-4"), (self.rules_v6, "-6")] {
            if on {
                let _ = Command::new("ip")
                    .args([fam, "rule", "del", "not", "fwmark", &m, "lookup", &t, "priority", &prio])
                    .output();
                let _ = Command::new("ip").args([fam, "route", "flush", "table", &t]).output();
            }
        }
        if let Some(table) = &self.nft_table {
            let _ = Command::new("nft").args(["delete", "table", "inet", table]).output();
        }
        // Restores the sysctls and removes the state file.
        drop(self.claim.take());
    }
}
