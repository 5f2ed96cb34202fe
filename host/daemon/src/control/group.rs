//! `control_socket_group`: a group whose members may also command the
//! daemon (socket mode 0660, group-owned). Membership is the peer's primary
//! gid (`SO_PEERCRED`) or one of its supplementary groups (the `Groups:`
//! line of `/proc/PID/status`, read at accept).

use anyhow::{bail, Context, Result};

/// A group name from `/etc/group`, or a numeric gid.
pub fn resolve(spec: &str) -> Result<u32> {
    if let Ok(gid) = spec.parse::<u32>() {
        return Ok(gid);
    }
    let text = std::fs::read_to_string("/etc/group").context("control_socket_group: reading /etc/group")?;
    for line in text.lines() {
        let mut f = line.split(':');
        if let (Some(name), Some(_), Some(gid)) = (f.next(), f.next(), f.next()) {
            if name == spec {
                return gid.parse().with_context(|| format!("control_socket_group: bad gid for {spec:?} in /etc/group"));
            }
        }
    }
    bail!("control_socket_group: no group named {spec:?} in /etc/group (a numeric gid works too)")
}

/// Whether process `pid` (primary gid `gid`) is in group `group`.
pub fn is_member(pid: i32, gid: u32, group: u32) -> bool {
    gid == group || supplementary(pid).contains(&group)
}

fn supplementary(pid: i32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Groups:")).map(|g| g.split_whitespace().filter_map(|n| n.parse().ok()).collect()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(resolve("4242").unwrap(), 4242);
        assert_eq!(resolve("root").unwrap(), 0);
        assert!(resolve("no-such-group-esprit").unwrap_err().to_string().contains("no group named"));
        // Our own process: its primary gid is a membership.
        let me = std::process::id() as i32;
        let gid = rustix::process::getegid().as_raw();
        assert!(is_member(me, gid, gid));
    }
}
