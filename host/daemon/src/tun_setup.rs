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

use anyhow::{Context, Result};
use tracing::info;

use crate::instance::Ids;
use crate::netlink::{Rtnl, Rule};
use crate::tun_state::Claim;
use crate::tun_stale::remove_stale;

pub use crate::nft_enforce::EnforceRule;

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
    nl: Rtnl,
}

/// The nftables table of instance `name`.
pub fn nft_table_name(name: &str) -> String {
    format!("esprit_{}", name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"))
}


/// `prefix` ("10.1.0.0/16") as an address with its host bits cleared and a length.
fn parse_route(prefix: &str) -> Result<(IpAddr, u8)> {
    let (a, len) = crate::config::parse_prefix(prefix)?;
    let masked = match a {
        IpAddr::V4(v) => IpAddr::V4((u32::from(v) & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)).into()),
        IpAddr::V6(v) => IpAddr::V6((u128::from(v) & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)).into()),
    };
    Ok((masked, len))
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
            nl: Rtnl::open().context("opening rtnetlink")?,
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
        let v6 = is_v6(prefix);
        let on = if v6 { self.rules_v6 } else { self.rules_v4 };
        if !on {
            let r = self.rule(v6);
            self.nl.rule_add(r).with_context(|| {
                format!("adding the rule `ip {} rule add not fwmark {:#x} lookup {} priority {}`", if v6 { "-6" } else { "-4" }, r.fwmark, r.table, r.priority)
            })?;
            if v6 {
                self.rules_v6 = true;
            } else {
                self.rules_v4 = true;
            }
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
        let oif = crate::netlink::ifindex(&self.dev).with_context(|| format!("TUN device {}", self.dev))?;
        self.nl.route_del(parse_route(prefix)?, oif, self.table).with_context(|| format!("removing route {prefix} dev {} table {}", self.dev, self.table))?;
        Ok(true)
    }

    /// (Re)installs the routes into the TUN (also after the device was recreated).
    pub fn restore_routes(&mut self) -> Result<()> {
        for (prefix, src) in self.routes.clone() {
            self.replace_route(&prefix, src)?;
        }
        Ok(())
    }

    fn replace_route(&mut self, prefix: &str, src: Option<IpAddr>) -> Result<()> {
        let oif = crate::netlink::ifindex(&self.dev).with_context(|| format!("TUN device {}", self.dev))?;
        self.nl.route_replace(parse_route(prefix)?, oif, self.table, src).with_context(|| {
            format!("route {prefix} dev {} table {}{}", self.dev, self.table, src.map(|s| format!(" src {s}")).unwrap_or_default())
        })
    }

    fn rule(&self, v6: bool) -> Rule {
        Rule { v6, table: self.table, fwmark: self.fwmark, priority: self.priority }
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
        let doc = crate::nft_enforce::enforcement_table(&table, &self.dev, rules, ports);
        crate::nft::apply(&doc).map_err(|e| anyhow::anyhow!("nft rejected the enforcement table: {e}"))?;
        self.nft_table = Some(table);
        Ok(())
    }

    /// [`TunPlumbing::enforce`] after a reload: replaces the table, or
    /// removes it when no policy requires IPsec any more.
    pub fn set_enforcement(&mut self, name: &str, rules: &[EnforceRule], ports: &[u16]) -> Result<()> {
        if rules.is_empty() {
            if let Some(table) = self.nft_table.take() {
                crate::nft::delete_table(&table);
            }
            return Ok(());
        }
        self.enforce(name, rules, ports)
    }
}

/// nftables rules for `in`/`fwd` policies that require IPsec.
pub fn enforcement_rules(dp: &esprit_dataplane::Dataplane) -> Vec<EnforceRule> {
    dp.sadb()
        .spd()
        .entries()
        .iter()
        .filter(|e| e.dir != esprit_sadb::decider::Direction::Out)
        .filter(|e| match &e.action {
            esprit_sadb::spd::Action::Verdict(esprit_sadb::decider::Verdict::Protect(reqs)) => reqs.iter().any(|r| r.level != esprit_sadb::decider::Level::Use),
            esprit_sadb::spd::Action::Verdict(esprit_sadb::decider::Verdict::Private) => true,
            _ => false,
        })
        .map(|e| EnforceRule {
            src: e.selector.src.to_string(),
            dst: e.selector.dst.to_string(),
            proto: e.selector.proto,
            src_port: e.selector.src_port,
            dst_port: e.selector.dst_port,
            label: format!("policy {} {}", e.id, e.selector),
        })
        .collect()
}

/// Reads the counters of an esprit nftables table.
pub fn enforcement_drops(table: &str) -> Vec<(String, u64)> {
    crate::nft::rule_counters(table).unwrap_or_else(|e| {
        tracing::debug!("nftables table {table}: {e}");
        Vec::new()
    })
}

impl TunPlumbing {
    /// Removes the rules, routes and nftables table, restores the sysctls and
    /// removes the state file. Runs once: at a clean stop (the plumbing is
    /// shared by the IKE thread, the outbound worker and the reloader, so
    /// the daemon calls this explicitly), or on drop.
    pub fn teardown(&mut self) {
        for (on, v6) in [(self.rules_v4, false), (self.rules_v6, true)] {
            if on {
                let r = self.rule(v6);
                if let Err(e) = self.nl.rule_del(r) {
                    tracing::warn!("removing the rule of table {}: {e}", r.table);
                }
                if let Err(e) = self.nl.routes_flush_table(v6, r.table) {
                    tracing::warn!("removing the routes of table {}: {e}", r.table);
                }
            }
        }
        (self.rules_v4, self.rules_v6) = (false, false);
        self.routes.clear();
        self.dynamic.clear();
        if let Some(table) = self.nft_table.take() {
            crate::nft::delete_table(&table);
        }
        // Restores the sysctls and removes the state file.
        drop(self.claim.take());
    }
}

impl Drop for TunPlumbing {
    fn drop(&mut self) {
        self.teardown();
    }
}
