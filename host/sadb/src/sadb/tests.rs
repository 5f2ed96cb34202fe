use std::time::Duration;

use super::*;
use crate::decider::{Direction, IpsecMode, SaRequest};
use crate::enforce::InboundDrop;
use crate::setkey::{parse_str, tests::SEED_FIXED};

/// State stand-in: the SPI (the real engine state is tested below with esprit_esp::Sa).
fn seed() -> Sadb<u32> {
    let st = parse_str("seed.conf", SEED_FIXED).unwrap();
    Sadb::from_setkey(&st, Instant::now(), |s| Ok::<_, String>(s.spi.get())).unwrap()
}

fn flow(src: &str, dst: &str, dir: Direction) -> Flow {
    Flow {
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        proto: 6,
        src_port: 33000,
        dst_port: 80,
        dir,
        iface: None,
    }
}

fn states(db: &Sadb<u32>, sas: &[SaHandle]) -> Vec<u32> {
    sas.iter().map(|h| db.sad().get(*h).unwrap().state).collect()
}

#[test]
fn seed_outbound_is_esp_then_ah() {
    let mut db = seed();
    let now = Instant::now();
    assert_eq!(db.spd().len(), 2);
    assert_eq!(db.sad().len(), 4);
    match db.outbound(&flow("192.168.0.1", "10.1.2.3", Direction::Out), now) {
        Outbound::Protect { sas, .. } => assert_eq!(states(&db, sas.as_slice()), vec![0x1001, 0x1002]),
        o => panic!("{o:?}"),
    }
    // Other traffic is not covered: bypass (no policy).
    assert_eq!(
        db.outbound(&flow("192.168.0.1", "8.8.8.8", Direction::Out), now),
        Outbound::Bypass { policy: None }
    );
    assert_eq!(db.outbound_stats().protect, 1);
}

#[test]
fn seed_inbound_enforcement() {
    let mut db = seed();
    let now = Instant::now();
    let inb = flow("10.1.2.3", "192.168.0.1", Direction::In);
    // A peer that suddenly sends plain IP is dropped and counted.
    let e = db.check_inbound_clear(&inb, now).unwrap_err();
    assert!(matches!(e, InboundDrop::ClearOnProtectedFlow { .. }));
    assert_eq!(e.reason(), "clear_on_protected_flow");
    assert_eq!(db.inbound_stats().clear_on_protected_flow, 1);
    // Unrelated cleartext passes.
    db.check_inbound_clear(&flow("8.8.8.8", "192.168.0.1", Direction::In), now).unwrap();
    // Decrypted through AH (outer) then ESP: accepted.
    let dst = "192.168.0.1".parse().unwrap();
    let ah = db.sad().inbound(Spi(0x2002), IpsecProto::Ah, dst).unwrap();
    let esp = db.sad().inbound(Spi(0x2001), IpsecProto::Esp, dst).unwrap();
    db.check_inbound_decrypted(&[ah, esp], &inb, now).unwrap();
    // ESP alone does not satisfy "esp + ah require".
    let e = db.check_inbound_decrypted(&[esp], &inb, now).unwrap_err();
    assert!(matches!(e, InboundDrop::SelectorMismatch { spi: Spi(0x2001), .. }));
    // Inner addresses that are not the SA's (transport mode): dropped.
    let spoof = flow("10.1.2.99", "192.168.0.1", Direction::In);
    let e = db.check_inbound_decrypted(&[ah, esp], &spoof, now).unwrap_err();
    assert!(matches!(e, InboundDrop::SelectorMismatch { .. }), "{e:?}");
    assert_eq!(db.inbound_stats().selector_mismatch, 2);
    assert_eq!(db.inbound_stats().protected_accepted, 1);
}

