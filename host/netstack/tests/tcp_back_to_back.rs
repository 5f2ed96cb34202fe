//! TCP through two netstacks wired back to back: A forwards a local port to
//! B's inner address, where B exposes a local OS service.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use common::*;
use sha2::{Digest, Sha256};

const SIZE_20MB: usize = 20 * 1024 * 1024;

fn pair_for(service: std::net::SocketAddr) -> Pair {
    let mut a = base(A_ADDR);
    a.forwards.push(forward_to_b(80));
    let mut b = base(B_ADDR);
    b.exposes.push(expose(80, service));
    start(a, b)
}

#[test]
fn http_like_20mb_download_and_upload_sha256() {
    // GET: the server answers with a 20 MB body. PUT: the server hashes what
    // it receives and answers with the hex digest.
    let service = serve(|mut s| {
        let mut req = Vec::new();
        let mut b = [0u8; 1];
        while !req.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).unwrap_or(0) == 0 {
                return;
            }
            req.push(b[0]);
        }
        if req.starts_with(b"GET") {
            let body = pattern(42, SIZE_20MB);
            let _ = s.write_all(
                format!("HTTP/1.0 200 OK\r\nContent-Length: {SIZE_20MB}\r\n\r\n").as_bytes(),
            );
            let _ = s.write_all(&body);
        } else {
            let mut h = Sha256::new();
            let mut buf = vec![0u8; 65536];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => h.update(&buf[..n]),
                }
            }
            let _ = s.write_all(format!("HTTP/1.0 200 OK\r\n\r\n{:x}", h.finalize()).as_bytes());
        }
    });
    let pair = pair_for(service);
    let expected = format!("{:x}", Sha256::digest(pattern(42, SIZE_20MB)));

    let t0 = Instant::now();
    let mut c = connect(pair.a_listen[0]);
    c.write_all(b"GET /20m HTTP/1.0\r\n\r\n").unwrap();
    let resp = read_to_end_timeout(&mut c).unwrap();
    let dt = t0.elapsed();
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header")
        + 4;
    assert_eq!(resp.len() - split, SIZE_20MB);
    assert_eq!(format!("{:x}", Sha256::digest(&resp[split..])), expected);
    eprintln!(
        "20 MB download through two netstacks: {:.1?} ({:.0} Mbit/s, {} build)",
        dt,
        SIZE_20MB as f64 * 8.0 / dt.as_secs_f64() / 1e6,
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );

    let t0 = Instant::now();
    let mut c = connect(pair.a_listen[0]);
    c.write_all(b"PUT /20m HTTP/1.0\r\n\r\n").unwrap();
    c.write_all(&pattern(42, SIZE_20MB)).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let resp = read_to_end_timeout(&mut c).unwrap();
    let dt = t0.elapsed();
    assert!(
        String::from_utf8_lossy(&resp).ends_with(&expected),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    eprintln!(
        "20 MB upload through two netstacks: {:.1?} ({:.0} Mbit/s, {} build)",
        dt,
        SIZE_20MB as f64 * 8.0 / dt.as_secs_f64() / 1e6,
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
}

#[test]
fn fifty_concurrent_connections() {
    let pair = pair_for(serve(echo));
    let addr = pair.a_listen[0];
    let threads: Vec<_> = (0..50u64)
        .map(|i| {
            std::thread::spawn(move || {
                let data = pattern(i + 1, 256 * 1024 + i as usize * 97);
                let mut c = connect(addr);
                let mut r = c.try_clone().unwrap();
                let reader = std::thread::spawn(move || read_to_end_timeout(&mut r).unwrap());
                c.write_all(&data).unwrap();
                c.shutdown(Shutdown::Write).unwrap();
                let got = reader.join().unwrap();
                assert_eq!(got.len(), data.len(), "connection {i}");
                assert!(got == data, "connection {i} corrupted");
            })
        })
        .collect();
    for t in threads {
        t.join().expect("connection thread");
    }
    // Everything is torn down afterwards.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (a, b) = {
            let g = pair.stats.lock().unwrap();
            (g.0.clone(), g.1.clone())
        };
        if a.tcp_active == 0 && b.tcp_active == 0 {
            assert!(a.tcp_opened >= 50 && b.tcp_opened >= 50);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "connections left open: A {a:?} B {b:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn half_close_client_first_then_server_answers() {
    // The server reads to EOF (our FIN crossed both stacks), then answers.
    let service = serve(|mut s| {
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        let _ = s.write_all(format!("got {} bytes after your FIN", got.len()).as_bytes());
    });
    let pair = pair_for(service);
    let mut c = connect(pair.a_listen[0]);
    c.write_all(&[7u8; 100_000]).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let resp = read_to_end_timeout(&mut c).unwrap();
    assert_eq!(resp, b"got 100000 bytes after your FIN");
}

#[test]
fn server_closes_first() {
    let service = serve(|mut s| {
        let _ = s.write_all(b"bye");
        // Close both directions at once; the client still writes afterwards.
    });
    let pair = pair_for(service);
    let mut c = connect(pair.a_listen[0]);
    let resp = read_to_end_timeout(&mut c).unwrap();
    assert_eq!(resp, b"bye");
    // Our half is still open: we can still write and close normally.
    let _ = c.write_all(b"late");
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(10);
    while pair.stats.lock().unwrap().0.tcp_active != 0 {
        assert!(Instant::now() < deadline, "A kept the connection");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn server_reset_reaches_client_as_reset() {
    let service = serve(|s| {
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        drop(s); // RST
    });
    let pair = pair_for(service);
    let mut c = connect(pair.a_listen[0]);
    let mut buf = [0u8; 16];
    let r = c.read(&mut buf);
    assert!(
        matches!(&r, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "expected a reset, got {r:?}"
    );
}

#[test]
fn client_reset_reaches_server_as_reset() {
    let (tx, rx) = std::sync::mpsc::channel();
    let service = serve(move |mut s| {
        let mut buf = [0u8; 16];
        let r = s.read(&mut buf);
        let r2 = if matches!(r, Ok(n) if n > 0) {
            s.read(&mut buf)
        } else {
            r
        };
        let _ = tx.send(r2.map_err(|e| e.kind()));
    });
    let pair = pair_for(service);
    let c = connect(pair.a_listen[0]);
    (&c).write_all(b"hi").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    socket2::SockRef::from(&c)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(c);
    let r = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server saw something");
    assert_eq!(r, Err(ErrorKind::ConnectionReset));
}

#[test]
fn expose_to_closed_local_port_resets_the_client() {
    // Nothing listens on the exposed local port.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let pair = pair_for(dead_addr);
    let mut c = connect(pair.a_listen[0]);
    let mut buf = [0u8; 16];
    let r = c.read(&mut buf);
    assert!(
        matches!(&r, Err(e) if e.kind() == ErrorKind::ConnectionReset) || matches!(r, Ok(0)),
        "expected reset or EOF, got {r:?}"
    );
}

#[test]
fn backpressure_keeps_buffers_bounded() {
    // The server writes as fast as it can; the client reads slowly. The
    // netstacks must not buffer more than their configured TCP buffers, and
    // the server must end up blocked.
    let written = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let w2 = written.clone();
    let service = serve(move |mut s| {
        let chunk = vec![0x5a; 65536];
        s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        while s.write_all(&chunk).is_ok() {
            w2.fetch_add(chunk.len(), std::sync::atomic::Ordering::SeqCst);
        }
    });
    let mut a = base(A_ADDR);
    a.forwards.push(forward_to_b(80));
    a.tcp_buffer = 32 * 1024;
    let mut b = base(B_ADDR);
    b.exposes.push(expose(80, service));
    b.tcp_buffer = 32 * 1024;
    let pair = start(a, b);
    let mut c = connect(pair.a_listen[0]);
    let mut read = 0usize;
    let mut buf = [0u8; 4096];
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        read += c.read(&mut buf).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    // Once nobody reads, the kernel buffers on the way fill up (their size is
    // autotuned, so this takes a moment) and then the server must stall.
    let stall_deadline = Instant::now() + Duration::from_secs(15);
    let (mut w_before, mut w_after);
    loop {
        w_before = written.load(std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(700));
        w_after = written.load(std::sync::atomic::Ordering::SeqCst);
        if w_before == w_after || Instant::now() > stall_deadline {
            break;
        }
    }
    let (sa, sb, max_buffered, max_queue) = pair.stats.lock().unwrap().clone();
    eprintln!(
        "slow reader: read {read} B, server wrote {w_after} B; max buffered in a netstack {max_buffered} B, max queue {max_queue} pkts; A {sa:?} B {sb:?}"
    );
    // Each netstack holds at most its two 32 KiB buffers for this connection.
    assert!(
        max_buffered <= 2 * 32 * 1024,
        "netstack buffered {max_buffered} B"
    );
    assert!(max_queue <= 512);
    // The server is stalled: no progress while the client does not read.
    assert_eq!(
        w_before, w_after,
        "server kept writing although nobody reads"
    );
    // Slack = kernel socket buffers on both OS hops + the bounded netstack buffers.
    assert!(
        w_after - read < 48 * 1024 * 1024,
        "slack {} B",
        w_after - read
    );
    // And the data still flows once the reader speeds up.
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut more = 0;
    while more < 4 * 1024 * 1024 {
        more += c.read(&mut buf).unwrap();
    }
}

#[test]
fn max_connections_resets_what_is_over_the_limit() {
    let mut a = base(A_ADDR);
    a.forwards.push(forward_to_b(80));
    a.max_connections = 2;
    let mut b = base(B_ADDR);
    b.exposes.push(expose(80, serve(echo)));
    let pair = start(a, b);
    let addr = pair.a_listen[0];
    let mut c1 = connect(addr);
    let mut c2 = connect(addr);
    let mut buf = [0u8; 2];
    for c in [&mut c1, &mut c2] {
        c.write_all(b"ok").unwrap();
        c.read_exact(&mut buf).unwrap();
    }
    // The third is reset at once (it hung in the accept queue before).
    let mut c3 = connect(addr);
    c3.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = c3.write_all(b"c3");
    let r = c3.read(&mut buf);
    assert!(
        matches!(r, Ok(0)) || matches!(r, Err(ref e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "third connection not refused at the limit: {r:?}"
    );
    // Counted (the driver refreshes the stats after each round).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pair.stats.lock().unwrap().0.tcp_limited == 0 {
        assert!(std::time::Instant::now() < deadline, "the refused connection was not counted");
        std::thread::yield_now();
    }
    // Closing one frees a slot for the next.
    c1.shutdown(Shutdown::Write).unwrap();
    let _ = read_to_end_timeout(&mut c1);
    drop(c1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut c4 = connect(addr);
        c4.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let served = c4.write_all(b"c4").is_ok() && c4.read_exact(&mut buf).is_ok();
        if served {
            assert_eq!(&buf, b"c4");
            break;
        }
        // The slot frees when the netstack has seen c1's close through.
        assert!(std::time::Instant::now() < deadline, "no slot freed after a close");
    }
}
