//! UDP forward on A → UDP expose on B → a local UDP echo service.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::*;
use esprit_netstack::{Expose, Forward, Proto};

fn udp_echo() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let mut out = b"echo:".to_vec();
            out.extend_from_slice(&buf[..n]);
            let _ = s.send_to(&out, from);
        }
    });
    addr
}

#[test]
fn udp_forward_to_udp_expose_round_trips_per_client() {
    let mut a = base(A_ADDR);
    a.forwards.push(Forward {
        proto: Proto::Udp,
        listen: "127.0.0.1:0".parse().unwrap(),
        remote: SocketAddr::new(B_ADDR.parse().unwrap(), 53),
    });
    let mut b = base(B_ADDR);
    b.exposes.push(Expose {
        proto: Proto::Udp,
        port: 53,
        local: udp_echo(),
    });
    let pair = start(a, b);
    let fwd = pair.a_udp[0];
    let clients: Vec<UdpSocket> = (0..3)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    for (i, c) in clients.iter().enumerate() {
        c.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let msg = format!("client {i}");
        // UDP may drop the very first datagram while sessions set up: retry.
        let mut got = None;
        for _ in 0..10 {
            c.send_to(msg.as_bytes(), fwd).unwrap();
            let mut buf = [0u8; 2048];
            if let Ok((n, _)) = c.recv_from(&mut buf) {
                got = Some(buf[..n].to_vec());
                break;
            }
        }
        assert_eq!(got.as_deref(), Some(format!("echo:{msg}").as_bytes()));
    }
    // A large datagram (fits the inner MTU) and many in a row.
    let c = &clients[0];
    let big = pattern(9, 1300);
    c.send_to(&big, fwd).unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) = c.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[5..n], &big[..]);
    // The driver refreshes stats while it runs: give it a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let s = pair.stats.lock().unwrap().clone();
        if s.0.udp_sessions == 3 && s.1.udp_sessions == 3 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{s:?}");
        std::thread::sleep(Duration::from_millis(30));
    }
}
