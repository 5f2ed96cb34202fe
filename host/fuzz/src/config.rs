//! Daemon config text (TOML) → `esprit::config::Config::parse`, then every
//! `[[conn]]` translated as the daemon does at start (`ike::conf::conns`).
//! The path is never read (it only names the file in errors).
use std::path::Path;

use esprit::config::Config;

/// The file name errors carry; it does not exist, so nothing is read.
pub const PATH: &str = "/nonexistent/esprit-fuzz/esprit.toml";

/// Parses `text` as the daemon would and translates its conns.
pub fn parse(text: &str) {
    let Ok(cfg) = Config::parse(Path::new(PATH), text) else { return };
    if let Ok(conns) = esprit::ike::conf::conns(&cfg) {
        assert_eq!(conns.len(), cfg.conn.len(), "a conn went missing");
    }
    let _ = esprit::ike::conf::max_overhead(&cfg);
    // The inline setkey text as `setkey_files::load_statements` reads it (the
    // `setkey_files` are not opened).
    if let Some(text) = &cfg.ipsec.setkey {
        let _ = esprit_sadb::setkey::parse_str("esprit.toml [ipsec.setkey]", text);
    }
    for c in &cfg.conn {
        if let Some(o) = cfg.outer.peer_ports.keys().next() {
            let _ = cfg.peer_port(*o);
        }
        let _ = cfg.resolve(Path::new(c.name.get_ref()));
    }
}

pub fn run(data: &[u8]) {
    if let Some(text) = crate::text(data) {
        parse(text);
    }
}
