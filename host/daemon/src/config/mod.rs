//! The daemon's configuration file (TOML). See `examples/*.toml` and the
//! README for a walk-through. Unknown keys are errors, so a typo never turns
//! into a silently ignored setting; every error names `FILE:LINE:COL` and
//! what was expected (the valid keys of the section, the valid values of a
//! setting such as `mode` or `start`). Durations take `"30s"`, `"1h 30m"` or
//! seconds (see [`duration`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

pub mod duration;
pub mod env;
mod ike;
pub mod tcp_buffer;
pub mod workers;
pub use ike::{ConnMode, ConnProtocol, ConnSection, IkeSection, Oe, Start};

/// How inner (application) packets enter and leave esprit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A TUN device (root or CAP_NET_ADMIN): full L3, like kernel IPsec.
    Tun,
    /// A smoltcp userspace stack: rootless port forwards, exposes and SOCKS5.
    Netstack,
}

/// How protected packets travel between the peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OuterTransport {
    /// ESP inside UDP (RFC 3948), unprivileged, NAT friendly. AH is not possible.
    #[default]
    Udp,
    /// Raw IP protocols 50 (ESP) and 51 (AH); needs root / CAP_NET_RAW.
    Raw,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub mode: Mode,
    /// Crypto backend: "aws-lc" (default, fastest) or "rustcrypto".
    #[serde(default)]
    pub crypto: Option<CryptoBackend>,
    /// Unix control socket for `esprit status` (default /run/esprit/<name>.sock
    /// as root, $XDG_RUNTIME_DIR or /tmp otherwise).
    #[serde(default)]
    pub control_socket: Option<PathBuf>,
    /// A name for this instance (logs, default socket path).
    #[serde(default = "default_name")]
    pub name: String,
    #[serde(default)]
    pub outer: Outer,
    #[serde(default)]
    pub tun: Option<TunSection>,
    #[serde(default)]
    pub netstack: Option<NetstackSection>,
    #[serde(default)]
    pub ipsec: IpsecSection,
    /// Wasm policy plugins, each described by a plugin spec file (hot reloaded).
    #[serde(default)]
    pub plugin: Vec<PluginSection>,
    /// SPD entries decided by a plugin (added beside the setkey policies).
    #[serde(default)]
    pub policy: Vec<PolicySection>,
    /// IKEv2 endpoint settings.
    #[serde(default)]
    pub ike: Option<IkeSection>,
    /// IKEv2 connections (peers).
    #[serde(default)]
    pub conn: Vec<ConnSection>,
    /// Where the file was read from (relative paths resolve against its folder).
    #[serde(skip)]
    pub path: PathBuf,
    /// Serve Prometheus metrics on `GET /metrics` at this address (plain
    /// HTTP, no authentication: keep it on loopback or a private network).
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// A group (name or gid) whose members may use the control socket too
    /// (mode 0660 instead of 0600).
    #[serde(default)]
    pub control_socket_group: Option<String>,
}

/// `crypto`: which implementation of the algorithms the data plane uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CryptoBackend {
    #[serde(rename = "aws-lc")]
    AwsLc,
    Rustcrypto,
}

impl CryptoBackend {
    /// The name `esprit_crypto::provider_by_name` takes.
    pub fn name(self) -> &'static str {
        match self {
            CryptoBackend::AwsLc => "aws-lc",
            CryptoBackend::Rustcrypto => "rustcrypto",
        }
    }
}

