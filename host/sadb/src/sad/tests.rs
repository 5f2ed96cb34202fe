use std::time::Duration;

use super::*;
use crate::decider::Direction;
use crate::lifetime::Limits;

fn info(spi: u32, src: &str, dst: &str) -> SaInfo {
    SaInfo {
        spi: Spi(spi),
        proto: IpsecProto::Esp,
        mode: Some(IpsecMode::Transport),
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        reqid: None,
        lifetimes: Lifetimes::default(),
        selector: None,
        bind: None,
    }
}

fn flow(src: &str, dst: &str) -> Flow {
    Flow {
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        proto: 17,
        src_port: 1,
        dst_port: 2,
        dir: Direction::Out,
        iface: None,
    }
}

fn req(level: Level) -> SaRequest {
    SaRequest { proto: IpsecProto::Esp, mode: IpsecMode::Transport, tunnel: None, level }
}

#[test]
fn inbound_by_spi_proto_dst_and_duplicates() {
    let mut sad = Sad::new();
    let now = Instant::now();
    let h = sad.insert(info(0x1001, "10.1.2.3", "192.168.0.1"), "state-a", now).unwrap();
    let dst: IpAddr = "192.168.0.1".parse().unwrap();
    assert_eq!(sad.inbound(Spi(0x1001), IpsecProto::Esp, dst), Some(h));
    assert_eq!(sad.inbound(Spi(0x1001), IpsecProto::Ah, dst), None);
    assert_eq!(sad.inbound(Spi(0x1002), IpsecProto::Esp, dst), None);
    assert_eq!(sad.get(h).unwrap().state, "state-a");
    let e = sad.insert(info(0x1001, "10.9.9.9", "192.168.0.1"), "dup", now).unwrap_err();
    assert_eq!(e.to_string(), "an SA with SPI 0x00001001 for esp to 192.168.0.1 already exists");
    // Same SPI to another destination or for AH is a different SA.
    sad.insert(info(0x1001, "10.1.2.3", "192.168.0.2"), "b", now).unwrap();
    let mut ah = info(0x1001, "10.1.2.3", "192.168.0.1");
    ah.proto = IpsecProto::Ah;
    sad.insert(ah, "c", now).unwrap();
    assert_eq!(sad.len(), 3);
    let err = sad.insert(info(7, "10.1.2.3", "::1"), "x", now).unwrap_err();
    assert!(matches!(err, SadError::MixedFamilies { .. }));
}

#[test]
fn remove_cleans_every_index() {
    let mut sad = Sad::new();
    let now = Instant::now();
    let mut i = info(0x2000, "192.168.0.1", "10.1.2.3");
    i.lifetimes.hard.time = Some(Duration::from_secs(5));
    i.lifetimes.soft.time = Some(Duration::from_secs(4));
    let h = sad.insert(i, 1u8, now).unwrap();
    let dst: IpAddr = "10.1.2.3".parse().unwrap();
    assert_eq!(sad.next_deadline(), Some(now + Duration::from_secs(4)));
    let e = sad.remove_by_spi(Spi(0x2000), IpsecProto::Esp, dst).unwrap();
    assert_eq!(e.state, 1);
    assert!(sad.get(h).is_none());
    assert_eq!(sad.next_deadline(), None);
    assert!(sad.outbound(PolicyId(1), 0, &req(Level::Require), &flow("192.168.0.1", "10.1.2.3"), None).is_none());
    assert_eq!(
        sad.remove_by_spi(Spi(0x2000), IpsecProto::Esp, dst).unwrap_err().to_string(),
        "no SA with SPI 0x00002000 for esp to 10.1.2.3"
    );
    sad.insert(info(0x2000, "192.168.0.1", "10.1.2.3"), 2, now).unwrap();
    sad.flush();
    assert!(sad.is_empty());
}

