//! Bounds on the text a plugin hands back (explanations, log lines, `init`
//! error messages): a length cap with a visible truncation marker, and
//! control characters escaped so a plugin cannot forge log lines (embedded
//! newlines) or drive a terminal (ESC sequences) through `esprit policy test`.
//!
//! Every string that crosses the WIT boundary from a plugin goes through
//! [`sanitize`] before the host keeps or prints it.
use std::fmt::Write as _;

/// Most bytes of a plugin's explanation the host keeps (per cached flow).
pub const MAX_EXPLANATION: usize = 256;
/// Most bytes of one plugin log line.
pub const MAX_LOG_LINE: usize = 1024;
/// Most bytes of an error message a plugin returns (e.g. from `init`).
pub const MAX_ERROR: usize = 1024;

/// `s` with control characters escaped, cut to at most `max` bytes of
/// escaped text; when cut, a marker saying how many input bytes were
/// dropped is appended (so the result is at most `max` + 48 bytes).
pub fn sanitize(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 8);
    for (i, c) in s.char_indices() {
        let before = out.len();
        push_escaped(&mut out, c);
        if out.len() > max {
            out.truncate(before);
            let _ = write!(out, "…[truncated {} bytes]", s.len() - i);
            return out;
        }
    }
    out
}

/// [`sanitize`] for an owned string: returned as it is (no copy) when it is
/// short enough and has nothing to escape, the common case on the decision
/// path.
pub fn sanitize_owned(s: String, max: usize) -> String {
    // Printable ASCII without a backslash (the usual explanation) is
    // checked byte by byte; anything else char by char.
    let plain_ascii = || s.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'\\');
    if s.len() <= max && (plain_ascii() || !s.chars().any(|c| c == '\\' || c.is_control() || is_dangerous_format(c))) {
        s
    } else {
        sanitize(&s, max)
    }
}

/// Escapes control characters (C0, DEL, C1) and the Unicode line and
/// paragraph separators / bidi overrides a terminal or log viewer could act
/// on; everything else is kept as is.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\\' => out.push_str("\\\\"),
        c if c.is_control() || is_dangerous_format(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// Line/paragraph separators and bidirectional overrides/isolates.
fn is_dangerous_format(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with only its control characters escaped (no cap, backslashes kept):
/// for printing text that was sanitized before, defensively, without
/// escaping it twice.
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if is_inert(s) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '\\' => out.push('\\'),
            c => push_escaped(&mut out, c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Whether `s` would print as one line with no terminal control sequence
/// (what [`sanitize`] guarantees).
pub fn is_inert(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() || is_dangerous_format(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_owned_equals_sanitize() {
        for s in ["plain", "", "a\\b", "line\nbreak", "\u{1b}[2J", "é".repeat(200).as_str(), "x".repeat(300).as_str(), "\u{202e}rtl"] {
            assert_eq!(sanitize_owned(s.to_string(), MAX_EXPLANATION), sanitize(s, MAX_EXPLANATION), "{s:?}");
        }
    }

    #[test]
    fn short_text_is_kept() {
        assert_eq!(sanitize("allowlist: 10.0.0.0/8", 256), "allowlist: 10.0.0.0/8");
    }

    #[test]
    fn control_characters_are_escaped() {
        let s = sanitize("a\nb\x1b[31mred\r\u{7}\u{9b}x\u{202e}y\\", 256);
        assert_eq!(s, "a\\nb\\u{1b}[31mred\\r\\u{7}\\u{9b}x\\u{202e}y\\\\");
        assert!(is_inert(&s));
        assert!(!is_inert("a\nb"));
    }

    #[test]
    fn long_text_is_cut_with_a_marker_on_a_char_boundary() {
        let big = "é".repeat(1 << 20);
        let s = sanitize(&big, 256);
        assert!(s.len() <= 256 + 48, "{}", s.len());
        assert!(s.ends_with("bytes]") && s.contains("…[truncated "), "{s}");
        let newlines = "\n".repeat(1 << 20);
        let s = sanitize(&newlines, 256);
        assert!(s.len() <= 256 + 48 && is_inert(&s), "{}", s.len());
    }

    #[test]
    fn escape_controls_keeps_backslashes_and_plain_text() {
        assert!(matches!(escape_controls("a\\nb"), std::borrow::Cow::Borrowed("a\\nb")));
        assert_eq!(escape_controls("a\nb\x1b[2J"), "a\\nb\\u{1b}[2J");
    }

    #[test]
    fn exactly_at_the_cap_is_not_marked() {
        let s = "x".repeat(256);
        assert_eq!(sanitize(&s, 256), s);
        assert!(sanitize(&"x".repeat(257), 256).contains("truncated 1 bytes"));
    }
}
