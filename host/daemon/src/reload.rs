//! `esprit reload` and SIGHUP: re-reads esprit.toml, the setkey files, the
//! `[[conn]]`s and the auth plugin specs (PSK rotation), validates all of it
//! before anything changes (a broken file leaves the running configuration
//! untouched and the error names file:line), then applies a diff:
//!
//! - static SAs (setkey `add`): unchanged ones keep their sequence numbers
//!   and replay windows; changed ones are replaced, added ones installed,
//!   removed ones deleted;
//! - policies (setkey `spdadd` and `[[policy]]`): one operation on the data
//!   plane's replicas, with the routes into the TUN and the nftables
//!   enforcement that follow from them ([`crate::reload_policies`]);
//! - `[[conn]]`s: handed to the IKE thread ([`crate::ike::reload`]), which
//!   leaves unchanged connections' IKE SAs and CHILD_SAs alone.
//!
//! What reload cannot apply (the outer sockets, the TUN or netstack, the
//! mode, `[ike]`, the policy plugins themselves) is refused with the list of
//! what changed: restart for those. A policy plugin's own files are
//! reloaded by its watcher.
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use esprit_crypto::Provider;
use esprit_sadb::sad::SaInfo;
use esprit_sadb::sadb::SadbControl;
use esprit_sadb::Spi;
use esprit_sadb::setkey::{SaSpec, Span, Statement};
use esprit_sadb::spd::NewPolicy;
use serde::Serialize;
use tracing::{error, info};

use crate::config::Config;
use crate::ike::diff::ConnDiff;
use crate::ike::reload::IkeReload;
use crate::reload_policies::PolicyDiff;
use crate::replicas::Replicas;

/// How long a reload waits for the IKE thread to take the new connections.
const IKE_ANSWER: Duration = Duration::from_secs(10);

/// The IKE thread's reload queue and its waker.
pub struct IkeHandle {
    pub reloads: Arc<Mutex<Vec<IkeReload>>>,
    pub waker: Arc<mio::Waker>,
}

/// Static SAs by SPI (hex), per class.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SaDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
}

/// What a reload did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub config: PathBuf,
    pub conns: ConnDiff,
    pub sas: SaDiff,
    pub policies: PolicyDiff,
}

/// Everything a reload needs, shared by the SIGHUP thread and the control socket.
pub struct Reloader {
    pub cfg: Config,
    pub statements: Vec<Statement>,
    pub provider: &'static dyn Provider,
    /// The data plane's replicas: SA changes go through them.
    pub replicas: Arc<Mutex<Replicas>>,
    pub ike: Option<IkeHandle>,
    /// The names of the loaded policy plugins (`[[policy]]` must name one).
    pub policy_plugins: Vec<String>,
    /// Routes and nftables enforcement (tun mode).
    pub plumbing: Option<crate::reload_policies::Plumbing>,
}

/// A static SA's identity (RFC 4301 §4.1: SPI, protocol, destination).
type SaKey = (Spi, String, IpAddr);

/// The SAs the statements leave installed (after any `flush;`), without
/// their positions in the files.
fn effective_sas(statements: &[Statement]) -> BTreeMap<SaKey, SaSpec> {
    let mut m = BTreeMap::new();
    for st in statements {
        match st {
            Statement::Flush => m.clear(),
            Statement::Add(s) => {
                let mut s = s.clone();
                s.span = Span::default();
                m.insert((s.spi, format!("{:?}", s.proto), s.dst), s);
            }
            _ => {}
        }
    }
    m
}

/// The SPD entries a restart would add, in order: the policies the
/// statements leave installed (after any `spdflush;`), then `[[policy]]`.
fn effective_policies(statements: &[Statement], cfg: &Config) -> Result<Vec<NewPolicy>> {
    let mut v = Vec::new();
    for st in statements {
        match st {
            Statement::SpdFlush => v.clear(),
            Statement::SpdAdd(p) => v.push(NewPolicy::from(p)),
            _ => {}
        }
    }
    v.extend(crate::plugins::policy_entries(cfg)?);
    Ok(v)
}

