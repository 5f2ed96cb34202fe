//! Unit tests of a single netstack.
use super::*;
use crate::config::{Expose, Forward};

fn cfg(addrs: &[(&str, u8)]) -> NetstackConfig {
    NetstackConfig {
        addresses: addrs
            .iter()
            .map(|(a, p)| (a.parse().unwrap(), *p))
            .collect(),
        ..Default::default()
    }
}

#[test]
fn bad_configs_are_refused() {
    assert!(Netstack::new(cfg(&[])).is_err(), "no address");
    assert!(Netstack::new(cfg(&[("10.0.0.1", 33)])).is_err(), "prefix");
    assert!(
        Netstack::new(cfg(&[("10.0.0.1", 32), ("10.0.0.2", 32)])).is_err(),
        "two v4"
    );
    let mut c = cfg(&[("2001:db8::1", 64)]);
    c.mtu = 1000;
    assert!(Netstack::new(c).is_err(), "v6 below 1280");
    let mut c = cfg(&[("10.0.0.1", 32)]);
    c.forwards.push(Forward {
        proto: Proto::Tcp,
        listen: "127.0.0.1:0".parse().unwrap(),
        remote: "[2001:db8::7]:80".parse().unwrap(),
    });
    assert!(Netstack::new(c).is_err(), "forward to a family we lack");
    let mut c = cfg(&[("10.0.0.1", 32)]);
    c.exposes.push(Expose {
        proto: Proto::Tcp,
        port: 0,
        local: "127.0.0.1:1".parse().unwrap(),
    });
    assert!(Netstack::new(c).is_err(), "expose port 0");
}

#[test]
fn answers_ping_and_drops_garbage() {
    let mut ns = Netstack::new(cfg(&[("192.0.2.1", 24)])).unwrap();
    let pkt = echo_request([192, 0, 2, 2], [192, 0, 2, 1]);
    for garbage in [
        &[][..],
        &[0x45][..],
        &[0x60, 0, 0][..],
        &[0xff; 40][..],
        &vec![0x45; 5000][..],
    ] {
        ns.receive_inner(garbage);
    }
    ns.receive_inner(&pkt);
    ns.poll(Instant::now());
    let mut out = Vec::new();
    ns.poll_outbound(&mut |p| out.push(p.to_vec()));
    assert_eq!(out.len(), 1, "exactly one echo reply");
    assert_eq!(&out[0][12..16], &[192, 0, 2, 1]);
    assert_eq!(out[0][20], 0, "echo reply");
    assert!(
        ns.stats().rx_dropped >= 2,
        "empty and oversized packets counted"
    );
}

#[test]
fn netstack_can_move_to_its_own_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Netstack>();
}

#[test]
fn waker_interrupts_wait() {
    let mut ns = Netstack::new(cfg(&[("192.0.2.1", 32)])).unwrap();
    let w = ns.waker();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        w.wake().unwrap();
    });
    let t0 = Instant::now();
    ns.wait(Some(Duration::from_secs(10))).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5));
    t.join().unwrap();
}

/// An ICMP echo request with valid checksums.
fn echo_request(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut pkt = vec![
        0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0x12, 0x34, 0,
        1,
    ];
    pkt[12..16].copy_from_slice(&src);
    pkt[16..20].copy_from_slice(&dst);
    let mut ip = smoltcp::wire::Ipv4Packet::new_unchecked(&mut pkt[..]);
    ip.fill_checksum();
    let mut sum = 0u32;
    for w in pkt[20..].chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    pkt[22..24].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    pkt
}

fn replies(ns: &mut Netstack, pkt: &[u8]) -> Vec<Vec<u8>> {
    assert!(ns.receive_inner(pkt));
    ns.poll(Instant::now());
    let mut out = Vec::new();
    ns.poll_outbound(&mut |p| out.push(p.to_vec()));
    out
}

#[test]
fn set_addresses_moves_the_inner_address() {
    let mut ns = Netstack::new(cfg(&[("192.0.2.1", 32)])).unwrap();
    assert_eq!(
        replies(&mut ns, &echo_request([192, 0, 2, 2], [192, 0, 2, 1])).len(),
        1
    );
    ns.set_addresses(&[("192.0.2.9".parse().unwrap(), 32)])
        .unwrap();
    assert!(replies(&mut ns, &echo_request([192, 0, 2, 2], [192, 0, 2, 1])).is_empty());
    let r = replies(&mut ns, &echo_request([192, 0, 2, 2], [192, 0, 2, 9]));
    assert_eq!(r.len(), 1);
    assert_eq!(&r[0][12..16], &[192, 0, 2, 9]);
    assert!(ns.set_addresses(&[]).is_err());
    assert!(ns
        .set_addresses(&[("0.0.0.0".parse().unwrap(), 0)])
        .is_err());
}
