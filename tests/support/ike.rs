//! What the IKE end-to-end tests share: their prerequisites, auth plugin
//! specs, and two namespaces on one link.
use std::path::PathBuf;
use std::time::Duration;

use super::netns::{can_netns, veth, Netns};
use super::{is_root, require, Scratch};

/// The outer addresses of [`link_pair`].
pub const OUT_A: &str = "192.0.2.1";
pub const OUT_B: &str = "192.0.2.2";

/// Whether `cmd` is on the PATH.
pub fn have(cmd: &str) -> bool {
    std::process::Command::new("sh").args(["-c", &format!("command -v {cmd}")]).output().map(|o| o.status.success()).unwrap_or(false)
}

/// Root, namespaces, nftables, ping, python3 and tcpdump (skip with a
/// reason on a developer machine, fail under CI).
pub fn prerequisites() -> bool {
    require(is_root(), "root (network namespaces, TUN, raw sockets)")
        && require(can_netns(), "`ip netns add` (iproute2, root)")
        && require(have("nft"), "nft (Debian package nftables)")
        && require(have("ping"), "ping (Debian package iputils-ping)")
        && require(have("python3"), "python3")
        && require(have("tcpdump"), "tcpdump (Debian package tcpdump)")
}

/// The path of a built auth plugin.
pub fn wasm(name: &str) -> String {
    esprit_plugin::build::plugin_path(name).unwrap_or_else(|e| panic!("auth plugin {name}: {e}")).display().to_string()
}

/// The psk plugin spec with one secret for a.example/b.example.
pub fn psk_spec(dir: &Scratch, psk: &str) -> PathBuf {
    let p = dir.path("psk.plugin.toml");
    let text = format!("name = \"psk\"\npath = {:?}\n[config.secrets.ab]\nid = \"a.example\"\nid-b = \"b.example\"\nsecret = \"{psk}\"\n", wasm("psk-auth"));
    std::fs::write(&p, text).expect("write psk spec");
    p
}

/// The NULL-auth plugin spec (RFC 7619).
pub fn null_spec(dir: &Scratch) -> PathBuf {
    let p = dir.path("null.plugin.toml");
    std::fs::write(&p, format!("name = \"null\"\npath = {:?}\n", wasm("null-auth"))).expect("write null spec");
    p
}

/// Two namespaces on one link: `veth0` with 192.0.2.1/24 and 192.0.2.2/24.
pub fn link_pair(tag: &str) -> (Netns, Netns) {
    let a = Netns::new(&format!("{tag}a"));
    let b = Netns::new(&format!("{tag}b"));
    veth(&a, "veth0", &b, "veth0");
    a.addr("veth0", &format!("{OUT_A}/24"));
    b.addr("veth0", &format!("{OUT_B}/24"));
    a.wait_for(&["ping", "-c1", "-W1", OUT_B], Duration::from_secs(5));
    (a, b)
}
