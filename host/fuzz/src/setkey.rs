//! setkey.conf text → `esprit_sadb::setkey::parse_str_with_warnings` →
//! `Sadb::from_setkey` with real ESP/AH engine state (`to_sa_config` and
//! `Sa::new`), then a few SPD lookups and explanations.
use std::net::IpAddr;
use std::time::Instant;

use esprit_crypto::default_provider;
use esprit_esp::Sa;
use esprit_sadb::decider::{Direction, Flow};
use esprit_sadb::setkey::parse_str_with_warnings;
use esprit_sadb::Sadb;

fn flows() -> Vec<Flow> {
    let f = |s: &str, d: &str, proto, dir| Flow {
        src: s.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0])),
        dst: d.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0])),
        proto,
        src_port: 40000,
        dst_port: 443,
        dir,
        iface: None,
    };
    vec![
        f("10.1.0.1", "10.2.0.1", 6, Direction::Out),
        f("192.168.0.1", "10.1.2.3", 17, Direction::In),
        f("2001:db8::1", "2001:db8::2", 58, Direction::Fwd),
    ]
}

pub fn run(data: &[u8]) {
    let Some(text) = crate::text(data) else { return };
    let Ok((statements, _warnings)) = parse_str_with_warnings("fuzz.setkey.conf", text) else { return };
    let now = Instant::now();
    let built = Sadb::from_setkey(&statements, now, |spec| {
        let cfg = spec.to_sa_config().map_err(|e| e.to_string())?;
        Sa::new(cfg, default_provider()).map_err(|e| e.to_string())
    });
    // The same statements without engine state must be accepted whenever
    // the engine accepted them.
    let plain = Sadb::from_setkey(&statements, now, |_| Ok::<(), std::convert::Infallible>(()));
    if built.is_ok() {
        assert!(plain.is_ok(), "a Sadb with engines built but not without");
    }
    if let Ok(mut db) = plain {
        for f in flows() {
            let _ = db.spd_mut().lookup(&f, now);
            let _ = db.spd_mut().explain(&f).to_string();
        }
    }
}
