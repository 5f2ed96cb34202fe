//! The unix control socket: one JSON request per line, one JSON response per
//! line. `esprit status` and friends are clients of it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A control request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// Everything: SAs, policies, drops.
    Status,
    /// Explain the SPD decision for a flow (`esprit policy test`).
    PolicyTest { flow: String },
    /// IKE: `up`, `down`, `rekey` or `rekey-ike` a connection.
    Ike { action: String, conn: String },
    /// Re-read the configuration and apply it as a diff (`esprit reload`).
    Reload,
}

/// Default socket path for an instance name.
pub fn default_socket(name: &str) -> PathBuf {
    let is_root = std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false);
    if is_root {
        PathBuf::from(format!("/run/esprit/{name}.sock"))
    } else if let Ok(dir) = std::env::var("XDG_RUNTIME_DIR") {
        PathBuf::from(dir).join(format!("esprit-{name}.sock"))
    } else {
        std::env::temp_dir().join(format!("esprit-{name}.sock"))
    }
}

/// Binds the control socket (replacing a stale one) and serves requests on a
/// background thread with `handle`.
pub fn serve<F>(path: &Path, handle: F) -> Result<()>
where
    F: Fn(Request) -> Value + Send + 'static,
{
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            // A directory we make is ours alone (not /tmp or one the operator made).
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).with_context(|| format!("chmod 0700 {}", dir.display()))?;
        }
    }
    if UnixStream::connect(path).is_ok() {
        anyhow::bail!("control socket {} is in use by another esprit instance", path.display());
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).with_context(|| format!("binding control socket {}", path.display()))?;
    // Only the daemon's own user may command it (the umask left it open to
    // others: a nobody user could run `esprit ike down`).
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).with_context(|| format!("chmod 0600 {}", path.display()))?;
    std::thread::Builder::new().name("control".into()).spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(&conn);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let reply = match serde_json::from_str::<Request>(&line) {
                Ok(req) => handle(req),
                Err(e) => serde_json::json!({ "error": format!("bad request: {e}") }),
            };
            let mut w = &conn;
            let _ = writeln!(w, "{reply}");
        }
    })?;
    Ok(())
}

/// Sends one request and returns the reply.
pub fn request(path: &Path, req: &Request) -> Result<Value> {
    let mut conn = UnixStream::connect(path).with_context(|| {
        format!("connecting to {} (is `esprit run` running? use --socket to pick another instance)", path.display())
    })?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    writeln!(conn, "{}", serde_json::to_string(req)?)?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line)?;
    let v: Value = serde_json::from_str(&line).context("bad reply from daemon")?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        anyhow::bail!("{e}");
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_request() {
        let dir = std::env::temp_dir().join(format!("esprit-ctl-test-{}", std::process::id()));
        let path = dir.join("c.sock");
        serve(&path, |req| match req {
            Request::Status => serde_json::json!({"ok": true}),
            Request::PolicyTest { flow } => serde_json::json!({"flow": flow}),
            Request::Ike { .. } | Request::Reload => serde_json::json!({"ok": true}),
        })
        .unwrap();
        assert_eq!(request(&path, &Request::Status).unwrap()["ok"], true);
        let v = request(&path, &Request::PolicyTest { flow: "tcp 1.2.3.4:1 -> 5.6.7.8:2".into() }).unwrap();
        assert_eq!(v["flow"], "tcp 1.2.3.4:1 -> 5.6.7.8:2");
        let mut raw = UnixStream::connect(&path).unwrap();
        writeln!(raw, "{{\"cmd\":\"explode\"}}").unwrap();
        let mut line = String::new();
        BufReader::new(&raw).read_line(&mut line).unwrap();
        assert!(line.contains("bad request"), "{line}");
        assert!(serve(&path, |_| Value::Null).unwrap_err().to_string().contains("in use"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
