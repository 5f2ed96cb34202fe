//! Serving the control socket: an accept thread checks each peer's
//! credentials and hands the connection to a thread of its own (at most
//! [`MAX_CLIENTS`] at once), which reads one bounded request line under a
//! deadline, answers it and closes.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::Value;
use tracing::{debug, warn};

use super::limits::{self, Line, MAX_CLIENTS, MAX_REQUEST};
use super::peer_cred;
use super::{error_reply, private_dir, ControlStats, Envelope, Request, VERSION};

/// Binds the control socket (replacing a stale one) and serves requests on
/// background threads with `handle`.
pub fn serve<F>(path: &Path, stats: Arc<ControlStats>, handle: F) -> Result<()>
where
    F: Fn(Request) -> Value + Send + Sync + 'static,
{
    serve_with(path, None, stats, handle)
}

/// [`serve`], and with `group`, members of that group may command too
/// (socket 0660 and group-owned; a directory esprit creates for it 0710).
pub fn serve_with<F>(path: &Path, group: Option<u32>, stats: Arc<ControlStats>, handle: F) -> Result<()>
where
    F: Fn(Request) -> Value + Send + Sync + 'static,
{
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // A directory we make is ours alone; the default one in the shared
        // temp dir must be, even if it already exists.
        let created = !dir.exists();
        private_dir::ensure(dir, super::is_default_temp_dir(dir))?;
        if let (true, Some(g), false) = (created, group, super::is_default_temp_dir(dir)) {
            // The group may pass through (not list) the directory we made.
            std::os::unix::fs::chown(dir, None, Some(g)).with_context(|| format!("chgrp {g} {}", dir.display()))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o710)).with_context(|| format!("chmod 0710 {}", dir.display()))?;
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
    if let Some(g) = group {
        std::os::unix::fs::chown(path, None, Some(g)).with_context(|| format!("control_socket_group: chgrp {g} {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).with_context(|| format!("chmod 0660 {}", path.display()))?;
    }
    let handle = Arc::new(handle);
    let own = peer_cred::own_uid();
    let active = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new().name("control".into()).spawn(move || {
        for conn in listener.incoming() {
            let conn = match conn {
                Ok(c) => c,
                Err(e) => {
                    debug!("control socket accept: {e}");
                    continue;
                }
            };
            let _ = conn.set_write_timeout(Some(limits::WRITE_TIMEOUT));
            let peer = match peer_cred::peer_of(&conn) {
                Ok(p) => p,
                Err(e) => {
                    warn!("control socket: cannot read the peer's credentials ({e}); connection refused");
                    stats.refused_peers.fetch_add(1, Ordering::Relaxed);
                    reply(&conn, &error_reply("permission denied: peer credentials unavailable"));
                    continue;
                }
            };
            if let Err(why) = peer_cred::authorize_group(&peer, own, group) {
                warn!(pid = peer.pid, uid = peer.uid, "control socket: connection refused: {why}");
                stats.refused_peers.fetch_add(1, Ordering::Relaxed);
                reply(&conn, &error_reply(why));
                continue;
            }
            if active.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
                active.fetch_sub(1, Ordering::SeqCst);
                stats.busy.fetch_add(1, Ordering::Relaxed);
                reply(&conn, &error_reply(format!("busy: {MAX_CLIENTS} control clients are being served; try again")));
                continue;
            }
            let (handle, stats, active2) = (Arc::clone(&handle), Arc::clone(&stats), Arc::clone(&active));
            let spawned = std::thread::Builder::new().name("control-client".into()).spawn(move || {
                serve_one(&conn, &*handle, &stats);
                active2.fetch_sub(1, Ordering::SeqCst);
            });
            if let Err(e) = spawned {
                active.fetch_sub(1, Ordering::SeqCst);
                warn!("control socket: cannot start a client thread: {e}");
            }
        }
    })?;
    Ok(())
}

/// One connection: one bounded request line, one reply.
fn serve_one(conn: &UnixStream, handle: &dyn Fn(Request) -> Value, stats: &ControlStats) {
    let until = std::time::Instant::now() + limits::READ_TIMEOUT;
    let line = match limits::read_line(limits::Deadlined { conn, until }, MAX_REQUEST) {
        Ok(Line::Complete(l)) => l,
        Ok(Line::Empty) => return,
        Ok(Line::TooLong) => {
            stats.too_long.fetch_add(1, Ordering::Relaxed);
            warn!("control socket: a request longer than {MAX_REQUEST} bytes was refused");
            reply(conn, &error_reply(format!("request longer than {MAX_REQUEST} bytes; connection closed")));
            // Stop reading: the rest of the line is never buffered.
            let _ = conn.shutdown(std::net::Shutdown::Both);
            return;
        }
        Err(e) => {
            debug!("control socket: reading a request: {e}");
            return;
        }
    };
    let mut v = match Envelope::parse(&line) {
        Ok(req) => handle(req),
        Err(e) => {
            stats.bad_requests.fetch_add(1, Ordering::Relaxed);
            error_reply(e)
        }
    };
    stats.served.fetch_add(1, Ordering::Relaxed);
    if let Value::Object(m) = &mut v {
        m.insert("version".into(), VERSION.into());
    }
    reply(conn, &v);
}

fn reply(mut conn: &UnixStream, v: &Value) {
    let _ = writeln!(conn, "{v}");
}
