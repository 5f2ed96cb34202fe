//! Operations, as real processes: the control socket's defences (another
//! uid refused, a 100 MiB request line refused with the daemon's RSS
//! bounded, idle clients not blocking `esprit status`), secret files
//! (`--keylog`/`--pcap-inner` refuse a symlink and a 0644 file),
//! `esprit ike up` waiting for its outcome, and the Prometheus endpoint
//! checked with a parser of the text format.
mod support;

#[path = "support/prom.rs"]
mod prom;
#[path = "support/schema.rs"]
mod schema;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{esprit_bin, is_root, require, Scratch};

struct Daemon {
    child: Child,
    log: PathBuf,
    sock: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log says `needle` (or the daemon exits).
    fn wait_log(&mut self, needle: &str) -> String {
        let t = Instant::now();
        loop {
            let l = self.log();
            if l.contains(needle) {
                return l;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("esprit exited ({st}) before logging {needle:?}:\n{l}");
            }
            assert!(t.elapsed() < Duration::from_secs(30), "the log never said {needle:?}:\n{l}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn esprit(&self, args: &[&str]) -> Output {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--socket", self.sock.to_str().expect("utf-8 path")]);
        Command::new(esprit_bin()).args(&a).output().expect("run esprit")
    }

    fn status(&self) -> serde_json::Value {
        let out = self.esprit(&["status", "--json"]);
        assert!(out.status.success(), "esprit status: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("status JSON")
    }

    fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("/proc/PID/status");
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

fn udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `esprit run` with `toml` as DIR/NAME.toml (control socket
/// DIR/NAME.sock) and `extra` arguments; waits for "control socket ready".
fn start(dir: &Path, name: &str, toml: &str, extra: &[&str]) -> Daemon {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg, toml).unwrap();
    let log = dir.join(format!("{name}.log"));
    let f = std::fs::File::create(&log).unwrap();
    let child = Command::new(esprit_bin())
        .args(["run", "--config", cfg.to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::from(f.try_clone().unwrap()))
        .stderr(Stdio::from(f))
        .spawn()
        .expect("start esprit");
    let mut d = Daemon { child, log, sock: dir.join(format!("{name}.sock")) };
    d.wait_log("control socket ready");
    d
}

/// A netstack-mode instance without SAs or IKE; `extra` is appended.
fn plain_config(dir: &Path, name: &str, extra: &str) -> String {
    format!(
        "name = \"{name}\"\nmode = \"netstack\"\ncontrol_socket = \"{}\"\n{extra}\n[outer]\nlisten = \"127.0.0.1:{}\"\npeer_port = {}\n[netstack]\naddress = [\"10.77.0.1/32\"]\n",
        dir.join(format!("{name}.sock")).display(),
        udp_port(),
        udp_port()
    )
}

/// Two IKE peers on 127.0.0.1 (netstack mode) with PSK auth; `b` answers.
fn ike_config(dir: &Path, name: &str, me: u16, peer: u16, inner: &str, peer_inner: &str, ids: (&str, &str), start: &str, top: &str) -> String {
    format!(
        "name = \"{name}\"\nmode = \"netstack\"\ncontrol_socket = \"{}\"\n{top}\n[outer]\nlisten = \"127.0.0.1:{me}\"\npeer_port = {peer}\n\
         [netstack]\naddress = [\"{inner}/32\"]\n[[plugin]]\nspec = \"{name}.psk.plugin.toml\"\n\
         [[conn]]\nname = \"peer\"\nremote = \"127.0.0.1\"\nremote_port = {peer}\nlocal_id = \"{}\"\nremote_id = \"{}\"\nauth = \"psk\"\n\
         local_ts = [\"{inner}/32\"]\nremote_ts = [\"{peer_inner}/32\"]\nstart = \"{start}\"\n",
        dir.join(format!("{name}.sock")).display(),
        ids.0,
        ids.1
    )
}

fn psk_spec(dir: &Path, name: &str, secret: &str) {
    let wasm = esprit_plugin::build::plugin_path("psk-auth").expect("psk plugin");
    let p = dir.join(format!("{name}.psk.plugin.toml"));
    std::fs::write(&p, format!("name = \"psk\"\npath = {:?}\n[config]\npsk = \"{secret}\"\n", wasm.display().to_string())).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn have(cmd: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {cmd}")]).output().map(|o| o.status.success()).unwrap_or(false)
}

/// `esprit ARGS` as uid/gid 65534 (nobody) without capabilities.
fn as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
        .arg(esprit_bin())
        .args(args)
        .output()
        .expect("setpriv")
}

#[test]
fn control_socket_refuses_another_uid() {
    if !require(is_root(), "root (to run a client as another uid)") || !require(have("setpriv"), "setpriv (util-linux)") {
        return;
    }
    let dir = Scratch::new("ops-peercred");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = start(&dir.0, "a", &plain_config(&dir.0, "a", ""), &[]);
    let sock = d.sock.to_str().unwrap().to_string();
    assert_eq!(std::fs::metadata(&d.sock).unwrap().permissions().mode() & 0o777, 0o600);
    // The socket's mode keeps nobody out...
    let out = as_nobody(&["status", "--socket", &sock]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("Permission denied"), "exit {:?}: {err}", out.status);
    // ...and with a wider mode the peer credentials still do.
    std::fs::set_permissions(&d.sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    for args in [&["status", "--socket", &sock][..], &["ike", "down", "x", "--socket", &sock][..]] {
        let out = as_nobody(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "nobody could run esprit {args:?}");
        assert!(err.contains("permission denied: uid 65534 may not command this esprit"), "{err}");
    }
    let mut d = d;
    d.wait_log("control socket: connection refused");
    let st = d.status();
    assert_eq!(st["control"]["refused_peers"], 2, "{st}");
    assert_eq!(st["version"], 1);
    println!("nobody: refused (mode 0600: EACCES; mode 0666: SO_PEERCRED), counted {}", st["control"]["refused_peers"]);
}

#[test]
fn a_100_mib_request_line_is_refused_with_rss_bounded() {
    let dir = Scratch::new("ops-bigline");
    let d = start(&dir.0, "a", &plain_config(&dir.0, "a", ""), &[]);
    let before = d.rss_kib();
    let conn = UnixStream::connect(&d.sock).unwrap();
    let mut w = conn.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 20];
        let mut sent = 0usize;
        for _ in 0..100 {
            match w.write_all(&chunk) {
                Ok(()) => sent += chunk.len(),
                Err(_) => break, // the daemon closed the connection
            }
        }
        sent
    });
    let mut reply = String::new();
    BufReader::new(&conn).read_line(&mut reply).unwrap();
    let sent = writer.join().unwrap();
    let after = d.rss_kib();
    println!("100 MiB request line: daemon VmRSS {before} kB before, {after} kB after ({} kB more); the client got {sent} bytes out before the daemon closed", after as i64 - before as i64);
    assert!(reply.contains("request longer than 65536 bytes"), "{reply}");
    assert!(reply.contains("\"version\":1"), "{reply}");
    assert!(after < before + 8 * 1024, "RSS grew from {before} kB to {after} kB");
    assert!(sent < 100 << 20, "the daemon read the whole 100 MiB");
    assert_eq!(d.status()["control"]["too_long"], 1);
}

#[test]
fn five_idle_clients_do_not_block_status() {
    let dir = Scratch::new("ops-idle");
    let d = start(&dir.0, "a", &plain_config(&dir.0, "a", ""), &[]);
    let idle: Vec<UnixStream> = (0..5).map(|_| UnixStream::connect(&d.sock).unwrap()).collect();
    let t = Instant::now();
    let st = d.status();
    assert_eq!(st["schema_version"], 1, "{st}");
    schema::check_status(&st);
    // The idle clients are still connected (not served one after the other
    // until their deadlines ran out).
    for mut c in idle {
        c.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        let r = c.read(&mut b);
        assert!(matches!(r, Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock), "an idle client was closed: {r:?}");
    }
    println!("esprit status with 5 idle clients connected answered in {:?}", t.elapsed());
    let brief = d.esprit(&["status", "--brief"]);
    assert!(brief.status.success() && String::from_utf8_lossy(&brief.stdout).starts_with("esprit a (netstack) up "), "{brief:?}");
    let full = String::from_utf8_lossy(&d.esprit(&["status"]).stdout).to_string();
    assert!(!full.contains("Stats {") && !full.contains(" { "), "a Debug dump in the status:\n{full}");
}

/// Runs `esprit run ...` that must fail at start; returns its stderr.
fn run_fails(dir: &Path, name: &str, toml: &str, extra: &[&str]) -> String {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg, toml).unwrap();
    let mut child = Command::new(esprit_bin())
        .args(["run", "--config", cfg.to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("esprit run {extra:?} did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(!status.success(), "esprit run {extra:?} succeeded: {err}");
    err
}

#[test]
fn keylog_and_inner_capture_refuse_symlinks_and_wide_files() {
    let dir = Scratch::new("ops-secrets");
    let target = dir.path("victim");
    let link = dir.path("keys.link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = run_fails(&dir.0, "a", &plain_config(&dir.0, "a", ""), &["--keylog", link.to_str().unwrap()]);
    assert!(err.contains("is a symbolic link; refusing to write secrets through it"), "{err}");
    assert!(!target.exists(), "the key log followed the symlink");
    let wide = dir.path("keys.wide");
    std::fs::write(&wide, "").unwrap();
    std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = run_fails(&dir.0, "a", &plain_config(&dir.0, "a", ""), &["--keylog", wide.to_str().unwrap()]);
    assert!(err.contains("exists with mode 0644") && err.contains("chmod 600"), "{err}");
    let err = run_fails(&dir.0, "a", &plain_config(&dir.0, "a", ""), &["--pcap-inner", wide.to_str().unwrap()]);
    assert!(err.contains("exists with mode 0644"), "{err}");
    let err = run_fails(&dir.0, "a", &plain_config(&dir.0, "a", ""), &["--pcap-inner", link.to_str().unwrap()]);
    assert!(err.contains("symbolic link"), "{err}");
    // A fresh key log is 0600.
    let fresh = dir.path("keys.new");
    let d = start(&dir.0, "b", &plain_config(&dir.0, "b", ""), &["--keylog", fresh.to_str().unwrap()]);
    assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o600);
    drop(d);
}

#[test]
fn a_psk_syntax_error_does_not_echo_the_key() {
    let dir = Scratch::new("ops-psk-echo");
    let (pa, pb) = (udp_port(), udp_port());
    let toml = ike_config(&dir.0, "a", pa, pb, "10.78.0.1", "10.78.0.2", ("a.example", "b.example"), "none", "");
    std::fs::write(dir.path("a.psk.plugin.toml"), "name = \"psk\"\npath = \"x.wasm\"\n[config]\npsk = \"TOPSECRET-0123456789\n").unwrap();
    let err = run_fails(&dir.0, "a", &toml, &[]);
    assert!(err.contains("a.psk.plugin.toml:4:"), "{err}");
    assert!(!err.contains("TOPSECRET"), "the PSK was echoed: {err}");
}

#[test]
fn ike_up_waits_for_the_outcome() {
    let dir = Scratch::new("ops-ike-up");
    let (pa, pb) = (udp_port(), udp_port());
    psk_spec(&dir.0, "a", "the-right-secret-1");
    psk_spec(&dir.0, "b", "a-wrong-secret-22");
    let _b = start(&dir.0, "b", &ike_config(&dir.0, "b", pb, pa, "10.79.0.2", "10.79.0.1", ("b.example", "a.example"), "none", ""), &[]);
    let a = start(&dir.0, "a", &ike_config(&dir.0, "a", pa, pb, "10.79.0.1", "10.79.0.2", ("a.example", "b.example"), "none", ""), &[]);
    // A wrong PSK: non-zero exit and the reason.
    let out = a.esprit(&["ike", "up", "peer", "--timeout", "20s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    println!("esprit ike up (wrong PSK): exit {:?}: {err}", out.status.code());
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("conn \"peer\": up failed:") && err.contains("AUTHENTICATION_FAILED"), "{err}");
    // An unknown conn.
    let out = a.esprit(&["ike", "up", "nosuch"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no [[conn]] named \"nosuch\""));
    // The right PSK: the CHILD_SA and its SPIs.
    drop(a);
    psk_spec(&dir.0, "a2", "a-wrong-secret-22");
    let a = start(&dir.0, "a2", &ike_config(&dir.0, "a2", pa, pb, "10.79.0.1", "10.79.0.2", ("a.example", "b.example"), "none", ""), &[]);
    let out = a.esprit(&["ike", "up", "peer", "--timeout", "20s"]);
    let so = String::from_utf8_lossy(&out.stdout);
    println!("esprit ike up (right PSK): exit {:?}: {so}", out.status.code());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(so.starts_with("conn \"peer\": CHILD_SA \"peer\" established (spi in 0x") && so.contains(", out 0x"), "{so}");
    let st = a.status();
    let ike = &st["ike"]["ike_sas"][0];
    assert!(ike["age_s"].as_u64().is_some(), "{st}");
    // Rekeys answer when the new SA is up.
    let out = a.esprit(&["ike", "rekey", "peer", "--timeout", "20s"]);
    let so = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && so.contains("CHILD_SA \"peer\" rekeyed (spi in 0x"), "{out:?}");
    let out = a.esprit(&["ike", "rekey-ike", "peer", "--timeout", "20s"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("IKE SA rekeyed"), "{out:?}");
    println!("esprit ike rekey / rekey-ike: {so}{}", String::from_utf8_lossy(&out.stdout));
    // Down: the IKE SA is deleted.
    let out = a.esprit(&["ike", "down", "peer", "--timeout", "20s"]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("IKE SA deleted"), "{out:?}");
}

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

#[test]
fn the_default_temp_socket_dir_must_be_ours() {
    if !require(is_root(), "root (to run the daemon as another uid)") || !require(have("setpriv"), "setpriv (util-linux)") {
        return;
    }
    let dir = Scratch::new("ops-tmpdir");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tmp = dir.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let cfg = dir.path("x.toml");
    let toml = format!(
        "name = \"x\"\nmode = \"netstack\"\n[outer]\nlisten = \"127.0.0.1:{}\"\npeer_port = {}\n[netstack]\naddress = [\"10.81.0.1/32\"]\n",
        udp_port(),
        udp_port()
    );
    std::fs::write(&cfg, toml).unwrap();
    let run_as_nobody = |log: &Path| {
        let f = std::fs::File::create(log).unwrap();
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
            .arg(esprit_bin())
            .args(["run", "--config", cfg.to_str().unwrap()])
            .env("TMPDIR", &tmp)
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("USER")
            .stdout(Stdio::null())
            .stderr(Stdio::from(f))
            .spawn()
            .unwrap()
    };
    // Another user (root here) created esprit-65534 first: refused.
    let squatted = tmp.join("esprit-65534");
    std::fs::create_dir(&squatted).unwrap();
    std::fs::set_permissions(&squatted, std::fs::Permissions::from_mode(0o777)).unwrap();
    let log = dir.path("squatted.log");
    let status = run_as_nobody(&log).wait().unwrap();
    let err = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "esprit used a socket directory another user owns:\n{err}");
    assert!(err.contains("esprit-65534 belongs to uid 0, not to us (uid 65534)"), "{err}");
    // Without it, esprit creates it 0700 and its own.
    std::fs::remove_dir(&squatted).unwrap();
    let log = dir.path("fresh.log");
    let child = run_as_nobody(&log);
    let mut d = Daemon { child, log, sock: squatted.join("x.sock") };
    d.wait_log("control socket ready");
    let m = std::fs::metadata(&squatted).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((m.uid(), m.mode() & 0o7777), (65534, 0o700));
    assert!(d.log().contains(&format!("socket={}", squatted.join("x.sock").display())), "{}", d.log());
}
