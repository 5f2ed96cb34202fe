//! A plugin answering a 1 MiB explanation for every flow: 1,000 new flows
//! cached by the SPD keep the resident set flat (the explanation is capped at
//! the plugin boundary; uncapped this was +1.1 MiB per flow). Alone in its
//! test binary so no other test's allocations blur the measurement.
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{engine, flow, spec};
use esprit_plugin::bounds::MAX_EXPLANATION;
use esprit_plugin::PolicyPlugin;
use esprit_sadb::decider::{Direction, PolicyDecider};
use esprit_sadb::selector::{IpPrefix, Selector};
use esprit_sadb::spd::{Action, NewPolicy};
use esprit_sadb::Spd;

/// Resident set size of this process in bytes (Linux `/proc/self/statm`).
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[test]
fn rss_stays_flat_over_a_thousand_flows_with_one_mib_explanations() {
    let mut s = spec("bigx-rss", "hostile-bad-output").with_config("mode", "big-explanation");
    s.settings.deadline = Duration::from_secs(10);
    let p = Arc::new(PolicyPlugin::load(&engine(), s).expect("load"));
    let mut spd = Spd::new();
    spd.set_decider(p.clone());
    let any = IpPrefix::new([0, 0, 0, 0].into(), 0).expect("prefix");
    spd.insert(NewPolicy {
        selector: Selector { src: any, dst: any, proto: None, src_port: None, dst_port: None },
        dir: Direction::Out,
        priority: 0,
        action: Action::Delegate(p.name().to_string()),
    });
    let now = Instant::now();
    let decide = |spd: &mut Spd, i: u32| {
        let f = flow(&format!("tcp 10.{}.{}.1:{} -> 10.0.0.2:443", i / 60000 % 250, i / 250 % 240, 1024 + i % 60000));
        let l = spd.lookup(&f, now);
        assert!(l.explanation.len() <= MAX_EXPLANATION + 48 + 128, "{} bytes kept for one flow", l.explanation.len());
    };
    // Warm up: the plugin's linear memory and the allocator reach their size.
    for i in 0..50 {
        decide(&mut spd, i);
    }
    let Some(before) = rss() else {
        eprintln!("SKIPPED: no /proc/self/statm; the stored sizes were checked");
        return;
    };
    for i in 50..1050 {
        decide(&mut spd, i);
    }
    let after = rss().unwrap_or(before);
    assert_eq!(spd.cached_flows(), 1050);
    let grown = after.saturating_sub(before);
    println!("RSS {} KiB -> {} KiB over 1,000 flows (+{} KiB)", before / 1024, after / 1024, grown / 1024);
    // Uncapped this grew by ~1.1 GiB; the cached decisions now take a few
    // hundred bytes each.
    assert!(grown < 32 << 20, "RSS grew by {} KiB over 1,000 flows", grown / 1024);
}
