//! TOML errors as `FILE:LINE:COL: message`, for the daemon's esprit.toml
//! and plugin spec files alike. toml's own `Display` quotes the offending
//! line, and serde's type errors quote the value (`invalid type: string
//! "…"`); either may be a key (an inline setkey, a PSK), so neither is
//! shown: the position and serde's message (which names the expected type,
//! the valid keys of a section or the valid values of an enum) are.
use std::path::Path;

/// `FILE:LINE:COL: message` for an error of parsing `text` read from `path`
/// (`FILE: message` when toml gives no position).
pub fn describe(path: &Path, text: &str, e: &toml::de::Error) -> String {
    format!("{}: {}", at(path, text, e.span().map(|s| s.start)), redact_strings(e.message().trim_end()))
}

/// `FILE:LINE:COL` of a byte offset in `text` (`FILE` without one).
pub fn at(path: &Path, text: &str, offset: Option<usize>) -> String {
    match offset {
        Some(o) => {
            let (l, c) = line_col(text, o);
            format!("{}:{l}:{c}", path.display())
        }
        None => path.display().to_string(),
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|i| offset - i).unwrap_or(offset + 1);
    (line, col)
}

/// serde's type errors quote the value (`invalid type: string "…"`), which
/// may be a key (an inline setkey, a PSK): the value is left out.
pub fn redact_strings(msg: &str) -> String {
    let mut out = String::new();
    let mut rest = msg;
    while let Some(i) = rest.find("string \"") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "string \"".len()..];
        // The closing quote: the first one not escaped by a backslash.
        let mut escaped = false;
        let end = after.char_indices().find(|&(_, c)| {
            let close = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            close
        });
        out.push_str("a string (value not shown)");
        rest = end.map(|(j, _)| &after[j + 1..]).unwrap_or("");
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        assert_eq!(line_col("a\nbc\n", 0), (1, 1));
        assert_eq!(line_col("a\nbc\n", 3), (2, 2));
        assert_eq!(line_col("a", 99), (1, 2));
    }

    #[test]
    fn quoted_strings_are_left_out() {
        assert_eq!(redact_strings(r#"invalid type: string "a\"SECRET", expected u32"#), "invalid type: a string (value not shown), expected u32");
    }

    #[test]
    fn a_syntax_error_does_not_echo_the_line() {
        let text = "a = 1\npsk = \"TOPSECRET\n";
        let e = text.parse::<toml::Table>().unwrap_err();
        let d = describe(Path::new("p.toml"), text, &e);
        assert!(d.starts_with("p.toml:2:"), "{d}");
        assert!(!d.contains("TOPSECRET"), "{d}");
    }
}