#[test]
fn outbound_by_addresses_mode_reqid_and_binding() {
    let mut sad = Sad::new();
    let now = Instant::now();
    let f = flow("192.168.0.1", "10.1.2.3");
    assert_eq!(sad.outbound(PolicyId(1), 0, &req(Level::Require), &f, None), None);
    let old = sad.insert(info(0x3000, "192.168.0.1", "10.1.2.3"), 0, now).unwrap();
    let new = sad.insert(info(0x3001, "192.168.0.1", "10.1.2.3"), 0, now).unwrap();
    // The newest matching SA is used.
    assert_eq!(sad.outbound(PolicyId(1), 0, &req(Level::Require), &f, None), Some(new));
    sad.remove(new);
    assert_eq!(sad.outbound(PolicyId(1), 0, &req(Level::Require), &f, None), Some(old));
    // Mode must fit.
    let tunnel_req = SaRequest {
        mode: IpsecMode::Tunnel,
        tunnel: Some(("192.168.0.1".parse().unwrap(), "10.1.2.3".parse().unwrap())),
        ..req(Level::Require)
    };
    assert_eq!(sad.outbound(PolicyId(1), 0, &tunnel_req, &flow("172.16.0.1", "172.17.0.1"), None), None);
    let mut any = info(0x3002, "192.168.0.1", "10.1.2.3");
    any.mode = None;
    let any = sad.insert(any, 0, now).unwrap();
    assert_eq!(sad.outbound(PolicyId(1), 0, &tunnel_req, &flow("172.16.0.1", "172.17.0.1"), None), Some(any));
    // unique:ID needs the reqid.
    assert_eq!(sad.outbound(PolicyId(1), 0, &req(Level::Unique(9)), &f, None), None);
    let mut u = info(0x3003, "192.168.0.1", "10.1.2.3");
    u.reqid = Some(9);
    let u = sad.insert(u, 0, now).unwrap();
    assert_eq!(sad.outbound(PolicyId(1), 0, &req(Level::Unique(9)), &f, None), Some(u));
    // A bound SA (IKE) serves only its binding.
    let mut b = info(0x3004, "192.168.0.1", "10.1.2.3");
    b.bind = Some(OutboundKey { policy: PolicyId(5), request: 0, sa_key: Some(42) });
    let b = sad.insert(b, 0, now).unwrap();
    assert_eq!(sad.outbound(PolicyId(5), 0, &req(Level::Require), &f, Some(42)), Some(b));
    assert_ne!(sad.outbound(PolicyId(5), 0, &req(Level::Require), &f, Some(43)), Some(b));
    assert_ne!(sad.outbound(PolicyId(1), 0, &req(Level::Require), &f, None), Some(b));
    // An IKE SA bound to a policy without an SA key also serves other
    // templates between the same endpoints (a plugin's protect verdict).
    let mut k = info(0x3005, "192.168.0.1", "10.1.2.3");
    k.bind = Some(OutboundKey { policy: PolicyId(6), request: 0, sa_key: None });
    let k = sad.insert(k, 0, now).unwrap();
    assert_eq!(sad.outbound(PolicyId(1), 0, &req(Level::Require), &f, None), Some(k));
    // ... until a rekeyed SA takes the binding over.
    let mut k2 = info(0x3006, "192.168.0.1", "10.1.2.3");
    k2.bind = Some(OutboundKey { policy: PolicyId(6), request: 0, sa_key: None });
    let k2 = sad.insert(k2, 0, now).unwrap();
    assert_eq!(sad.outbound(PolicyId(1), 0, &req(Level::Require), &f, None), Some(k2));
}

#[test]
fn a_standby_sa_takes_the_binding_only_when_told() {
    let mut sad = Sad::new();
    let now = Instant::now();
    let f = flow("192.168.0.1", "10.1.2.3");
    let key = OutboundKey { policy: PolicyId(6), request: 0, sa_key: None };
    let mut old = info(0x4000, "192.168.0.1", "10.1.2.3");
    old.bind = Some(key);
    let old = sad.insert(old, 0, now).unwrap();
    let mut new = info(0x4001, "192.168.0.1", "10.1.2.3");
    new.bind = Some(key);
    let new = sad.insert_standby(new, 0, now).unwrap();
    // Neither the binding nor the address fallback picks the standby SA.
    assert_eq!(sad.outbound(PolicyId(6), 0, &req(Level::Require), &f, None), Some(old));
    assert_eq!(sad.outbound(PolicyId(1), 0, &req(Level::Require), &f, None), Some(old));
    let g = sad.generation();
    sad.take_binding(new).unwrap();
    assert_ne!(sad.generation(), g, "flow caches see the change");
    assert_eq!(sad.outbound(PolicyId(6), 0, &req(Level::Require), &f, None), Some(new));
    assert_eq!(sad.outbound(PolicyId(1), 0, &req(Level::Require), &f, None), Some(new));
    // Removing the old SA leaves the new one's binding alone.
    sad.remove(old);
    assert_eq!(sad.outbound(PolicyId(6), 0, &req(Level::Require), &f, None), Some(new));
}