fn default_name() -> String {
    "esprit".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outer {
    #[serde(default)]
    pub transport: OuterTransport,
    /// UDP address to listen on for ESP-in-UDP (default 0.0.0.0:4500).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The peer's UDP port for ESP-in-UDP (default 4500).
    #[serde(default = "default_port")]
    pub peer_port: u16,
    /// Per-peer UDP ports, e.g. `{ "127.0.0.1" = 45002 }`.
    #[serde(default)]
    pub peer_ports: BTreeMap<IpAddr, u16>,
    /// fwmark on outer sockets so outer packets never loop into the TUN
    /// (default: derived from the instance name, see `crate::instance`).
    #[serde(default)]
    pub fwmark: Option<u32>,
}

impl Default for Outer {
    fn default() -> Self {
        Outer {
            transport: OuterTransport::Udp,
            listen: default_listen(),
            peer_port: default_port(),
            peer_ports: BTreeMap::new(),
            fwmark: None,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 4500))
}
fn default_port() -> u16 {
    4500
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunSection {
    /// Device name (default "esprit0").
    #[serde(default = "default_tun_name")]
    pub name: String,
    /// Addresses with prefix, e.g. ["10.1.0.1/32"]. Optional in transport mode.
    #[serde(default)]
    pub address: Vec<String>,
    /// MTU; default: 1500 minus the worst-case ESP/AH overhead.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// Extra prefixes to route into the TUN (the `out` policies' destinations are added automatically).
    #[serde(default)]
    pub routes: Vec<String>,
    /// Preferred source address for routes into the TUN (transport mode: the real address).
    #[serde(default)]
    pub source: Option<IpAddr>,
    /// Policy-routing table for the protected prefixes (default: derived
    /// from the instance name, see `crate::instance`).
    #[serde(default)]
    pub table: Option<u32>,
    /// Priority of the policy-routing rule (default: derived from the
    /// instance name, see `crate::instance`).
    #[serde(default)]
    pub priority: Option<u32>,
    /// TUN offloads (`IFF_VNET_HDR`, TSO/USO, checksums): one read carries up
    /// to 64 KiB of TCP, cut into packets in esprit (default true; plain
    /// packets if the kernel refuses).
    #[serde(default = "default_true")]
    pub offload: bool,
    /// Packet threads: 1 (both directions), 2 (one per direction) or
    /// "auto" (the default: 2 from 2 cores up), see [`workers`].
    #[serde(default)]
    pub workers: workers::TunWorkers,
    /// Pin each packet worker to a core of its own (with 2 workers and at
    /// least 2 allowed cores; default false).
    #[serde(default)]
    pub pin_workers: bool,
}

fn default_true() -> bool {
    true
}

fn default_tun_name() -> String {
    "esprit0".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetstackSection {
    /// The inner addresses smoltcp owns, e.g. ["10.1.0.1/32"].
    pub address: Vec<String>,
    #[serde(default)]
    pub mtu: Option<u32>,
    /// SOCKS5 listener, e.g. "127.0.0.1:1080".
    #[serde(default)]
    pub socks5: Option<SocketAddr>,
    #[serde(default)]
    pub forward: Vec<ForwardSection>,
    #[serde(default)]
    pub expose: Vec<ExposeSection>,
    /// Concurrent TCP connections (default 1024); beyond it local
    /// connections and inner SYNs get an RST (counted as `tcp_limited`,
    /// `esprit_netstack_events_total{event="tcp_limited"}`).
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Bytes in each of the two smoltcp buffers of one TCP connection
    /// (default 64 KiB; see [`tcp_buffer`]).
    #[serde(default, deserialize_with = "tcp_buffer::deserialize")]
    pub tcp_buffer: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum L4 {
    #[default]
    Tcp,
    Udp,
}

/// A local listener whose connections are carried to a remote inner address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardSection {
    #[serde(default)]
    pub proto: L4,
    pub listen: SocketAddr,
    pub to: SocketAddr,
}

/// A local service that peers reach on the inner address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExposeSection {
    #[serde(default)]
    pub proto: L4,
    /// Port on the inner address.
    pub port: u16,
    /// Local service, e.g. "127.0.0.1:8000".
    pub to: SocketAddr,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpsecSection {
    /// setkey.conf files (SAs and policies), relative to this config file.
    #[serde(default)]
    pub setkey_files: Vec<PathBuf>,
    /// Inline setkey.conf text, applied after the files.
    #[serde(default)]
    pub setkey: Option<String>,
    /// Anti-replay window for SAs that do not set one (default 4096).
    #[serde(default)]
    pub replay_window: Option<u32>,
}

/// `[[plugin]] spec = "allowlist.toml"`: the spec names the plugin, its
/// `.wasm`, limits and its own `[config]`; esprit watches both files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSection {
    pub spec: PathBuf,
}

/// `[[policy]]`: an SPD entry whose verdict comes from a policy plugin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// Source and destination prefixes, e.g. "10.1.0.0/16" (default: any IPv4).
    #[serde(default)]
    pub src: Option<String>,
    #[serde(default)]
    pub dst: Option<String>,
    /// "tcp", "udp", "icmp", "icmp6", "any" or a number (default any).
    #[serde(default)]
    pub proto: Option<String>,
    #[serde(default)]
    pub dir: PolicyDir,
    /// Lower wins (Linux semantics; setkey's default is 2147483648).
    #[serde(default)]
    pub priority: Option<u32>,
    /// Name of the plugin that decides.
    pub plugin: String,
}

/// `[[policy]] dir`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyDir {
    #[default]
    Out,
    In,
    Fwd,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(path, &text)
    }

    /// Parses `text` (read from `path`) after `${ENV}` substitution (see [`env`]).
    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        let text = &env::substitute(path, text, |n| std::env::var(n).ok())?;
        let mut cfg: Config = toml::from_str(text).map_err(|e| anyhow::anyhow!(esprit_plugin::toml_error::describe(path, text, &e)))?;
        for i in 0..cfg.conn.len() {
            let at = esprit_plugin::toml_error::at(path, text, Some(cfg.conn[i].name.span().start));
            if let Some(first) = cfg.conn[..i].iter().find(|c| c.name.get_ref() == cfg.conn[i].name.get_ref()) {
                bail!("{at}: [[conn]] {}: a second connection with this name (the first is at {})", cfg.conn[i].name.get_ref(), first.at);
            }
            cfg.conn[i].at = at;
        }
        cfg.path = path.to_path_buf();
        match cfg.mode {
            Mode::Netstack if cfg.netstack.is_none() => {
                anyhow::bail!("{}: mode = \"netstack\" needs a [netstack] section with `address`", path.display())
            }
            Mode::Netstack if cfg.outer.transport == OuterTransport::Raw => anyhow::bail!(
                "{}: netstack mode runs unprivileged and needs outer.transport = \"udp\"",
                path.display()
            ),
            _ => {}
        }
        Ok(cfg)
    }

    /// A path from the config, resolved against the config file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(p)
        }
    }

    pub fn peer_port(&self, peer: IpAddr) -> u16 {
        self.outer.peer_ports.get(&peer).copied().unwrap_or(self.outer.peer_port)
    }
}

