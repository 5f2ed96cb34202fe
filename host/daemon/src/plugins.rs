//! Wasm policy plugins in the daemon: loads each `[[plugin]]` spec (watched
//! for hot reload) and checks the `[[policy]]` entries that delegate to
//! them ([`load`]); [`install`] registers them in an SPD (each data plane
//! replica's).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use esprit_plugin::{HotPolicy, PluginEngine};
use esprit_sadb::decider::Direction;
use esprit_sadb::selector::{IpPrefix, Selector};
use esprit_sadb::spd::{Action, NewPolicy};
use esprit_sadb::{Sadb, SadbControl};
use tracing::info;

use crate::config::{Config, PolicyDir, PolicySection};
use crate::config::parse_prefix;

/// Keeps the engine and the watchers alive.
pub struct Plugins {
    _engine: PluginEngine,
    pub loaded: Vec<Arc<HotPolicy>>,
    /// The `[[policy]]` entries that delegate to them.
    pub policies: Vec<NewPolicy>,
}

/// Loads the policy plugins of `cfg` and checks its `[[policy]]` entries.
/// `watch`: follow file changes.
pub fn load(cfg: &Config, watch: bool) -> Result<Option<Plugins>> {
    // IKE auth plugins (named by a [[conn]]) are loaded by the IKE side.
    let auth: Vec<std::path::PathBuf> = crate::ike::auth_plugin_specs(cfg)?.into_iter().map(|(p, _)| p).collect();
    if cfg.policy.is_empty() && auth.len() == cfg.plugin.len() {
        return Ok(None);
    }
    let engine = PluginEngine::shared().context("starting the Wasm engine")?;
    let mut loaded = Vec::new();
    for p in &cfg.plugin {
        let spec = cfg.resolve(&p.spec);
        if auth.contains(&spec) {
            // An IKE auth plugin (named by a [[conn]]); the IKE side loads it.
            continue;
        }
        let hot = if watch { HotPolicy::watch(&engine, &spec) } else { HotPolicy::load(&engine, &spec) }
            .with_context(|| format!("loading policy plugin {}", spec.display()))?;
        let hot = Arc::new(hot);
        info!(plugin = esprit_sadb::decider::PolicyDecider::name(hot.as_ref()), spec = %spec.display(), "policy plugin loaded");
        loaded.push(hot);
    }
    let mut policies = Vec::new();
    for (i, p) in cfg.policy.iter().enumerate() {
        let at = || format!("{}: [[policy]] #{} ({} -> {})", cfg.path.display(), i + 1, p.src.as_deref().unwrap_or("any"), p.dst.as_deref().unwrap_or("any"));
        if !loaded.iter().any(|h| esprit_sadb::decider::PolicyDecider::name(h.as_ref()) == p.plugin) {
            bail!("{}: no [[plugin]] is named `{}`", at(), p.plugin);
        }
        policies.push(new_policy(p).with_context(at)?);
    }
    Ok(Some(Plugins { _engine: engine, loaded, policies }))
}

/// Registers the plugins as deciders of `sadb`'s SPD and adds the
/// `[[policy]]` entries (in the order of the config).
pub fn install<S>(deciders: &[Arc<HotPolicy>], policies: &[NewPolicy], sadb: &mut Sadb<S>) -> Result<()> {
    for d in deciders {
        sadb.spd_mut().set_decider(d.clone());
    }
    for p in policies {
        sadb.add_policy(p.clone()).map_err(|e| anyhow::anyhow!("[[policy]] {}: {e}", p.selector))?;
    }
    Ok(())
}

/// The SPD entries of `cfg`'s `[[policy]]` sections (not checked against
/// the loaded plugins; see [`load`]).
pub fn policy_entries(cfg: &Config) -> Result<Vec<NewPolicy>> {
    cfg.policy
        .iter()
        .enumerate()
        .map(|(i, p)| new_policy(p).with_context(|| format!("{}: [[policy]] #{}", cfg.path.display(), i + 1)))
        .collect()
}

fn prefix(s: Option<&str>, like: Option<IpAddr>) -> Result<IpPrefix> {
    match s {
        Some(s) => {
            let (a, l) = parse_prefix(s)?;
            IpPrefix::new(a, l).map_err(|e| anyhow::anyhow!("`{s}`: {e}"))
        }
        None => Ok(IpPrefix::any_of_family(like.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))),
    }
}

fn new_policy(p: &PolicySection) -> Result<NewPolicy> {
    let src = prefix(p.src.as_deref(), None)?;
    let dst = prefix(p.dst.as_deref(), Some(src.addr()))?;
    let src = if p.src.is_none() { IpPrefix::any_of_family(dst.addr()) } else { src };
    if src.addr().is_ipv4() != dst.addr().is_ipv4() {
        bail!("src and dst are of different address families");
    }
    let proto = match p.proto.as_deref() {
        None | Some("any") => None,
        Some("tcp") => Some(6),
        Some("udp") => Some(17),
        Some("icmp") => Some(1),
        Some("icmp6") | Some("ipv6-icmp") => Some(58),
        Some(n) => Some(n.parse::<u8>().map_err(|_| anyhow::anyhow!("proto `{n}`: expected tcp, udp, icmp, icmp6, any or a number"))?),
    };
    let dir = match p.dir {
        PolicyDir::Out => Direction::Out,
        PolicyDir::In => Direction::In,
        PolicyDir::Fwd => Direction::Fwd,
    };
    Ok(NewPolicy {
        selector: Selector { src, dst, proto, src_port: None, dst_port: None },
        dir,
        priority: p.priority.unwrap_or(esprit_sadb::setkey::PRIORITY_DEFAULT),
        action: Action::Delegate(p.plugin.clone()),
    })
}

/// One plugin's entry in `esprit status`.
pub fn status(h: &HotPolicy) -> crate::status::model::PluginStatus {
    use esprit_sadb::decider::PolicyDecider;
    let cur = h.current();
    crate::status::model::PluginStatus {
        name: h.name().to_string(),
        version: format!("{:016x}", h.version()),
        reloads: h.swaps(),
        rejected_reloads: h.rejected(),
        last_error: h.last_error(),
        quarantined: cur.is_quarantined(),
        faults: crate::status::counters::plugin_faults(cur.stats()),
    }
}
