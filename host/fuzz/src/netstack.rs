//! Decrypted inner packets entering the userspace TCP/IP stack
//! (`esprit_netstack::Netstack::receive_inner`, smoltcp underneath): a fresh
//! stack with an IPv4 and an IPv6 address, an exposed TCP and UDP port, gets
//! the input's packets and is polled, with time moving, until it is quiet;
//! what it sends back is drained.
//!
//! Input: byte 0 = how many seconds pass between packets (low 4 bits), then
//! packets as `LEN_HI LEN_LO BYTES...` (the last one takes what is left).
use std::time::{Duration, Instant};

use esprit_netstack::{Expose, Netstack, NetstackConfig, Proto};

/// The inner addresses of the stack under test.
pub const V4: [u8; 4] = [10, 0, 0, 2];
/// The IPv6 inner address: fd00::2.
pub const V6: [u16; 8] = [0xfd00, 0, 0, 0, 0, 0, 0, 2];

fn stack() -> Option<Netstack> {
    // The exposed services are the discard port of the loopback: connects
    // are refused at once and nothing is ever delivered anywhere.
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
    let cfg = NetstackConfig {
        addresses: vec![(V4.into(), 24), (V6.into(), 64)],
        mtu: 1400,
        exposes: vec![
            Expose { proto: Proto::Tcp, port: 80, local },
            Expose { proto: Proto::Udp, port: 53, local },
        ],
        tcp_buffer: 4096,
        max_connections: 8,
        listen_backlog: 2,
        packet_queue: 16,
        udp_max_sessions: 4,
        ..NetstackConfig::default()
    };
    Netstack::new(cfg).ok()
}

/// Splits the input into packets (see the module documentation).
pub fn packets(mut rest: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while rest.len() >= 2 {
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        let take = n.min(body.len());
        out.push(&body[..take]);
        rest = &body[take..];
    }
    out
}

pub fn run(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else { return };
    let Some(mut ns) = stack() else { return };
    let step = Duration::from_secs(u64::from(ctl & 0x0f));
    let mut now = Instant::now();
    let mut sent = 0usize;
    for p in packets(rest) {
        ns.receive_inner(p);
        for _ in 0..4 {
            if ns.poll(now).is_none() {
                break;
            }
        }
        ns.poll_outbound(&mut |pkt| {
            assert!(pkt.len() <= 1400, "a {}-byte inner packet for a 1400 MTU", pkt.len());
            sent += 1;
        });
        now += step;
    }
    let _ = ns.stats();
}
