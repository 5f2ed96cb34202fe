//! Who is on the other end of a control connection (`SO_PEERCRED`, read by
//! the kernel at `connect`), and whether that user may command the daemon:
//! only the daemon's own user and root may. The socket's 0600 mode already
//! keeps other users out; this check still holds when the operator widens
//! the mode or a directory's permissions.

use std::os::unix::net::UnixStream;

/// The connecting process as the kernel saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

/// The peer's credentials.
pub fn peer_of(conn: &UnixStream) -> std::io::Result<Peer> {
    let c = rustix::net::sockopt::socket_peercred(conn)?;
    Ok(Peer { pid: c.pid.as_raw_nonzero().get(), uid: c.uid.as_raw(), gid: c.gid.as_raw() })
}

/// The daemon's effective user id.
pub fn own_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// `Ok` when `peer` may command a daemon running as `own`; otherwise the
/// reason, as sent to the client and logged.
pub fn authorize(peer: &Peer, own: u32) -> Result<(), String> {
    authorize_group(peer, own, None)
}

/// [`authorize`], and members of `group` (`control_socket_group`) too.
pub fn authorize_group(peer: &Peer, own: u32, group: Option<u32>) -> Result<(), String> {
    if peer.uid == own || peer.uid == 0 || group.is_some_and(|g| super::group::is_member(peer.pid, peer.gid, g)) {
        return Ok(());
    }
    let also = group.map(|g| format!(", and members of group {g}")).unwrap_or_default();
    Err(format!(
        "permission denied: uid {} may not command this esprit (it runs as uid {own}; only that user and root may{also})",
        peer.uid
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_user_and_root_only() {
        let p = |uid| Peer { pid: 1, uid, gid: uid };
        assert!(authorize(&p(1000), 1000).is_ok());
        assert!(authorize(&p(0), 1000).is_ok());
        assert!(authorize(&p(65534), 1000).unwrap_err().contains("uid 65534"));
        assert!(authorize(&p(65534), 0).is_err());
    }

    #[test]
    fn a_socketpair_is_ourselves() {
        let (a, _b) = UnixStream::pair().unwrap();
        let p = peer_of(&a).unwrap();
        assert_eq!(p.uid, own_uid());
        assert_eq!(p.pid as u32, std::process::id());
    }
}
