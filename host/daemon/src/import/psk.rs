//! racoon's pre-shared key file (`path pre_shared_key`, usually
//! /etc/racoon/psk.txt): one `IDENTIFIER KEY` per line, `#` comments. The
//! identifier is an address, FQDN or user@FQDN; the key is text (the rest of
//! the line) or `0x` followed by hex digits.

use std::net::IpAddr;
use std::path::Path;

use zeroize::Zeroizing;

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PskEntry {
    pub id: String,
    pub key: Zeroizing<String>,
    pub line: u32,
}

/// Reads the file; the error is a sentence for a warning.
pub fn read(path: &Path) -> Result<Vec<PskEntry>, String> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?);
    Ok(parse(&text))
}

/// Parses psk.txt text.
pub fn parse(text: &str) -> Vec<PskEntry> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((id, key)) = line.split_once(char::is_whitespace) else { continue };
        out.push(PskEntry { id: id.to_string(), key: Zeroizing::new(key.trim().to_string()), line: n as u32 + 1 });
    }
    out
}

/// The key racoon would use for `peer`: its address entry, else `*`.
pub fn lookup(entries: &[PskEntry], peer: IpAddr) -> Option<&PskEntry> {
    entries
        .iter()
        .find(|e| e.id.parse::<IpAddr>().is_ok_and(|a| a == peer))
        .or_else(|| entries.iter().find(|e| e.id == "*"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_then_wildcard() {
        let e = parse("# keys\n10.1.2.3  simple secret here\n*\t0xdeadbeef\n");
        assert_eq!(lookup(&e, "10.1.2.3".parse().unwrap()).map(|e| e.key.as_str()), Some("simple secret here"));
        assert_eq!(lookup(&e, "10.9.9.9".parse().unwrap()).map(|e| e.line), Some(3));
    }
}
