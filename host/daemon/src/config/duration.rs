//! Durations in esprit.toml (`rekey`, `dpd`, `keepalive`, …): a
//! [`humantime`] string such as `"30s"`, `"500ms"`, `"1h 30m"` or `"2days"`,
//! or a number of seconds (`30` or `"30"`, the form older configs used).
//! `0` is accepted (for most keys it means "off").
//!
//! `humantime-serde` takes strings only; this wraps `humantime` so the
//! bare-seconds forms keep working and the error says what was expected.
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

const EXPECTED: &str = "a duration like \"30s\", \"500ms\", \"1h 30m\" or a number of seconds";

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(secs))
    }

    fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Duration, E> {
        u64::try_from(secs).map(Duration::from_secs).map_err(|_| E::custom(format!("{secs}: a duration cannot be negative")))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
        parse(s).map_err(E::custom)
    }
}

/// Parses a duration as the config takes it (see the module doc).
pub fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    // Durations are not secrets: the text is quoted.
    humantime::parse_duration(t).map_err(|e| format!("duration {t:?}: {e}; expected {EXPECTED}"))
}

/// `#[serde(default, deserialize_with = "duration::opt")]` on an `Option<Duration>`.
pub fn opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    d.deserialize_any(DurationVisitor).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humantime_and_seconds() {
        assert_eq!(parse("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
        let e = parse("5 parsecs").unwrap_err();
        assert!(e.contains("unknown time unit \"parsecs\"") && e.contains("expected a duration like"), "{e}");
        assert!(parse("-1s").is_err());
    }
}
