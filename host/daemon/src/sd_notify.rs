//! systemd readiness (`Type=notify`): once the daemon is ready, send
//! `READY=1` to `$NOTIFY_SOCKET` over a unix datagram socket (sd_notify(3)).
//! A path starting with `@` is in the abstract namespace. Without
//! `NOTIFY_SOCKET` (not started by systemd) nothing is sent.
use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The variable systemd sets for `Type=notify` services.
pub const ENV: &str = "NOTIFY_SOCKET";

/// Sends `state` (e.g. `READY=1`) to `$NOTIFY_SOCKET`. `Ok(false)` when the
/// variable is unset or empty.
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(path) = std::env::var_os(ENV).filter(|p| !p.is_empty()) else { return Ok(false) };
    send(&path, state).map_err(|e| io::Error::new(e.kind(), format!("{ENV}={}: {e}", path.to_string_lossy())))?;
    Ok(true)
}

/// Sends one datagram `state` to the socket `path` (`@name`: abstract).
pub fn send(path: &OsStr, state: &str) -> io::Result<()> {
    let addr = match path.as_encoded_bytes().strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(path)?,
    };
    UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

/// Tells systemd the daemon is ready (`READY=1` with the main pid).
pub fn ready() -> io::Result<bool> {
    notify(&format!("READY=1\nMAINPID={}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_reaches_a_datagram_socket() {
        let dir = std::env::temp_dir().join(format!("esprit-sd-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("notify");
        let server = UnixDatagram::bind(&path).expect("bind");
        send(path.as_os_str(), "READY=1").expect("send");
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn abstract_names_start_with_at() {
        let name = format!("esprit-sd-notify-test-{}", std::process::id());
        let server = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).expect("addr")).expect("bind");
        send(OsStr::new(&format!("@{name}")), "READY=1").expect("send");
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1");
    }
}