/// An address with an optional prefix length (`10.1.0.1/32`, `2001:db8::1`).
pub fn parse_prefix(s: &str) -> Result<(IpAddr, u8)> {
    let (a, l) = s.split_once('/').unwrap_or((s, ""));
    let addr: IpAddr = a.parse().with_context(|| format!("`{s}`: expected an address like 10.1.0.1/32"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = if l.is_empty() { max } else { l.parse().with_context(|| format!("`{s}`: bad prefix length"))? };
    if len > max {
        bail!("`{s}`: prefix length {len} is longer than {max}");
    }
    Ok((addr, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_netstack_config() {
        let c = Config::parse(
            Path::new("a.toml"),
            r#"
mode = "netstack"
[outer]
listen = "127.0.0.1:45001"
peer_port = 45002
[netstack]
address = ["10.1.0.1/32"]
[[netstack.forward]]
listen = "127.0.0.1:8080"
to = "10.2.0.1:80"
[ipsec]
setkey_files = ["keys.conf"]
"#,
        )
        .unwrap();
        assert_eq!(c.mode, Mode::Netstack);
        assert_eq!(c.peer_port("127.0.0.1".parse().unwrap()), 45002);
        assert_eq!(c.resolve(Path::new("keys.conf")), PathBuf::from("keys.conf"));
        assert_eq!(c.netstack.unwrap().forward[0].proto, L4::Tcp);
    }

    #[test]
    fn unknown_key_names_file_line_col() {
        let e = Config::parse(Path::new("/etc/esprit.toml"), "mode = \"tun\"\n[outer]\nlisten_port = 4500\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/esprit.toml:3:1: unknown field `listen_port`"), "{e}");
    }

    #[test]
    fn netstack_needs_its_section_and_udp() {
        let e = Config::parse(Path::new("x.toml"), "mode = \"netstack\"\n").unwrap_err().to_string();
        assert!(e.contains("needs a [netstack] section"), "{e}");
        let e = Config::parse(
            Path::new("x.toml"),
            "mode = \"netstack\"\n[outer]\ntransport = \"raw\"\n[netstack]\naddress = [\"10.0.0.1/32\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unprivileged"), "{e}");
    }

    const CONN: &str = "[[conn]]\nname = \"b\"\nremote = \"192.0.2.2\"\nauth = \"psk\"\n";

    #[test]
    fn a_second_conn_of_a_name_is_named_at_its_own_line() {
        let t = format!("mode = \"tun\"\n{CONN}{CONN}");
        let e = Config::parse(Path::new("x.toml"), &t).unwrap_err().to_string();
        assert_eq!(e, "x.toml:7:8: [[conn]] b: a second connection with this name (the first is at x.toml:3:8)");
    }

    #[test]
    fn conn_settings_are_typed() {
        let t = format!("mode = \"tun\"\n[ike]\nkeepalive = 15\nhalf_open_timeout = \"1m 30s\"\n{CONN}start = \"route\"\noe = \"private-or-clear\"\nrekey = \"1h 30m\"\ndpd = \"30\"\nmode = \"transport\"\n");
        let c = Config::parse(Path::new("x.toml"), &t).unwrap();
        let ike = c.ike.unwrap();
        assert_eq!(ike.keepalive, Some(std::time::Duration::from_secs(15)));
        assert_eq!(ike.half_open_timeout, Some(std::time::Duration::from_secs(90)));
        let conn = &c.conn[0];
        assert_eq!((conn.start, conn.oe, conn.mode, conn.protocol), (Start::Trap, Some(Oe::PrivateOrClear), ConnMode::Transport, ConnProtocol::Esp));
        assert_eq!(conn.rekey, Some(std::time::Duration::from_secs(5400)));
        assert_eq!(conn.dpd, Some(std::time::Duration::from_secs(30)));
        assert_eq!(conn.at, "x.toml:6:8");
        let e = Config::parse(Path::new("x.toml"), &format!("mode = \"tun\"\n{CONN}start = \"sometimes\"\n")).unwrap_err().to_string();
        assert!(e.starts_with("x.toml:6:9: unknown variant `sometimes`, expected one of `start`, `route`, `trap`, `add`, `none`"), "{e}");
        let e = Config::parse(Path::new("x.toml"), &format!("mode = \"tun\"\n{CONN}dpd = \"5 parsecs\"\n")).unwrap_err().to_string();
        assert!(e.starts_with("x.toml:6:7: duration \"5 parsecs\": unknown time unit"), "{e}");
    }

    #[test]
    fn unknown_keys_list_the_valid_ones() {
        let e = Config::parse(Path::new("x.toml"), "mode = \"tun\"\ncrypto = \"openssl\"\n").unwrap_err().to_string();
        assert_eq!(e, "x.toml:2:10: unknown variant `openssl`, expected `aws-lc` or `rustcrypto`");
        let e = Config::parse(Path::new("x.toml"), "mode = \"tun\"\n[tun]\nmtu = 1400\nmut = 1\n").unwrap_err().to_string();
        assert!(e.starts_with("x.toml:4:1: unknown field `mut`, expected one of `name`, `address`, `mtu`"), "{e}");
    }

    #[test]
    fn bad_mode_value() {
        let e = Config::parse(Path::new("x.toml"), "mode = \"kernel\"\n").unwrap_err().to_string();
        assert!(e.starts_with("x.toml:1:8:"), "{e}");
    }
}


#[cfg(test)]
mod secret_echo {
    #[test]
    fn a_mistyped_string_value_is_not_echoed() {
        let t = "mode = \"netstack\"\n[ipsec]\nreplay_window = \"0xSECRETKEY\"\n";
        let e = super::Config::parse(std::path::Path::new("x.toml"), t).unwrap_err().to_string();
        assert_eq!(e, "x.toml:3:17: invalid type: a string (value not shown), expected u32");
    }
}
