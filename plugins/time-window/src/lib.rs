//! `time-window`: protect only inside configured hours (uses the host clock).
//!
//! Config: `start` and `end` as `HH:MM` (the window may wrap midnight),
//! `utc_offset_minutes` (default 0), `inside` (default `protect`) and
//! `outside` (default `bypass`) verdicts. Decisions are cached until the next
//! window boundary, so the SPD asks again when the window opens or closes.
use std::sync::OnceLock;

use esprit_plugin_sdk::{export_policy, host, parse_verdict, Decision, Flow, Policy, Verdict};

const DAY_MS: u64 = 86_400_000;

struct Cfg {
    start_ms: u64,
    end_ms: u64,
    offset_ms: i64,
    inside: Verdict,
    outside: Verdict,
}

static CFG: OnceLock<Cfg> = OnceLock::new();

fn hhmm(key: &str) -> Result<u64, String> {
    let v = host::config_get(key).ok_or_else(|| format!("missing `{key}` (HH:MM)"))?;
    let (h, m) = v.trim().split_once(':').ok_or_else(|| format!("`{key}`: want HH:MM, got {v:?}"))?;
    let h: u64 = h.parse().ok().filter(|h| *h < 24).ok_or_else(|| format!("`{key}`: bad hour in {v:?}"))?;
    let m: u64 = m.parse().ok().filter(|m| *m < 60).ok_or_else(|| format!("`{key}`: bad minute in {v:?}"))?;
    Ok((h * 60 + m) * 60_000)
}

/// Whether `t` (ms into the local day) is inside [start, end), and the ms
/// until the next boundary.
fn position(c: &Cfg, t: u64) -> (bool, u64) {
    let until = |b: u64| (b + DAY_MS - t) % DAY_MS;
    let inside = if c.start_ms <= c.end_ms { t >= c.start_ms && t < c.end_ms } else { t >= c.start_ms || t < c.end_ms };
    let next = if inside { until(c.end_ms) } else { until(c.start_ms) };
    (inside, next.max(1))
}

struct TimeWindow;

impl Policy for TimeWindow {
    fn init() -> Result<(), String> {
        let offset_min: i64 = host::config_parse("utc_offset_minutes")?.unwrap_or(0);
        if offset_min.abs() > 24 * 60 {
            return Err("utc_offset_minutes out of range".into());
        }
        let v = |k: &str, d: &str| parse_verdict(&host::config_get(k).unwrap_or_else(|| d.to_string()));
        let _ = CFG.set(Cfg {
            start_ms: hhmm("start")?,
            end_ms: hhmm("end")?,
            offset_ms: offset_min * 60_000,
            inside: v("inside", "protect")?,
            outside: v("outside", "bypass")?,
        });
        Ok(())
    }

    fn decide(_flow: &Flow) -> Decision {
        let Some(c) = CFG.get() else {
            return Decision::new(Verdict::Discard, "time-window: not initialised");
        };
        let now = host::now_unix_ms() as i64 + c.offset_ms;
        let t = now.rem_euclid(DAY_MS as i64) as u64;
        let (inside, next) = position(c, t);
        let (h, m) = (t / 3_600_000, (t / 60_000) % 60);
        let (v, what) = if inside { (c.inside.clone(), "inside") } else { (c.outside.clone(), "outside") };
        Decision::new(v, format!("time-window: {h:02}:{m:02} local is {what} the window; next change in {} s", next / 1000)).ttl_ms(next)
    }
}

export_policy!(TimeWindow);