/// The policy plugin specs of a config (the others are auth plugins, reloadable).
fn policy_plugin_specs(cfg: &Config) -> Result<Vec<PathBuf>> {
    let auth: Vec<PathBuf> = crate::ike::auth_plugin_specs(cfg)?.into_iter().map(|(p, _)| p).collect();
    Ok(cfg.plugin.iter().map(|p| cfg.resolve(&p.spec)).filter(|p| !auth.contains(p)).collect())
}

/// The settings a reload cannot apply that differ between `old` and `new`.
fn needs_restart(old: &Config, new: &Config) -> Result<Vec<&'static str>> {
    let d = |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") != format!("{b:?}");
    let mut v = Vec::new();
    let pairs: [(&'static str, bool); 8] = [
        ("mode", d(&old.mode, &new.mode)),
        ("crypto", d(&old.crypto, &new.crypto)),
        ("name", d(&old.name, &new.name)),
        ("control_socket", d(&old.control_socket, &new.control_socket)),
        ("[outer]", d(&old.outer, &new.outer)),
        ("[tun]", d(&old.tun, &new.tun)),
        ("[netstack]", d(&old.netstack, &new.netstack)),
        ("[ike]", d(&old.ike, &new.ike)),
    ];
    v.extend(pairs.iter().filter(|(_, changed)| *changed).map(|(n, _)| *n));
    if policy_plugin_specs(old)? != policy_plugin_specs(new)? {
        v.push("the policy plugins of [[plugin]] (their files are reloaded by themselves)");
    }
    if old.ipsec.replay_window != new.ipsec.replay_window {
        v.push("ipsec.replay_window");
    }
    Ok(v)
}

impl Reloader {
    /// Re-reads and applies the configuration, or changes nothing and says why.
    pub fn reload(&mut self) -> Result<Report> {
        let path = self.cfg.path.clone();
        let new = Config::load(&path)?;
        let fixed = needs_restart(&self.cfg, &new)?;
        if !fixed.is_empty() {
            bail!("{}: changed settings that need a restart: {}", path.display(), fixed.join(", "));
        }
        let loaded = crate::setkey_files::load_statements(&new)?;
        // All SAs must build (keys, algorithms, duplicate SPIs) before any changes.
        crate::dataplane::from_setkey(&loaded.statements, self.provider, new.ipsec.replay_window, None, Instant::now())
            .map_err(|e| loaded.locate(e, &path))?;
        let statements = loaded.statements;
        for (i, p) in new.policy.iter().enumerate() {
            if !self.policy_plugins.contains(&p.plugin) {
                bail!("{}: [[policy]] #{}: no policy plugin is named `{}` (loaded: {})", path.display(), i + 1, p.plugin, self.policy_plugins.join(", "));
            }
        }
        let (old_policies, new_policies) = (effective_policies(&self.statements, &self.cfg)?, effective_policies(&statements, &new)?);
        let conns = if new.conn.is_empty() { Vec::new() } else { crate::ike::validate(&new)? };
        let auth = match &self.ike {
            Some(_) => Some(crate::ike::build_auth(&new, &conns)?),
            None if !conns.is_empty() => bail!("{}: [[conn]]s were added to an instance started without any: IKE needs a restart", path.display()),
            None => None,
        };
        // Validated: apply.
        let sas = self.apply_sas(&statements, &new)?;
        let policies = {
            let mut rep = self.replicas.lock().map_err(|_| anyhow::anyhow!("data plane replicas poisoned"))?;
            crate::reload_policies::apply(&mut rep, &old_policies, &new_policies, self.plumbing.as_ref())?
        };
        let conns = match (&self.ike, auth) {
            (Some(h), Some((engine, auth))) => {
                let (reply, answer) = mpsc::channel();
                h.reloads.lock().map_err(|_| anyhow::anyhow!("IKE reload queue poisoned"))?.push(IkeReload { conns, engine, auth, reply });
                h.waker.wake().context("waking the IKE thread")?;
                answer.recv_timeout(IKE_ANSWER).context("the IKE thread did not take the new connections")?
            }
            _ => ConnDiff::default(),
        };
        self.cfg = new;
        self.statements = statements;
        Ok(Report { config: path, conns, sas, policies })
    }

