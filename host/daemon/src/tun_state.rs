//! The state file of a tun-mode instance (`<runtime dir>/<name>.state`,
//! mode 0600, beside the control socket): which process owns the
//! instance, in which network namespace, what it installed (table, fwmark,
//! rule priority, nftables table) and the original values of the sysctls it
//! changes. Written before anything is installed, removed on a clean stop.
//!
//! A state file left behind says the previous run died (kill -9, OOM): the
//! next start removes what that run installed and keeps the *original*
//! sysctl values it recorded (the current ones are esprit's own). A state
//! file whose process is alive (same name, same namespace) refuses a second
//! start instead of tearing down the running instance's plumbing.
//!
//! Several instances in one namespace share the sysctls: a starting
//! instance adopts the originals a live sibling recorded, and the last one
//! to stop restores them.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::instance::Ids;

/// The sysctls tun mode changes host-wide (per network namespace). The
/// TUN device's own (`rp_filter`, `disable_ipv6`) go away with it.
pub const SYSCTLS: &[&str] = &["net/ipv4/conf/all/rp_filter"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recorded {
    pub name: String,
    pub pid: u32,
    /// Inode of the process's network namespace (`/proc/self/ns/net`).
    pub netns: u64,
    pub ids: Ids,
    pub nft_table: String,
    /// sysctl path under /proc/sys → its value before any esprit changed it.
    pub sysctls: BTreeMap<String, String>,
}

/// This run's claim on the instance; [`Claim::release`] on a clean stop.
#[derive(Debug)]
pub struct Claim {
    path: PathBuf,
    pub rec: Recorded,
    /// What the previous, dead run had installed (to remove before installing).
    pub stale: Option<Recorded>,
}

/// The state file for a control socket path: same folder, `.state`.
pub fn path_for(socket: &Path, name: &str) -> PathBuf {
    socket.parent().unwrap_or(Path::new(".")).join(format!("{name}.state"))
}

fn netns_of(pid: &str) -> Option<u64> {
    fs::metadata(format!("/proc/{pid}/ns/net")).ok().map(|m| m.ino())
}

/// Whether `pid` is a live esprit process other than this one.
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return false;
    }
    fs::read(format!("/proc/{pid}/cmdline")).map(|c| c.split(|b| *b == 0).next().is_some_and(|a| a.ends_with(b"esprit"))).unwrap_or(false)
}

fn read(path: &Path) -> Option<Recorded> {
    let text = fs::read_to_string(path).ok()?;
    match serde_json::from_str(&text) {
        Ok(r) => Some(r),
        Err(e) => {
            warn!("ignoring the unreadable state file {}: {e}", path.display());
            None
        }
    }
}

fn read_sysctl(key: &str) -> Option<String> {
    fs::read_to_string(format!("/proc/sys/{key}")).ok().map(|v| v.trim().to_string())
}

/// Live instances with a state file in `dir` in this network namespace.
fn live_siblings(dir: &Path, me: &Path, netns: u64) -> Vec<Recorded> {
    let Ok(rd) = fs::read_dir(dir) else { return Vec::new() };
    rd.filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p != me && p.extension().is_some_and(|x| x == "state"))
        .filter_map(|p| read(&p))
        .filter(|r| r.netns == netns && alive(r.pid))
        .collect()
}

