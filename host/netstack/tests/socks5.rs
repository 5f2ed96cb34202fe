//! SOCKS5 (RFC 1928) on netstack A, reaching a service exposed on B.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use common::*;

fn socks_pair() -> (Pair, SocketAddr) {
    let service = serve(|mut s| {
        let mut req = [0u8; 5];
        if s.read_exact(&mut req).is_ok() {
            let _ = s.write_all(b"pong:");
            let _ = s.write_all(&req);
        }
    });
    let mut a = base(A_ADDR);
    a.socks5 = Some("127.0.0.1:0".parse().unwrap());
    let mut b = base(B_ADDR);
    b.exposes.push(expose(80, service));
    let pair = start(a, b);
    let socks = pair.a_listen[0];
    (pair, socks)
}

fn greet(c: &mut std::net::TcpStream) {
    c.write_all(&[5, 1, 0]).unwrap();
    let mut r = [0u8; 2];
    c.read_exact(&mut r).unwrap();
    assert_eq!(r, [5, 0]);
}

/// Read a reply (RFC 1928 §6) and return REP and BND.
fn reply(c: &mut std::net::TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 4];
    c.read_exact(&mut h).unwrap();
    assert_eq!(h[0], 5);
    let n = match h[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        t => panic!("unexpected ATYP {t}"),
    };
    let mut rest = vec![0u8; n];
    c.read_exact(&mut rest).unwrap();
    (h[1], rest)
}

#[test]
fn connect_ipv4_through_a_to_b_exposed_service() {
    let (_pair, socks) = socks_pair();
    let mut c = connect(socks);
    greet(&mut c);
    c.write_all(&[5, 1, 0, 1, 198, 51, 100, 7, 0, 80]).unwrap();
    let (rep, bnd) = reply(&mut c);
    assert_eq!(rep, 0);
    assert_eq!(&bnd[..4], &[192, 0, 2, 1], "bound to A's inner address");
    c.write_all(b"ping!").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let got = read_to_end_timeout(&mut c).unwrap();
    assert_eq!(got, b"pong:ping!");
}

#[test]
fn connect_domain_that_is_an_ip_literal_and_pipelined_data() {
    let (_pair, socks) = socks_pair();
    let mut c = connect(socks);
    // Greeting, request and data in one write (client-side pipelining).
    let mut m = vec![5, 1, 0, 5, 1, 0, 3, 12];
    m.extend_from_slice(b"198.51.100.7");
    m.extend_from_slice(&[0, 80]);
    m.extend_from_slice(b"ping!");
    c.write_all(&m).unwrap();
    let mut r = [0u8; 2];
    c.read_exact(&mut r).unwrap();
    assert_eq!(r, [5, 0]);
    let (rep, _) = reply(&mut c);
    assert_eq!(rep, 0);
    let mut got = [0u8; 10];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"pong:ping!");
}

#[test]
fn bad_version_gets_no_acceptable_methods() {
    let (pair, socks) = socks_pair();
    let mut c = connect(socks);
    c.write_all(&[4, 1, 0, 80, 198, 51, 100, 7, 0]).unwrap();
    let got = read_to_end_timeout(&mut c).unwrap();
    assert_eq!(got, [5, 0xFF]);
    assert!(pair.stats.lock().unwrap().0.socks_errors <= 1);
}

#[test]
fn no_acceptable_method_offered() {
    let (_pair, socks) = socks_pair();
    let mut c = connect(socks);
    c.write_all(&[5, 1, 2]).unwrap(); // only username/password
    assert_eq!(read_to_end_timeout(&mut c).unwrap(), [5, 0xFF]);
}

#[test]
fn bad_version_in_request_is_general_failure() {
    let (_pair, socks) = socks_pair();
    let mut c = connect(socks);
    greet(&mut c);
    c.write_all(&[4, 1, 0, 1, 198, 51, 100, 7, 0, 80]).unwrap();
    let (rep, _) = reply(&mut c);
    assert_eq!(rep, 0x01);
    assert_eq!(read_to_end_timeout(&mut c).unwrap(), b"");
}

#[test]
fn unsupported_commands_get_command_not_supported() {
    let (_pair, socks) = socks_pair();
    for cmd in [2u8, 9] {
        let mut c = connect(socks);
        greet(&mut c);
        c.write_all(&[5, cmd, 0, 1, 198, 51, 100, 7, 0, 80])
            .unwrap();
        let (rep, _) = reply(&mut c);
        assert_eq!(rep, 0x07, "command {cmd}");
    }
}