    /// Replaces changed static SAs, installs added ones and deletes removed
    /// ones; unchanged ones are not touched (sequence numbers, replay windows).
    fn apply_sas(&self, statements: &[Statement], new: &Config) -> Result<SaDiff> {
        let (old, next) = (effective_sas(&self.statements), effective_sas(statements));
        let mut d = SaDiff::default();
        let hex = |k: &SaKey| format!("{:#010x}", k.0);
        for (k, spec) in &next {
            match old.get(k) {
                None => d.added.push(hex(k)),
                Some(o) if o == spec => d.unchanged.push(hex(k)),
                Some(_) => d.changed.push(hex(k)),
            }
        }
        d.removed = old.keys().filter(|k| !next.contains_key(*k)).map(hex).collect();
        if d.added.is_empty() && d.changed.is_empty() && d.removed.is_empty() {
            return Ok(d);
        }
        let mut rep = self.replicas.lock().map_err(|_| anyhow::anyhow!("data plane replicas poisoned"))?;
        let now = Instant::now();
        for (k, spec) in &old {
            if next.get(k) != Some(spec) {
                let (spi, proto, dst) = (spec.spi, spec.proto, spec.dst);
                if let Err(e) = rep.apply(move |d, _| d.sadb_mut().delete_sa(spi, proto, dst)) {
                    error!("reload: removing SA {}: {e}", hex(k));
                }
            }
        }
        let replay = new.ipsec.replay_window;
        for (k, spec) in &next {
            if old.get(k) != Some(spec) {
                let spec = spec.clone();
                rep.apply(move |d, ctx| {
                    let sa = crate::dataplane::make_sa(&spec, ctx.provider, replay, ctx.keylog)?;
                    d.sadb_mut().add_sa(SaInfo::from(&spec), sa, now).map_err(anyhow::Error::from)
                })
                .map_err(|e| anyhow::anyhow!("reload: installing SA {}: {e}", hex(k)))?;
            }
        }
        Ok(d)
    }
}

/// Runs a reload and logs its outcome; the error (if any) is returned for
/// the control socket.
pub fn run_logged(r: &Mutex<Reloader>, why: &str) -> Result<Report> {
    let mut r = r.lock().map_err(|_| anyhow::anyhow!("the reloader panicked earlier"))?;
    info!("{why}: reloading {}", r.cfg.path.display());
    match r.reload() {
        Ok(rep) => {
            info!(
                conns_added = ?rep.conns.added, conns_removed = ?rep.conns.removed, conns_changed = ?rep.conns.changed, conns_unchanged = ?rep.conns.unchanged,
                sas_added = ?rep.sas.added, sas_removed = ?rep.sas.removed, sas_changed = ?rep.sas.changed, sas_unchanged = rep.sas.unchanged.len(),
                policies_kept = rep.policies.kept, policies_removed = rep.policies.removed, policies_added = rep.policies.added,
                "reload done"
            );
            Ok(rep)
        }
        Err(e) => {
            error!("reload refused: {e:#}; the running configuration is unchanged");
            Err(e)
        }
    }
}

/// Catches SIGHUP from now on (its default action ends the process): call
/// it first thing, so a SIGHUP during start-up waits for [`on_sighup`].
pub fn catch_sighup() -> Result<signal_hook::iterator::Signals> {
    signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP]).context("installing the SIGHUP handler")
}

/// SIGHUP = reload, on a thread of its own.
pub fn on_sighup(mut signals: signal_hook::iterator::Signals, r: Arc<Mutex<Reloader>>) -> Result<()> {
    std::thread::Builder::new().name("reload".into()).spawn(move || {
        for _ in signals.forever() {
            let _ = run_logged(&r, "SIGHUP");
        }
    })?;
    Ok(())
}