#[test]
fn missing_sa_raises_one_acquire() {
    let st = parse_str("p", "spdadd 192.168.0.0/24 10.1.2.3/32 any -P out ipsec esp/transport//require;").unwrap();
    let mut db: Sadb<u32> = Sadb::from_setkey(&st, Instant::now(), |s| Ok::<_, String>(s.spi.get())).unwrap();
    let now = Instant::now();
    let f = flow("192.168.0.1", "10.1.2.3", Direction::Out);
    let pid = db.spd().entries()[0].id;
    assert_eq!(db.outbound(&f, now), Outbound::Acquiring { policy: pid, raised: true });
    assert_eq!(db.outbound(&f, now), Outbound::Acquiring { policy: pid, raised: false });
    let a = db.poll_acquire().unwrap();
    assert_eq!(a.policy_id, pid);
    assert_eq!(a.flow, f);
    assert_eq!(a.requests.len(), 1);
    assert!(db.poll_acquire().is_none());
    assert_eq!(db.acquire_stats().raised, 1);
    assert_eq!(db.acquire_stats().suppressed, 1);
    assert_eq!(db.outbound_stats().no_sa, 2);
    // IKE installs the SA: the pending ACQUIRE ends and traffic flows.
    let info = SaInfo {
        spi: Spi(0xabcd),
        proto: IpsecProto::Esp,
        mode: Some(IpsecMode::Transport),
        src: f.src,
        dst: f.dst,
        reqid: None,
        lifetimes: Default::default(),
        selector: None,
        bind: Some(OutboundKey { policy: pid, request: 0, sa_key: None }),
    };
    let h = db.add_sa(info, 0xabcd, now).unwrap();
    assert_eq!(db.pending_acquires(), 0);
    match db.outbound(&f, now) {
        Outbound::Protect { sas, .. } => assert_eq!(sas.as_slice(), &[h]),
        o => panic!("{o:?}"),
    }
    // Deleted again: a new ACQUIRE is raised.
    assert_eq!(db.delete_sa(Spi(0xabcd), IpsecProto::Esp, f.dst).unwrap(), 0xabcd);
    assert_eq!(db.outbound(&f, now), Outbound::Acquiring { policy: pid, raised: true });
}

#[test]
fn use_level_sends_clear_without_sa_but_acquires() {
    let st = parse_str("p", "spdadd 10.0.0.0/8 10.0.0.0/8 any -P out ipsec esp/transport//use;\nspdadd 10.0.0.0/8 10.0.0.0/8 any -P in ipsec esp/transport//use;").unwrap();
    let mut db: Sadb<u32> = Sadb::from_setkey(&st, Instant::now(), |s| Ok::<_, String>(s.spi.get())).unwrap();
    let now = Instant::now();
    let f = flow("10.0.0.1", "10.0.0.2", Direction::Out);
    assert!(matches!(db.outbound(&f, now), Outbound::Bypass { policy: Some(_) }));
    assert_eq!(db.acquire_stats().raised, 1);
    db.check_inbound_clear(&flow("10.0.0.2", "10.0.0.1", Direction::In), now).unwrap();
}

#[test]
fn tunnel_sa_cannot_inject_foreign_inner_addresses() {
    let text = "\
spdadd 172.16.1.0/24 172.16.2.0/24 any -P in ipsec esp/tunnel/192.0.2.2-192.0.2.1/require;
add 192.0.2.2 192.0.2.1 esp 0x500 -m tunnel -E aes-gcm-16 0x0102030405060708090a0b0c0d0e0f1011121314;
";
    let mut db: Sadb<u32> =
        Sadb::from_setkey(&parse_str("t", text).unwrap(), Instant::now(), |s| Ok::<_, String>(s.spi.get())).unwrap();
    let now = Instant::now();
    let h = db.sad().inbound(Spi(0x500), IpsecProto::Esp, "192.0.2.1".parse().unwrap()).unwrap();
    db.check_inbound_decrypted(&[h], &flow("172.16.2.5", "172.16.1.7", Direction::In), now).unwrap_err();
    db.check_inbound_decrypted(&[h], &flow("172.16.1.5", "172.16.2.7", Direction::In), now).unwrap();
    // A gateway: forwarded traffic is checked against fwd policies.
    let fwd_text = "spdadd 172.16.3.0/24 172.16.4.0/24 any -P fwd ipsec esp/tunnel/192.0.2.2-192.0.2.1/require;";
    db.apply_setkey(&parse_str("t", fwd_text).unwrap(), now, |s| Ok::<_, String>(s.spi.get())).unwrap();
    let routed = flow("172.16.3.5", "172.16.4.7", Direction::In);
    assert!(db.check_inbound_decrypted(&[h], &routed, now).is_err());
    let before = db.inbound_stats();
    assert_eq!(before.selector_mismatch, 2);
    db.check_inbound_decrypted_in_or_fwd(&[h], &routed, now).unwrap();
    assert!(db.check_inbound_decrypted_in_or_fwd(&[h], &flow("172.16.9.5", "172.16.2.7", Direction::In), now).is_err());
    let after = db.inbound_stats();
    assert_eq!(after.protected_accepted, before.protected_accepted + 1);
    assert_eq!(after.selector_mismatch, before.selector_mismatch + 1);
    // Inner addresses outside every policy (default bypass) through a tunnel SA: dropped.
    let e = db.check_inbound_decrypted(&[h], &flow("8.8.8.8", "172.16.2.7", Direction::In), now).unwrap_err();
    assert!(matches!(e, InboundDrop::SelectorMismatch { spi: Spi(0x500), policy: None }));
}

