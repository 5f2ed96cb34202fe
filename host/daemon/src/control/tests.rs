use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use serde_json::Value;

use super::*;

fn dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("esprit-ctl-test-{tag}-{}", std::process::id()))
}

#[test]
fn round_trip_and_bad_request() {
    let dir = dir("rt");
    let path = dir.join("c.sock");
    let stats = Arc::new(ControlStats::default());
    serve(&path, Arc::clone(&stats), |req| match req {
        Request::Status => serde_json::json!({"ok": true}),
        Request::PolicyTest { flow } => serde_json::json!({"flow": flow}),
        Request::Ike { .. } | Request::Reload => serde_json::json!({"ok": true}),
    })
    .unwrap();
    let v = request(&path, &Request::Status).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["version"], VERSION);
    let v = request(&path, &Request::PolicyTest { flow: "tcp 1.2.3.4:1 -> 5.6.7.8:2".into() }).unwrap();
    assert_eq!(v["flow"], "tcp 1.2.3.4:1 -> 5.6.7.8:2");
    let ask = |line: &str| {
        let mut raw = UnixStream::connect(&path).unwrap();
        writeln!(raw, "{line}").unwrap();
        let mut reply = String::new();
        BufReader::new(&raw).read_line(&mut reply).unwrap();
        reply
    };
    // The format before versioning still works.
    assert!(ask(r#"{"cmd":"status"}"#).contains("\"ok\":true"));
    assert!(ask(r#"{"cmd":"explode"}"#).contains("bad request"));
    assert!(ask(r#"{"cmd":"status","version":2}"#).contains("unsupported control protocol version 2"));
    assert!(serve(&path, Arc::new(ControlStats::default()), |_| Value::Null).unwrap_err().to_string().contains("in use"));
    assert_eq!(stats.bad_requests.load(std::sync::atomic::Ordering::Relaxed), 2);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn long_line_refused_and_idle_clients_do_not_block() {
    let dir = dir("lim");
    let path = dir.join("c.sock");
    let stats = Arc::new(ControlStats::default());
    serve(&path, Arc::clone(&stats), |_| serde_json::json!({"ok": true})).unwrap();
    let idle: Vec<UnixStream> = (0..5).map(|_| UnixStream::connect(&path).unwrap()).collect();
    assert_eq!(request(&path, &Request::Status).unwrap()["ok"], true);
    let mut raw = UnixStream::connect(&path).unwrap();
    let chunk = vec![b'x'; limits::MAX_REQUEST + 10];
    // The daemon replies and closes after MAX_REQUEST + 1 bytes.
    let _ = raw.write_all(&chunk);
    let mut reply = String::new();
    BufReader::new(&raw).read_line(&mut reply).unwrap();
    assert!(reply.contains("longer than"), "{reply}");
    assert_eq!(stats.too_long.load(std::sync::atomic::Ordering::Relaxed), 1);
    drop(idle);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn clients_over_the_cap_are_told_busy() {
    let dir = dir("busy");
    let path = dir.join("c.sock");
    let stats = Arc::new(ControlStats::default());
    serve(&path, Arc::clone(&stats), |_| serde_json::json!({"ok": true})).unwrap();
    // MAX_CLIENTS idle connections hold every slot (until their deadline).
    let idle: Vec<UnixStream> = (0..limits::MAX_CLIENTS).map(|_| UnixStream::connect(&path).unwrap()).collect();
    let e = request(&path, &Request::Status).unwrap_err().to_string();
    assert!(e.contains("busy: 16 control clients"), "{e}");
    assert_eq!(stats.busy.load(std::sync::atomic::Ordering::Relaxed), 1);
    drop(idle);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_trickling_client_is_cut_at_the_deadline() {
    let (a, mut b) = UnixStream::pair().unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_millis(300);
    let writer = std::thread::spawn(move || {
        // A byte at a time, slower than the deadline allows in total.
        for _ in 0..20 {
            if b.write_all(b"x").is_err() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        b
    });
    let r = limits::read_line(limits::Deadlined { conn: &a, until }, limits::MAX_REQUEST);
    assert!(matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::WouldBlock), "{r:?}");
    drop(a);
    let _ = writer.join().unwrap();
}
