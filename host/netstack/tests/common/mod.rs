//! Two netstacks back to back in one process, driven by one thread the way
//! the daemon drives one: poll, pass outbound packets across, wait on the
//! netstacks' epoll fds.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use esprit_netstack::{Expose, Forward, Netstack, NetstackConfig, NetstackStats, Proto};
use mio::unix::SourceFd;
use mio::{Events, Interest, Token};

pub const A_ADDR: &str = "192.0.2.1";
pub const B_ADDR: &str = "198.51.100.7";

pub struct Pair {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// TCP listeners of A (forwards, then SOCKS5).
    pub a_listen: Vec<SocketAddr>,
    pub a_udp: Vec<SocketAddr>,
    pub b_listen: Vec<SocketAddr>,
    /// Latest stats of A and B, refreshed by the driver; plus the maximum
    /// `tcp_buffered`, `rx_queue` and `tx_queue` ever seen on either side.
    pub stats: Arc<Mutex<(NetstackStats, NetstackStats, usize, usize)>>,
}

impl Drop for Pair {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A config for side A (inner 192.0.2.1) and B (inner 198.51.100.7).
pub fn base(addr: &str) -> NetstackConfig {
    NetstackConfig {
        addresses: vec![(addr.parse().unwrap(), 32)],
        mtu: 1400,
        ..Default::default()
    }
}

pub fn forward_to_b(port: u16) -> Forward {
    Forward {
        proto: Proto::Tcp,
        listen: "127.0.0.1:0".parse().unwrap(),
        remote: SocketAddr::new(B_ADDR.parse().unwrap(), port),
    }
}

pub fn expose(port: u16, local: SocketAddr) -> Expose {
    Expose {
        proto: Proto::Tcp,
        port,
        local,
    }
}

pub fn start(a: NetstackConfig, b: NetstackConfig) -> Pair {
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Mutex::new(Default::default()));
    let (tx, rx) = mpsc::channel();
    let stop2 = stop.clone();
    let stats2 = stats.clone();
    let thread = std::thread::spawn(move || {
        let mut a = Netstack::new(a).expect("netstack A");
        let mut b = Netstack::new(b).expect("netstack B");
        tx.send((a.listen_addrs(), a.udp_listen_addrs(), b.listen_addrs()))
            .unwrap();
        drive(&mut a, &mut b, &stop2, &stats2);
    });
    let (a_listen, a_udp, b_listen) = rx.recv().expect("driver started");
    Pair {
        stop,
        thread: Some(thread),
        a_listen,
        a_udp,
        b_listen,
        stats,
    }
}

type Shared = Mutex<(NetstackStats, NetstackStats, usize, usize)>;

fn drive(a: &mut Netstack, b: &mut Netstack, stop: &AtomicBool, stats: &Shared) {
    let mut outer = mio::Poll::new().unwrap();
    let (fa, fb) = (a.as_raw_fd(), b.as_raw_fd());
    outer
        .registry()
        .register(&mut SourceFd(&fa), Token(0), Interest::READABLE)
        .unwrap();
    outer
        .registry()
        .register(&mut SourceFd(&fb), Token(1), Interest::READABLE)
        .unwrap();
    let mut events = Events::with_capacity(8);
    let mut last_stats = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        let da = a.poll(now);
        let db = b.poll(now);
        let mut moved = 0;
        let dbg = std::env::var_os("NS_DEBUG").is_some();
        a.poll_outbound(&mut |p| {
            if dbg {
                dump("A→B", p);
            }
            b.receive_inner(p);
            moved += 1;
        });
        b.poll_outbound(&mut |p| {
            if dbg {
                dump("B→A", p);
            }
            a.receive_inner(p);
            moved += 1;
        });
        if now.duration_since(last_stats) > Duration::from_millis(5) {
            last_stats = now;
            let (sa, sb) = (a.stats(), b.stats());
            let mut g = stats.lock().unwrap();
            g.2 = g.2.max(sa.tcp_buffered).max(sb.tcp_buffered);
            g.3 =
                g.3.max(sa.rx_queue.max(sa.tx_queue))
                    .max(sb.rx_queue.max(sb.tx_queue));
            g.0 = sa;
            g.1 = sb;
        }
        if moved > 0 {
            continue;
        }
        let cap = Duration::from_millis(20);
        let t = [da, db].into_iter().flatten().min().unwrap_or(cap).min(cap);
        if t.is_zero() {
            continue;
        }
        let _ = outer.poll(&mut events, Some(t));
    }
}

/// A local OS service: runs `handler` for each connection on its own thread.
pub fn serve<F>(handler: F) -> SocketAddr
where
    F: Fn(TcpStream) + Send + Sync + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let h = handler.clone();
            std::thread::spawn(move || h(s));
        }
    });
    addr
}

/// Echo until EOF, then half-close (the echo of a half-closed stream).
pub fn echo(mut s: TcpStream) {
    let mut buf = [0u8; 16384];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if s.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
    let _ = s.shutdown(std::net::Shutdown::Write);
}

/// Deterministic pseudo-random bytes (xorshift), cheap to regenerate.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

pub fn read_to_end_timeout(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    s.read_to_end(&mut v)?;
    Ok(v)
}

fn dump(dir: &str, p: &[u8]) {
    use smoltcp::wire::{Ipv4Packet, Ipv6Packet, PrettyPrinter};
    if p.first().map(|b| b >> 4) == Some(6) {
        eprintln!("{dir} {}", PrettyPrinter::<Ipv6Packet<&[u8]>>::new("", &p));
    } else {
        eprintln!("{dir} {}", PrettyPrinter::<Ipv4Packet<&[u8]>>::new("", &p));
    }
}
