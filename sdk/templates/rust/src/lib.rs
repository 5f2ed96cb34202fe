//! {{name}}: an esprit policy plugin (WIT `esprit:plugin/policy@0.2.0`).
//!
//! ICMP passes in the clear; TCP/UDP to a port listed in the config key
//! `ports` (comma-separated, default `443`) is protected by ESP in transport
//! mode, one SA per port; everything else is discarded.
//!
//! Build: `cargo build --release --target wasm32-wasip2`, then
//! `esprit plugin check {{name}}.plugin.toml`. The host grants no WASI: no
//! files, sockets, environment or stdout (a panic or a `println!` traps and
//! the flow gets the spec's `on_failure` verdict). Log with `host::log`.
wit_bindgen::generate!({
    path: "wit",
    world: "esprit:plugin/policy@0.2.0",
});

use std::sync::OnceLock;

use esprit::plugin::host::{config_get, log, LogLevel};
use esprit::plugin::types::{IpsecMode, IpsecProto, Level, SaRequest, Verdict};

/// The ports to protect, read once by `init`.
static PORTS: OnceLock<Vec<u16>> = OnceLock::new();

/// `"443, 8443"` → `[443, 8443]`; a bad item is an error naming it.
fn parse_ports(text: &str) -> Result<Vec<u16>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(format!("{{name}}: config `ports`: {s:?} is not a port (1-65535)")),
        })
        .collect()
}

fn decision(verdict: Verdict, explanation: String, sa_key: Option<u64>) -> Decision {
    Decision { verdict, cache_ttl_ms: Some(60_000), explanation, sa_key }
}

struct Plugin;

impl Guest for Plugin {
    /// Read and check the config; an `Err` rejects the plugin (a reload
    /// keeps the running version).
    fn init() -> Result<(), String> {
        let ports = parse_ports(&config_get("ports").unwrap_or_else(|| "443".into()))?;
        log(LogLevel::Info, &format!("{{name}}: protecting ports {ports:?}"));
        // `init` runs once per instance; a second set keeps the first table.
        let _ = PORTS.set(ports);
        Ok(())
    }

    /// One flow: the verdict and, for verdicts that use SAs, the SA key.
    fn decide(flow: Flow) -> Decision {
        let ports = PORTS.get().map(Vec::as_slice).unwrap_or(&[]);
        match flow.proto {
            1 | 58 => decision(Verdict::Bypass, "{{name}}: icmp in the clear".into(), None),
            6 | 17 if ports.contains(&flow.dst_port) => {
                let esp = SaRequest { proto: IpsecProto::Esp, mode: IpsecMode::Transport, tunnel: None, level: Level::Require };
                let why = format!("{{name}}: port {} protected", flow.dst_port);
                decision(Verdict::Protect(vec![esp]), why, Some(u64::from(flow.dst_port)))
            }
            _ => decision(Verdict::Discard, format!("{{name}}: port {} not listed", flow.dst_port), None),
        }
    }
}

export!(Plugin);
