//! A reload's new `[[conn]]` set, applied on the IKE thread as a diff:
//! unchanged connections keep their IKE SAs and CHILD_SAs; changed ones are
//! deleted with their peer (INFORMATIONAL DELETE) and set up again with the
//! new settings (per their `start`) once the old IKE SA is gone; added ones
//! get their policies and start; removed ones are deleted and retired. The
//! auth backend (rotated PSKs, keys) is replaced for every later
//! authentication. Everything here was validated by the caller
//! (`crate::reload`) before it was sent.
use std::sync::mpsc::Sender;
use std::time::Instant;

use esprit_plugin::PluginEngine;
use tracing::{info, warn};

use super::auth::PluginAuth;
use super::conf::{Conn, Start};
use super::diff::{conn_diff, ConnDiff};
use super::{install, Action, IkeHost};
use crate::replicas::Replicas;

/// The message that hands the IKE thread a reloaded connection set.
pub struct IkeReload {
    pub conns: Vec<Conn>,
    pub engine: PluginEngine,
    pub auth: PluginAuth,
    /// Where the diff that was applied goes back to.
    pub reply: Sender<ConnDiff>,
}

impl IkeHost {
    /// Applies the reloads queued by `crate::reload`; returns the routes
    /// for the packet thread (respond-only connections added or removed).
    pub fn handle_reloads(&mut self, now: Instant, dp: &mut Replicas) -> Vec<Action> {
        let queued: Vec<IkeReload> = self.reloads.lock().map(|mut q| std::mem::take(&mut *q)).unwrap_or_default();
        let mut out = Vec::new();
        for r in queued {
            let diff = self.apply_conns(now, dp, r, &mut out);
            self.status_dirty = true;
            info!(added = ?diff.added, removed = ?diff.removed, changed = ?diff.changed, unchanged = diff.unchanged.len(), "IKE connections reloaded");
        }
        out
    }

    fn apply_conns(&mut self, now: Instant, dp: &mut Replicas, r: IkeReload, out: &mut Vec<Action>) -> ConnDiff {
        let IkeReload { conns, engine, auth, reply } = r;
        let diff = conn_diff(&self.conns, &conns);
        self.ep.set_auth(Box::new(auth));
        self._engine = engine;
        if self.shutting_down {
            let _ = reply.send(diff.clone());
            return diff;
        }
        // Removed and changed: delete with the peer, drop their policies
        // and routes. Their CHILD_SAs go with the IKE SA (ChildDown).
        for name in diff.removed.iter().chain(diff.changed.iter()) {
            self.retries.cancel(Some(name));
            self.admin_down.remove(name);
            if self.ep.has_ike_sa(name) {
                if let Err(e) = self.ep.terminate(now, name) {
                    warn!(conn = %name, "reload: deleting the IKE SA: {e}");
                }
            }
            if let Some(p) = self.policies.remove(name) {
                install::remove_policies(dp, p);
            }
            if let Some(old) = self.conn(name) {
                for prefix in responder_routes(old) {
                    out.push(Action::Route { add: false, prefix });
                }
            }
        }
        for name in &diff.removed {
            self.ep.retire_peer(name);
            info!(conn = %name, "reload: connection removed");
        }
        self.conns = conns;
        for name in diff.changed.iter().chain(diff.added.iter()) {
            let Some(c) = self.conn(name).cloned() else { continue };
            self.ep.set_peer(c.peer.clone());
            if c.start != Start::None || c.oe.is_some() {
                if let Err(e) = self.ensure_policies(dp, name, c.oe) {
                    warn!(conn = %name, "reload: {e:#}");
                }
            }
            for prefix in responder_routes(&c) {
                out.push(Action::Route { add: true, prefix });
            }
            if c.start == Start::Start && c.peer.remote.is_some() {
                if self.ep.has_ike_sa(name) {
                    // Set up again when the old IKE SA is gone (see `restart_changed`).
                    self.restart.insert(name.clone());
                } else {
                    self.initiate_now(now, name);
                }
            }
            info!(conn = %name, "reload: connection {}", if diff.added.contains(name) { "added" } else { "changed; set up again with the new settings" });
        }
        let _ = reply.send(diff.clone());
        diff
    }

    fn initiate_now(&mut self, now: Instant, name: &str) {
        let port = self.conn(name).map(|c| c.peer.remote_port).unwrap_or(500);
        let local = self.local_for(port);
        if let Err(e) = self.ep.initiate(now, name, local, None) {
            warn!(conn = %name, "cannot initiate: {e}");
        }
    }

    /// The old IKE SA of a connection changed by a reload is gone: start
    /// it with its new settings.
    pub(super) fn restart_changed(&mut self, now: Instant, conn: &str) {
        if self.restart.remove(conn) && !self.shutting_down && !self.ep.has_ike_sa(conn) {
            info!(conn, "reload: the old IKE SA is gone; setting up the connection with its new settings");
            self.initiate_now(now, conn);
        }
    }
}

/// The prefixes a respond-only connection routes into the TUN (see
/// [`IkeHost::responder_routes`]).
fn responder_routes(c: &Conn) -> Vec<String> {
    if c.start != Start::None || c.oe.is_some() || c.peer.remote.is_none() {
        return Vec::new();
    }
    c.peer.children.iter().flat_map(|ch| ch.remote_ts.iter()).filter_map(|ts| ts.as_prefix().map(|(a, l)| format!("{a}/{l}"))).collect()
}