#[test]
fn negotiated_selectors_are_enforced() {
    let mut db: Sadb<()> = Sadb::new();
    let now = Instant::now();
    let sel = crate::selector::Selector {
        src: crate::selector::IpPrefix::host("10.1.2.3".parse().unwrap()),
        dst: crate::selector::IpPrefix::host("192.168.0.1".parse().unwrap()),
        proto: Some(6),
        src_port: None,
        dst_port: Some(80),
    };
    let info = SaInfo {
        spi: Spi(0x600),
        proto: IpsecProto::Esp,
        mode: Some(IpsecMode::Transport),
        src: "10.1.2.3".parse().unwrap(),
        dst: "192.168.0.1".parse().unwrap(),
        reqid: None,
        lifetimes: Default::default(),
        selector: Some(sel),
        bind: None,
    };
    let h = db.add_sa(info, (), now).unwrap();
    db.check_inbound_decrypted(&[h], &flow("10.1.2.3", "192.168.0.1", Direction::In), now).unwrap();
    let mut f = flow("10.1.2.3", "192.168.0.1", Direction::In);
    f.dst_port = 22;
    assert!(db.check_inbound_decrypted(&[h], &f, now).is_err());
    db.sad_mut().remove(h);
    assert_eq!(db.check_inbound_decrypted(&[h], &f, now), Err(InboundDrop::UnknownSa));
}

#[test]
fn discard_policies_and_flushes() {
    let text = "spdadd 0.0.0.0/0 0.0.0.0/0 udp -P out prio 1 discard;\nspdadd 0.0.0.0/0 0.0.0.0/0 any -P in discard;\n";
    let mut db: Sadb<u32> =
        Sadb::from_setkey(&parse_str("t", text).unwrap(), Instant::now(), |s| Ok::<_, String>(s.spi.get())).unwrap();
    let now = Instant::now();
    let mut f = flow("1.1.1.1", "2.2.2.2", Direction::Out);
    f.proto = 17;
    assert!(matches!(db.outbound(&f, now), Outbound::Discard { policy: Some(_) }));
    assert!(matches!(
        db.check_inbound_clear(&flow("2.2.2.2", "1.1.1.1", Direction::In), now),
        Err(InboundDrop::PolicyDiscard { .. })
    ));
    db.apply_setkey(&parse_str("t", "spdflush;").unwrap(), now, |s| Ok::<_, String>(s.spi.get())).unwrap();
    assert!(matches!(db.outbound(&f, now), Outbound::Bypass { policy: None }));
}

#[test]
fn from_setkey_is_all_or_nothing_and_names_the_line() {
    let text = format!("{SEED_FIXED}add 10.1.2.3 192.168.0.1 esp 0x2001 -E aes-gcm-16 0x0102030405060708090a0b0c0d0e0f1011121314;\n");
    let st = parse_str("t", &text).unwrap();
    let e = Sadb::from_setkey(&st, Instant::now(), |s| Ok::<_, String>(s.spi.get())).unwrap_err();
    assert_eq!(e.to_string(), "18:1: an SA with SPI 0x00002001 for esp to 192.168.0.1 already exists");
    let e = Sadb::<u32>::from_setkey(&st, Instant::now(), |s| if s.spi == Spi(0x1002) { Err("engine says no") } else { Ok(s.spi.get()) })
        .unwrap_err();
    assert_eq!(e.to_string(), "14:1: SA 0x1002: engine says no");
    // flush in the middle removes what came before.
    let st = parse_str("t", &format!("{SEED_FIXED}flush;")).unwrap();
    let db = Sadb::from_setkey(&st, Instant::now(), |s| Ok::<_, String>(s.spi.get())).unwrap();
    assert!(db.sad().is_empty());
    assert_eq!(db.spd().len(), 2);
}