#[test]
fn time_lifetimes_soft_then_hard() {
    let mut sad = Sad::new();
    let t0 = Instant::now();
    let mut i = info(0x4000, "192.168.0.1", "10.1.2.3");
    i.lifetimes = Lifetimes {
        soft: Limits { time: Some(Duration::from_secs(50)), ..Limits::default() },
        hard: Limits { time: Some(Duration::from_secs(60)), ..Limits::default() },
    };
    let h = sad.insert(i, (), t0).unwrap();
    assert!(sad.expire(t0 + Duration::from_secs(49)).is_empty());
    let ev = sad.expire(t0 + Duration::from_secs(50));
    assert_eq!(ev.len(), 1);
    assert_eq!((ev[0].handle, ev[0].expiry, ev[0].limit), (h, Expiry::Soft, LimitKind::Time));
    assert!(sad.expire(t0 + Duration::from_secs(55)).is_empty());
    let ev = sad.expire(t0 + Duration::from_secs(61));
    assert_eq!((ev.len(), ev[0].expiry), (1, Expiry::Hard));
    assert!(sad.get(h).is_none(), "hard expiry removes the SA");
    assert!(sad.is_empty());
}

#[test]
fn volume_lifetimes_bytes_and_packets() {
    let mut sad = Sad::new();
    let now = Instant::now();
    let mut i = info(0x5000, "192.168.0.1", "10.1.2.3");
    i.lifetimes.soft.packets = Some(2);
    i.lifetimes.hard.packets = Some(3);
    i.lifetimes.hard.bytes = Some(1_000_000);
    let h = sad.insert(i, (), now).unwrap();
    sad.account(h, 100, now).unwrap();
    assert!(sad.expire(now).is_empty());
    sad.account(h, 100, now).unwrap();
    let ev = sad.expire(now);
    assert_eq!((ev[0].expiry, ev[0].limit), (Expiry::Soft, LimitKind::Packets));
    sad.account(h, 100, now).unwrap(); // the third packet is the last one
    assert_eq!(sad.get(h).unwrap().counters.packets, 3);
    assert_eq!(sad.get(h).unwrap().counters.bytes, 300);
    assert!(sad.get(h).unwrap().is_expired());
    assert_eq!(
        sad.account(h, 100, now).unwrap_err(),
        SadError::Expired { spi: Spi(0x5000), limit: LimitKind::Packets }
    );
    assert!(sad.outbound(PolicyId(1), 0, &req(Level::Require), &flow("192.168.0.1", "10.1.2.3"), None).is_none());
    let ev = sad.expire(now);
    assert_eq!((ev.len(), ev[0].expiry, ev[0].limit), (1, Expiry::Hard, LimitKind::Packets));
    assert!(sad.is_empty());
    assert_eq!(sad.account(h, 1, now).unwrap_err(), SadError::NoSuchHandle(h));
}

#[test]
fn hundred_thousand_sas() {
    let mut sad = Sad::new();
    let now = Instant::now();
    let dst: IpAddr = "10.0.0.1".parse().unwrap();
    for spi in 256..100_256u32 {
        let src = IpAddr::from([172, 16, (spi >> 8) as u8, spi as u8]);
        let mut i = info(spi, "0.0.0.0", "10.0.0.1");
        i.src = src;
        i.lifetimes.hard.time = Some(Duration::from_secs(u64::from(spi)));
        sad.insert(i, spi, now).unwrap();
    }
    assert_eq!(sad.len(), 100_000);
    for spi in (256..100_256u32).step_by(997) {
        let h = sad.inbound(Spi(spi), IpsecProto::Esp, dst).unwrap();
        assert_eq!(sad.get(h).unwrap().state, spi);
    }
    // Only what is due is visited.
    assert_eq!(sad.expire(now + Duration::from_secs(300)).len(), 45);
    assert_eq!(sad.len(), 100_000 - 45);
}
