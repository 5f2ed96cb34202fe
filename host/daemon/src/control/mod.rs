//! The unix control socket: one JSON request per line, one JSON reply per
//! line. `esprit status` and friends are clients of it.
//!
//! Protocol version [`VERSION`]: a request is `{"cmd": "status"}` (see
//! [`Request`]; an optional `"version"` is checked); every reply is a JSON
//! object carrying `"version": 1`, and `"error"` when the request failed.
//!
//! Security (see the README): the socket is 0600 in a directory we made
//! 0700 (or check, under the shared temp dir); every connection's
//! `SO_PEERCRED` must be our uid or root ([`peer_cred`]); requests are
//! bounded and clients served concurrently with deadlines ([`limits`]).

pub mod group;
pub mod limits;
pub mod peer_cred;
pub mod private_dir;
mod server;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use server::{serve, serve_with};

/// The control protocol's version, in every reply.
pub const VERSION: u32 = 1;

/// A control request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// Everything: SAs, policies, drops.
    Status,
    /// Explain the SPD decision for a flow (`esprit policy test`).
    PolicyTest { flow: String },
    /// IKE: `up`, `down`, `rekey` or `rekey-ike` a connection. With
    /// `wait_ms`, the reply waits (at most that long) for the outcome.
    Ike {
        action: String,
        conn: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_ms: Option<u64>,
    },
    /// Re-read the configuration and apply it as a diff (`esprit reload`).
    Reload,
}

/// A request line: the request and the protocol version the client speaks
/// (absent: 1, as clients before versioning sent).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(flatten)]
    pub request: Request,
}

impl Envelope {
    /// Parses one request line.
    pub fn parse(line: &[u8]) -> std::result::Result<Request, String> {
        let e: Envelope = serde_json::from_slice(line).map_err(|e| format!("bad request: {e}"))?;
        match e.version {
            None | Some(VERSION) => Ok(e.request),
            Some(v) => Err(format!("unsupported control protocol version {v} (this esprit speaks {VERSION})")),
        }
    }
}

/// An error reply.
pub fn error_reply(msg: impl Into<String>) -> Value {
    serde_json::json!({ "version": VERSION, "error": msg.into() })
}

/// What the control socket refused, for `esprit status` and metrics.
#[derive(Debug, Default)]
pub struct ControlStats {
    /// Connections whose peer uid was neither ours nor root.
    pub refused_peers: AtomicU64,
    /// Request lines over [`limits::MAX_REQUEST`].
    pub too_long: AtomicU64,
    /// Connections turned away because [`limits::MAX_CLIENTS`] were served.
    pub busy: AtomicU64,
    /// Requests that did not parse.
    pub bad_requests: AtomicU64,
    /// Requests answered.
    pub served: AtomicU64,
}

/// Default socket path for an instance name: `/run/esprit/NAME.sock` for
/// root, `$XDG_RUNTIME_DIR/esprit-NAME.sock`, else a private directory
/// `esprit-UID` (0700, checked) in the temp dir.
pub fn default_socket(name: &str) -> PathBuf {
    let uid = peer_cred::own_uid();
    if uid == 0 {
        PathBuf::from(format!("/run/esprit/{name}.sock"))
    } else if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        PathBuf::from(dir).join(format!("esprit-{name}.sock"))
    } else {
        std::env::temp_dir().join(format!("esprit-{uid}")).join(format!("{name}.sock"))
    }
}

/// The default socket directory in the shared temp dir (`esprit-UID`),
/// which must be ours and private: another user could create it first.
fn is_default_temp_dir(dir: &Path) -> bool {
    dir == std::env::temp_dir().join(format!("esprit-{}", peer_cred::own_uid()))
}

/// Sends one request and returns the reply (10 s deadline).
pub fn request(path: &Path, req: &Request) -> Result<Value> {
    request_with_timeout(path, req, Duration::from_secs(10))
}

/// Sends one request and waits at most `timeout` for the reply.
pub fn request_with_timeout(path: &Path, req: &Request, timeout: Duration) -> Result<Value> {
    if let Some(dir) = path.parent().filter(|d| is_default_temp_dir(d)) {
        // Do not talk to a socket another user could have put there.
        if dir.exists() {
            private_dir::check(dir)?;
        }
    }
    let mut conn = UnixStream::connect(path).with_context(|| {
        format!("connecting to {} (is `esprit run` running? use --socket to pick another instance)", path.display())
    })?;
    conn.set_read_timeout(Some(timeout))?;
    conn.set_write_timeout(Some(Duration::from_secs(10)))?;
    let env = Envelope { version: Some(VERSION), request: req.clone() };
    // A refused client may find the connection closed before it wrote: the
    // daemon's reply (the reason) is still there to read.
    let sent = writeln!(conn, "{}", serde_json::to_string(&env)?);
    let mut line = Vec::new();
    BufReader::new((&conn).take(limits::MAX_REPLY)).read_until(b'\n', &mut line).map_err(|e| {
        if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) {
            anyhow::anyhow!("no reply from {} within {} s", path.display(), timeout.as_secs())
        } else {
            anyhow::Error::new(e).context(format!("reading the reply from {}", path.display()))
        }
    })?;
    if line.is_empty() {
        sent.with_context(|| format!("sending the request to {}", path.display()))?;
        anyhow::bail!("{} closed the connection without a reply", path.display());
    }
    let v: Value = serde_json::from_slice(&line).context("bad reply from daemon")?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        anyhow::bail!("{e}");
    }
    Ok(v)
}

#[cfg(test)]
mod tests;