#[test]
fn domain_names_and_unknown_address_types_are_not_supported() {
    let (_pair, socks) = socks_pair();
    let mut c = connect(socks);
    greet(&mut c);
    let mut m = vec![5, 1, 0, 3, 11];
    m.extend_from_slice(b"example.org");
    m.extend_from_slice(&[0, 80]);
    c.write_all(&m).unwrap();
    assert_eq!(reply(&mut c).0, 0x08);

    let mut c = connect(socks);
    greet(&mut c);
    c.write_all(&[5, 1, 0, 9, 1, 2, 3, 4, 0, 80]).unwrap();
    assert_eq!(reply(&mut c).0, 0x08);
}

#[test]
fn refused_port_gets_connection_refused() {
    let (_pair, socks) = socks_pair();
    let mut c = connect(socks);
    greet(&mut c);
    // B exposes only port 80: its stack answers a SYN to 81 with RST.
    c.write_all(&[5, 1, 0, 1, 198, 51, 100, 7, 0, 81]).unwrap();
    assert_eq!(reply(&mut c).0, 0x05);
}

#[test]
fn ipv6_destination_without_inner_ipv6_is_network_unreachable() {
    let (_pair, socks) = socks_pair();
    let mut c = connect(socks);
    greet(&mut c);
    let mut m = vec![5, 1, 0, 4];
    m.extend_from_slice(
        &"2001:db8::7"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    m.extend_from_slice(&[0, 80]);
    c.write_all(&m).unwrap();
    assert_eq!(reply(&mut c).0, 0x03);
}

#[test]
fn ipv6_inner_connect() {
    let service = serve(echo);
    let mut a = base(A_ADDR);
    a.addresses.push(("2001:db8::1".parse().unwrap(), 64));
    a.socks5 = Some("127.0.0.1:0".parse().unwrap());
    let mut b = base(B_ADDR);
    b.addresses.push(("2001:db8::7".parse().unwrap(), 64));
    b.exposes.push(expose(80, service));
    let pair = start(a, b);
    let mut c = connect(pair.a_listen[0]);
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    greet(&mut c);
    let mut m = vec![5, 1, 0, 4];
    m.extend_from_slice(
        &"2001:db8::7"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    m.extend_from_slice(&[0, 80]);
    c.write_all(&m).unwrap();
    let (rep, bnd) = reply(&mut c);
    assert_eq!(rep, 0);
    assert_eq!(bnd.len(), 18);
    c.write_all(b"over v6").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end_timeout(&mut c).unwrap(), b"over v6");
}

#[test]
fn udp_associate_relays_to_inner_udp_service() {
    use std::net::UdpSocket;
    let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
    let echo_addr = echo.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = echo.recv_from(&mut buf) {
            let mut out = b"echo:".to_vec();
            out.extend_from_slice(&buf[..n]);
            let _ = echo.send_to(&out, from);
        }
    });
    let mut a = base(A_ADDR);
    a.socks5 = Some("127.0.0.1:0".parse().unwrap());
    let mut b = base(B_ADDR);
    b.exposes.push(esprit_netstack::Expose {
        proto: esprit_netstack::Proto::Udp,
        port: 53,
        local: echo_addr,
    });
    let pair = start(a, b);
    let mut c = connect(pair.a_listen[0]);
    greet(&mut c);
    c.write_all(&[5, 3, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
    let (rep, bnd) = reply(&mut c);
    assert_eq!(rep, 0);
    let relay = SocketAddr::from((
        [bnd[0], bnd[1], bnd[2], bnd[3]],
        u16::from_be_bytes([bnd[4], bnd[5]]),
    ));
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut dgram = vec![0, 0, 0, 1, 198, 51, 100, 7, 0, 53];
    dgram.extend_from_slice(b"hello udp");
    let mut got = None;
    for _ in 0..10 {
        u.send_to(&dgram, relay).unwrap();
        let mut buf = [0u8; 2048];
        if let Ok(n) = u.recv(&mut buf) {
            got = Some(buf[..n].to_vec());
            break;
        }
    }
    let got = got.expect("a relayed reply");
    assert_eq!(
        &got[..10],
        &[0, 0, 0, 1, 198, 51, 100, 7, 0, 53],
        "header names the inner source"
    );
    assert_eq!(&got[10..], b"echo:hello udp");
    // A fragment (FRAG != 0) is dropped (RFC 1928 §7).
    let mut frag = dgram.clone();
    frag[2] = 1;
    u.send_to(&frag, relay).unwrap();
    let mut buf = [0u8; 64];
    assert!(u.recv(&mut buf).is_err(), "fragment must be dropped");
    // Closing the control connection ends the association.
    drop(c);
    std::thread::sleep(Duration::from_millis(200));
    u.send_to(&dgram, relay).unwrap();
    assert!(u.recv(&mut buf).is_err(), "association must be gone");
}
