//! `esprit import racoon` in memory (`esprit::import::import_str`): the input
//! is racoon.conf text, a NUL, setkey.conf text, and optionally a NUL and
//! the `--local` address. Whatever TOML the
//! importer writes must be a config the daemon parses.
//! Inputs naming special files (devices, /proc) are skipped: the importer
//! reads the certificates and psk.txt that racoon.conf names.
use std::path::Path;

use esprit::config::Config;

pub fn run(data: &[u8]) {
    let Some(text) = crate::text(data) else { return };
    if crate::names_special_file(text) {
        return;
    }
    let mut parts = text.splitn(3, '\0');
    let racoon = parts.next().unwrap_or("");
    let setkey = parts.next().unwrap_or("");
    let local = parts.next().and_then(|a| a.trim().parse().ok());
    let dir = Path::new("/nonexistent/esprit-fuzz/racoon");
    let Ok((toml, _warnings)) = esprit::import::import_str(racoon, setkey, local, dir) else { return };
    if let Err(e) = Config::parse(Path::new(crate::config::PATH), &toml) {
        panic!("the importer wrote a config the daemon refuses: {e:#}\n{toml}");
    }
}
