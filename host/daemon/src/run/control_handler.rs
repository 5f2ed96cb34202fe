//! What the control socket and the metrics endpoint ask of a running
//! daemon: the typed status snapshot (built on request: each packet worker
//! answers for its replica of the data plane between two batches, see
//! [`crate::replicas`]) and operator commands for the IKE thread, answered
//! with their outcome.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tracing::warn;

use crate::control::{error_reply, ControlStats, Request};
use crate::ike::outcome::Outcome;
use crate::ike::Command;
use crate::replicas::WorkerHandle;
use crate::status::model::{Counters, EnforcementStatus, IkeStatus, Status};

/// Longest an `esprit ike` client may ask the daemon to wait.
const MAX_WAIT: Duration = Duration::from_secs(600);

/// The IKE thread's side of the control socket.
pub struct IkeControl {
    pub status: Arc<Mutex<IkeStatus>>,
    pub commands: crate::ike::outcome::CommandQueue,
    pub waker: Option<Arc<mio::Waker>>,
}

/// Everything a status snapshot is made of.
pub struct Sources {
    /// The packet workers (outbound first), asked for their replica's part.
    pub workers: Vec<WorkerHandle>,
    pub name: String,
    pub mode: String,
    pub plugins: Vec<Arc<esprit_plugin::HotPolicy>>,
    pub ike: Option<IkeControl>,
    /// SIGHUP and `esprit reload`: one reloader, one reload at a time; it
    /// also holds the running config (whose conns `esprit ike` may name).
    pub reloader: Arc<Mutex<crate::reload::Reloader>>,
    /// The nft table of tun mode's cleartext enforcement.
    pub nft_table: Option<String>,
    pub control: Arc<ControlStats>,
    /// The netstack's counters, published by the packet thread every second.
    pub netstack: Arc<Mutex<Option<Counters>>>,
}

impl Sources {
    /// The status as of now.
    pub fn snapshot(&self) -> Result<Status, String> {
        let now = Instant::now();
        let mut parts = Vec::with_capacity(self.workers.len());
        for w in &self.workers {
            let part = w.query(move |dp| crate::dataplane::status(dp, now)).ok_or_else(|| format!("the {} worker did not answer", w.role.name()))?;
            parts.push(part);
        }
        let mut parts = parts.into_iter();
        let first = parts.next().ok_or_else(|| "no packet worker is running".to_string())?;
        let mut v = parts.fold(first, crate::status::merge::merge);
        v.name = self.name.clone();
        v.mode = self.mode.clone();
        v.plugins = self.plugins.iter().map(|h| crate::plugins::status(h)).collect();
        if let Some(ike) = &self.ike {
            if let Ok(st) = ike.status.lock() {
                v.ike = Some(st.aged(now));
            }
        }
        if let Some(t) = &self.nft_table {
            v.cleartext_enforcement = Some(
                crate::tun_setup::enforcement_drops(t).into_iter().map(|(rule, dropped)| EnforcementStatus { rule, dropped }).collect(),
            );
        }
        v.control = crate::status::counters::control(&self.control);
        v.netstack = self.netstack.lock().ok().and_then(|n| n.clone());
        Ok(v)
    }

    /// Answers one control request.
    pub fn handle(&self, req: Request) -> Value {
        match req {
            Request::Status => match self.snapshot().and_then(|s| serde_json::to_value(s).map_err(|e| e.to_string())) {
                Ok(v) => v,
                Err(e) => error_reply(e),
            },
            Request::Ike { action, conn, wait_ms } => self.ike_command(&action, conn, wait_ms.map(Duration::from_millis)),
            Request::Reload => match crate::reload::run_logged(&self.reloader, "esprit reload") {
                Ok(rep) => json!({ "ok": true, "reload": rep }),
                Err(e) => error_reply(format!("reload refused: {e:#}; the running configuration is unchanged")),
            },
            Request::PolicyTest { flow } => match esprit_plugin::parse_flow(&flow) {
                Ok(f) => match self.workers.iter().find(|w| w.role.outbound()).and_then(|w| w.query(move |dp| dp.sadb_mut().spd_mut().explain(&f).to_string())) {
                    Some(explanation) => json!({ "flow": flow, "explanation": explanation }),
                    None => error_reply("the outbound worker did not answer"),
                },
                Err(e) => error_reply(e),
            },
        }
    }

    /// Queues an IKE command; with `wait`, waits (bounded) for its outcome.
    fn ike_command(&self, action: &str, conn: String, wait: Option<Duration>) -> Value {
        let Some(ike) = &self.ike else { return error_reply("this instance has no [[conn]] (IKE is off)") };
        // The connections of the running config (reloads change them).
        let conn_names: Vec<String> = match self.reloader.lock() {
            Ok(r) => r.cfg.conn.iter().map(|c| c.name.get_ref().clone()).collect(),
            Err(_) => return error_reply("the reloader panicked earlier"),
        };
        if !conn_names.contains(&conn) {
            return error_reply(format!("no [[conn]] named {conn:?} (this instance has: {})", conn_names.join(", ")));
        }
        let c = match action {
            "up" => Command::Up(conn.clone()),
            "down" => Command::Down(conn.clone()),
            "rekey" => Command::Rekey(conn.clone()),
            "rekey-ike" => Command::RekeyIke(conn.clone()),
            a => return error_reply(format!("unknown IKE action {a:?} (up, down, rekey, rekey-ike)")),
        };
        let (tx, rx) = std::sync::mpsc::channel::<Outcome>();
        match ike.commands.lock() {
            Ok(mut q) => q.push((c, wait.map(|_| tx))),
            Err(_) => return error_reply("IKE command queue poisoned"),
        }
        // Acted on at once, not at the IKE thread's next timeout.
        if let Some(Err(e)) = ike.waker.as_ref().map(|w| w.wake()) {
            warn!("waking the IKE thread: {e}");
        }
        let Some(wait) = wait else { return json!({ "ok": true, "outcome": "queued" }) };
        let wait = wait.min(MAX_WAIT);
        match rx.recv_timeout(wait) {
            Ok(Ok(msg)) => json!({ "ok": true, "outcome": msg }),
            Ok(Err(reason)) => error_reply(format!("conn {conn:?}: {action} failed: {reason}")),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => error_reply(format!(
                "conn {conn:?}: no outcome of {action} within {} s (it may still complete: see `esprit status`)",
                wait.as_secs()
            )),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => error_reply(format!("conn {conn:?}: the IKE thread dropped the {action} command (stopping?)")),
        }
    }
}