#[test]
fn control_trait_policy_lifecycle() {
    let mut db: Sadb<u32> = Sadb::new();
    let p = NewPolicy {
        selector: crate::selector::Selector {
            src: crate::selector::IpPrefix::any_of_family("0.0.0.0".parse().unwrap()),
            dst: crate::selector::IpPrefix::any_of_family("0.0.0.0".parse().unwrap()),
            proto: None,
            src_port: None,
            dst_port: None,
        },
        dir: Direction::Out,
        priority: 1,
        action: crate::spd::Action::Verdict(Verdict::Protect(vec![SaRequest {
            proto: IpsecProto::Esp,
            mode: IpsecMode::Tunnel,
            tunnel: Some(("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap())),
            level: Level::Require,
        }])),
    };
    let ctl: &mut dyn SadbControl<u32> = &mut db;
    let id = ctl.add_policy(p).unwrap();
    ctl.delete_policy(id).unwrap();
    assert_eq!(ctl.delete_policy(id).unwrap_err().to_string(), "no policy #1");
    assert!(ctl.delete_sa(Spi(1000), IpsecProto::Esp, "192.0.2.2".parse().unwrap()).is_err());
}

#[test]
fn lifetimes_from_setkey_expire() {
    let text = "add 192.168.0.1 10.1.2.3 esp 0x700 -ls 10 -lh 20 -E aes-gcm-16 0x0102030405060708090a0b0c0d0e0f1011121314;";
    let t0 = Instant::now();
    let mut db: Sadb<u32> = Sadb::from_setkey(&parse_str("t", text).unwrap(), t0, |s| Ok::<_, String>(s.spi.get())).unwrap();
    assert_eq!(db.expire(t0 + Duration::from_secs(10))[0].expiry, crate::lifetime::Expiry::Soft);
    assert_eq!(db.expire(t0 + Duration::from_secs(20))[0].expiry, crate::lifetime::Expiry::Hard);
    assert!(db.sad().is_empty());
}

#[test]
fn engine_state_from_setkey() {
    let st = parse_str("seed", SEED_FIXED).unwrap();
    let provider = esprit_crypto::default_provider();
    let mut db = Sadb::from_setkey(&st, Instant::now(), |s| {
        let cfg = s.to_sa_config().map_err(|e| e.to_string())?;
        esprit_esp::Sa::new(cfg, provider).map_err(|e| e.to_string())
    })
    .unwrap();
    let now = Instant::now();
    match db.outbound(&flow("192.168.0.1", "10.1.2.3", Direction::Out), now) {
        Outbound::Protect { sas, .. } => assert_eq!(sas.as_slice().len(), 2),
        o => panic!("{o:?}"),
    }
}

#[test]
fn memoized_resolution_follows_sad_changes() {
    let text = "\
spdadd 192.168.0.0/24 10.1.2.3/32 any -P out ipsec esp/transport//require;
add 192.168.0.1 10.1.2.3 esp 0x1001 -ph 2 -E aes-gcm-16 0x0102030405060708090a0b0c0d0e0f1011121314;
";
    let now = Instant::now();
    let mut db: Sadb<u32> = Sadb::from_setkey(&parse_str("t", text).unwrap(), now, |s| Ok::<_, String>(s.spi.get())).unwrap();
    let f = flow("192.168.0.1", "10.1.2.3", Direction::Out);
    let h = match db.outbound(&f, now) {
        Outbound::Protect { sas, .. } => sas.as_slice()[0],
        o => panic!("{o:?}"),
    };
    assert!(matches!(db.outbound(&f, now), Outbound::Protect { .. })); // memoized
    db.sad_mut().account(h, 100, now).unwrap();
    db.sad_mut().account(h, 100, now).unwrap(); // reaches the hard packet limit
    assert!(matches!(db.outbound(&f, now), Outbound::Acquiring { raised: true, .. }));
    // A new SA is picked up at once.
    let spec = match &parse_str("t", text).unwrap()[1] {
        Statement::Add(s) => SaInfo { spi: Spi(0x1002), lifetimes: Default::default(), ..SaInfo::from(s) },
        _ => unreachable!(),
    };
    let h2 = db.add_sa(spec, 0x1002, now).unwrap();
    match db.outbound(&f, now) {
        Outbound::Protect { sas, .. } => assert_eq!(sas.as_slice(), &[h2]),
        o => panic!("{o:?}"),
    }
    assert_eq!(db.outbound_stats().protect, 3);
}

#[test]
fn empty_protect_list_fails_closed_both_ways() {
    let mut db: Sadb<u32> = Sadb::new();
    let now = Instant::now();
    let sel = |a: &str| crate::selector::IpPrefix::new(a.parse().unwrap(), 8).unwrap();
    for dir in [Direction::Out, Direction::In] {
        db.add_policy(NewPolicy {
            selector: crate::selector::Selector { src: sel("10.0.0.0"), dst: sel("10.0.0.0"), proto: None, src_port: None, dst_port: None },
            dir,
            priority: 0,
            action: crate::spd::Action::Verdict(Verdict::Protect(Vec::new())),
        })
        .unwrap();
    }
    let f = flow("10.0.0.1", "10.0.0.2", Direction::Out);
    assert!(matches!(db.outbound(&f, now), Outbound::Discard { policy: Some(_) }));
    assert!(matches!(db.outbound(&f, now), Outbound::Discard { .. }), "memoized: still discard");
    assert_eq!(db.outbound_stats().empty_protect, 1);
    assert_eq!(db.outbound_stats().bypass, 0);
    let e = db.check_inbound_clear(&flow("10.0.0.2", "10.0.0.1", Direction::In), now).unwrap_err();
    assert!(matches!(e, InboundDrop::PolicyDiscard { .. }), "{e:?}");
}