impl Claim {
    /// Claims instance `name` through its state file `path`.
    pub fn take(path: &Path, name: &str, ids: Ids, nft_table: &str) -> Result<Claim> {
        let netns = netns_of("self").context("reading /proc/self/ns/net")?;
        let dir = path.parent().unwrap_or(Path::new("."));
        if !dir.exists() {
            fs::create_dir_all(dir).with_context(|| format!("creating the runtime directory {}", dir.display()))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
        let previous = read(path);
        if let Some(p) = &previous {
            // (In another namespace too: its control socket is the same path.)
            if alive(p.pid) {
                bail!(
                    "instance {name:?} is already running (pid {}{}, state file {}); give this one another `name` or `control_socket`",
                    p.pid,
                    if p.netns == netns { "" } else { " in another network namespace" },
                    path.display()
                );
            }
        }
        // A dead run in another namespace (e.g. deleted) left nothing here.
        let stale = previous.filter(|p| p.netns == netns);
        if let Some(s) = &stale {
            warn!(
                pid = s.pid,
                "instance {name:?}: the previous run did not stop cleanly (state file {}); removing its rules, routes and nftables table",
                path.display()
            );
        }
        let siblings = live_siblings(dir, path, netns);
        let mut sysctls = BTreeMap::new();
        for key in SYSCTLS {
            let original = stale
                .as_ref()
                .and_then(|s| s.sysctls.get(*key).cloned())
                .or_else(|| siblings.iter().find_map(|s| s.sysctls.get(*key).cloned()))
                .or_else(|| read_sysctl(key));
            if let Some(v) = original {
                sysctls.insert(key.to_string(), v);
            }
        }
        let rec = Recorded { name: name.into(), pid: std::process::id(), netns, ids, nft_table: nft_table.into(), sysctls };
        let claim = Claim { path: path.to_path_buf(), rec, stale };
        claim.write()?;
        Ok(claim)
    }

    fn write(&self) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.rec)?;
        let tmp = self.path.with_extension("state.tmp");
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .with_context(|| format!("creating the state file {}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &self.path).with_context(|| format!("writing the state file {}", self.path.display()))?;
        Ok(())
    }

    /// Clean stop: restores the recorded sysctls (unless another live
    /// instance in this namespace still needs them changed) and removes
    /// the state file.
    fn release(&self) {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let siblings = live_siblings(dir, &self.path, self.rec.netns);
        for (key, value) in &self.rec.sysctls {
            if let Some(s) = siblings.iter().find(|s| s.sysctls.contains_key(key)) {
                info!("leaving {key} for instance {:?} (pid {}), which still runs", s.name, s.pid);
                continue;
            }
            if read_sysctl(key).as_deref() == Some(value.as_str()) {
                continue;
            }
            match fs::write(format!("/proc/sys/{key}"), value) {
                Ok(()) => info!("restored {} = {value}", key.replace('/', ".")),
                Err(e) => warn!("restoring {key} = {value}: {e}"),
            }
        }
        if let Err(e) = fs::remove_file(&self.path) {
            warn!("removing the state file {}: {e}", self.path.display());
        }
    }
}

/// `esprit cleanup`: removes what a dead run of instance `name` left
/// (rules, routes, nftables table; the ids of its state file, or `ids`
/// without one) and restores the sysctls it recorded, without starting
/// the daemon. Refused while the instance runs. Returns what it did.
pub fn clean_up(path: &Path, name: &str, ids: Ids, nft_table: &str) -> Result<String> {
    let netns = netns_of("self").context("reading /proc/self/ns/net")?;
    let rec = read(path);
    if let Some(r) = &rec {
        if alive(r.pid) {
            bail!("instance {name:?} is running (pid {}); stop it instead (SIGTERM)", r.pid);
        }
    }
    let rec = rec.filter(|r| r.netns == netns);
    let (ids, nft) = rec.as_ref().map(|r| (r.ids, r.nft_table.clone())).unwrap_or((ids, nft_table.to_string()));
    let removed = crate::tun_stale::remove_stale(ids, &nft);
    let mut done = format!("instance {name:?}: removed {removed} rule(s)/table(s) (routing table {}, nftables table {nft})", ids.table);
    if let Some(r) = rec {
        // Restores the sysctls (unless a sibling still runs) and removes the file.
        let claim = Claim { path: path.to_path_buf(), rec: r, stale: None };
        done.push_str(&format!("; restored {} from {}", claim.rec.sysctls.keys().map(|k| k.replace('/', ".")).collect::<Vec<_>>().join(", "), path.display()));
        drop(claim);
    }
    Ok(done)
}

/// Dropped on a clean stop or a failed start (after the plumbing is gone).
impl Drop for Claim {
    fn drop(&mut self) {
        self.release();
    }
}
