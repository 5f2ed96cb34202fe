//! The Prometheus endpoint (`metrics_listen`) with traffic through a
//! tunnel, checked with a strict parser of the text exposition format; the
//! status of the same daemon is checked against docs/status.schema.json.
mod support;
#[path = "support/prom.rs"]
mod prom;
#[path = "support/schema.rs"]
mod schema;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use support::daemon::*;
use support::Scratch;

/// Scrapes `GET /metrics` with a plain HTTP/1.1 request.
fn scrape(port: u16) -> (String, String) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect to metrics_listen");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(c, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n").unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").expect("HTTP head and body");
    (head.to_string(), body.to_string())
}

#[test]
fn metrics_endpoint_speaks_the_prometheus_text_format() {
    let dir = Scratch::new("ops-metrics");
    let (pa, pb) = (udp_port(), udp_port());
    let mport = tcp_port();
    psk_spec(&dir.0, "a", "same-secret-for-both");
    psk_spec(&dir.0, "b", "same-secret-for-both");
    // Traffic: A's forward 127.0.0.1:FWD -> B's inner :80, exposed by B to
    // a local HTTP service.
    let http = TcpListener::bind("127.0.0.1:0").unwrap();
    let hport = http.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in http.incoming().flatten() {
            let mut req = [0u8; 1024];
            let _ = c.read(&mut req);
            let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\nhello, esp!\n");
        }
    });
    let fwd = tcp_port();
    let expose = format!("[[netstack.expose]]\nport = 80\nto = \"127.0.0.1:{hport}\"\n");
    let forward = format!("[[netstack.forward]]\nlisten = \"127.0.0.1:{fwd}\"\nto = \"10.80.0.2:80\"\n");
    let _b = start(&dir.0, "b", &(ike_config(&dir.0, "b", pb, pa, "10.80.0.2", "10.80.0.1", ("b.example", "a.example"), "none", "") + &expose), &[]);
    let top = format!("metrics_listen = \"127.0.0.1:{mport}\"");
    let a_cfg = ike_config(&dir.0, "a", pa, pb, "10.80.0.1", "10.80.0.2", ("a.example", "b.example"), "start", &top) + &forward;
    // One TCP connection at a time, to see the limit counted.
    let a_cfg = a_cfg.replace("[netstack]\n", "[netstack]\nmax_connections = 1\n");
    let mut a = start(&dir.0, "a", &a_cfg, &[]);
    a.wait_log("metrics endpoint ready");
    a.wait_log("CHILD_SA peer established");
    // Wait for the status to show the installed SAs (an event, not a delay).
    let t = Instant::now();
    while a.status()["sas"].as_array().map(|s| s.len()) != Some(2) {
        assert!(t.elapsed() < Duration::from_secs(20), "no SAs in {}", a.status());
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut c = TcpStream::connect(("127.0.0.1", fwd)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut reply = String::new();
    let _ = c.read_to_string(&mut reply);
    assert!(reply.contains("hello, esp!"), "no reply through the tunnel: {reply:?}\n{}", a.log());
    // Over the limit: c1 holds the only slot (the service waits for its
    // request), c2 is reset and counted.
    let _c1 = TcpStream::connect(("127.0.0.1", fwd)).unwrap();
    let _c2 = TcpStream::connect(("127.0.0.1", fwd)).unwrap();
    let t = Instant::now();
    while a.status()["netstack"]["tcp_limited"].as_u64().unwrap_or(0) == 0 {
        assert!(t.elapsed() < Duration::from_secs(60), "the connection limit was not counted: {}", a.status());
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("tcp_limited counted after {:?}", t.elapsed());
    // A status with IKE SAs, CHILD_SAs and SAs matches the published schema.
    let st = a.status();
    schema::check_status(&st);
    assert!(st["ike"]["ike_sas"][0]["rekey_in_s"].as_u64().is_some() || st["ike"]["ike_sas"][0]["age_s"].as_u64().is_some(), "{st}");
    let (head, body) = scrape(mport);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("Content-Type: text/plain; version=0.0.4"), "{head}");
    let fams = prom::parse(&body).unwrap_or_else(|e| panic!("not the Prometheus text format: {e}\n{body}"));
    for (name, kind) in [
        ("esprit_sa_bytes_total", "counter"),
        ("esprit_sa_packets_total", "counter"),
        ("esprit_drops_total", "counter"),
        ("esprit_ike_sas", "gauge"),
        ("esprit_plugin_calls_total", "counter"),
        ("esprit_plugin_faults_total", "counter"),
        ("esprit_held_packets", "gauge"),
        ("esprit_packets_total", "counter"),
        ("esprit_ike_events_total", "counter"),
        ("esprit_control_requests_total", "counter"),
        ("esprit_netstack_tcp_connections", "gauge"),
    ] {
        let f = fams.get(name).unwrap_or_else(|| panic!("no family {name}:\n{body}"));
        assert_eq!(f.kind, kind, "{name}");
        assert!(!f.help.is_empty(), "{name} has no HELP");
    }
    let sa = &fams["esprit_sa_bytes_total"].samples;
    assert_eq!(sa.len(), 4, "two SAs, two directions each:\n{body}");
    for s in sa {
        let keys: Vec<&str> = s.labels.keys().map(String::as_str).collect();
        assert_eq!(keys, ["direction", "protocol", "spi"], "{s:?}");
        assert!(s.labels["spi"].starts_with("0x") && s.labels["protocol"] == "esp", "{s:?}");
    }
    let out_bytes: f64 = sa.iter().filter(|s| s.labels["direction"] == "out").map(|s| s.value).sum();
    let in_bytes: f64 = sa.iter().filter(|s| s.labels["direction"] == "in").map(|s| s.value).sum();
    assert!(out_bytes > 0.0 && in_bytes > 0.0, "the HTTP exchange was not counted on the SAs:\n{body}");
    let protected = fams["esprit_packets_total"].samples.iter().find(|s| s.labels["kind"] == "out_protected").map(|s| s.value);
    assert!(protected.is_some_and(|v| v > 0.0), "{body}");
    let limited = fams["esprit_netstack_events_total"].samples.iter().find(|s| s.labels["event"] == "tcp_limited").map(|s| s.value);
    assert!(limited.is_some_and(|v| v > 0.0), "{body}");
    let established = fams["esprit_ike_sas"].samples.iter().find(|s| s.labels.get("state").map(String::as_str) == Some("Established"));
    assert_eq!(established.map(|s| s.value), Some(1.0), "{body}");
    let ike_received = fams["esprit_ike_events_total"].samples.iter().find(|s| s.labels["event"] == "received").map(|s| s.value);
    assert!(ike_received.is_some_and(|v| v >= 1.0), "{body}");
    // Other paths and methods.
    let mut c = TcpStream::connect(("127.0.0.1", mport)).unwrap();
    write!(c, "GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut r = String::new();
    c.read_to_string(&mut r).unwrap();
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    println!("metrics: {} families, {} samples, all parsed; SA octets out {out_bytes}, in {in_bytes}", fams.len(), fams.values().map(|f| f.samples.len()).sum::<usize>());
}

