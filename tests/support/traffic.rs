//! Traffic and wire checks for the end-to-end tests: tcpdump in a
//! namespace (stopped with SIGINT so every packet is on disk before it is
//! counted), ping, and a TCP transfer with sha256 compared on both ends.
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use super::netns::{ChildGuard, Netns};
use super::Scratch;

/// A packet capture on one device of a namespace.
pub struct Capture {
    file: PathBuf,
    log: PathBuf,
    proc: Option<ChildGuard>,
}

impl Capture {
    /// Starts tcpdump on `dev` and waits until it listens.
    pub fn start(ns: &Netns, dev: &str, dir: &Scratch, tag: &str) -> Capture {
        let file = dir.path(&format!("{tag}.pcap"));
        let log = dir.path(&format!("{tag}.tcpdump.log"));
        // Headers only (small ring frames) and a large buffer: a capture that
        // lost packets could miss a leak, and `stop` checks that it lost none.
        let proc = ns.start(&["tcpdump", "-i", dev, "-n", "-s", "128", "-B", "32768", "-U", "--immediate-mode", "-w", file.to_str().expect("utf-8")], &log);
        let t0 = Instant::now();
        while !std::fs::read_to_string(&log).unwrap_or_default().contains("listening") {
            assert!(t0.elapsed() < Duration::from_secs(10), "tcpdump on {dev} in {} did not start", ns.name);
            std::thread::sleep(Duration::from_millis(50));
        }
        Capture { file, log, proc: Some(proc) }
    }

    /// Stops tcpdump once it has written everything (the file did not grow
    /// for 300 ms: tcpdump does not drain its ring on SIGINT) and checks
    /// that it lost nothing: no kernel drops, and every packet the filter
    /// passed was written.
    pub fn stop(&mut self) {
        let size = || std::fs::metadata(&self.file).map(|m| m.len()).unwrap_or(0);
        let (t0, mut last, mut quiet_since) = (Instant::now(), size(), Instant::now());
        while quiet_since.elapsed() < Duration::from_millis(300) && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
            let now = size();
            if now != last {
                (last, quiet_since) = (now, Instant::now());
            }
        }
        if let Some(p) = self.proc.take() {
            p.interrupt(Duration::from_secs(5));
        }
        let t0 = Instant::now();
        let stat = |log: &str, what: &str| log.lines().find_map(|l| l.strip_suffix(what)).and_then(|n| n.trim().parse::<u64>().ok());
        let (log, dropped) = loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let dropped = stat(&log, " packets dropped by kernel");
            if dropped.is_some() || t0.elapsed() > Duration::from_secs(5) {
                break (log, dropped);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let (captured, passed) = (stat(&log, " packets captured"), stat(&log, " packets received by filter"));
        assert!(dropped == Some(0) && captured.is_some() && captured == passed, "the capture {} is incomplete (kernel drops, or packets not written) or tcpdump did not report:\n{log}", self.file.display());
    }

    /// How many captured packets match the tcpdump `filter`.
    pub fn count(&self, filter: &str) -> usize {
        self.lines(&[], filter).len()
    }

    /// tcpdump's lines (with extra options such as `-tt`) for `filter`.
    pub fn lines(&self, opts: &[&str], filter: &str) -> Vec<String> {
        let o = std::process::Command::new("tcpdump").args(["-r", self.file.to_str().expect("utf-8"), "-n"]).args(opts).arg(filter).output().expect("tcpdump -r");
        assert!(o.status.success(), "tcpdump -r with filter {filter:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect()
    }
}

/// `ping -c N -i 0.2 -W W [-I from] to`.
pub fn ping(ns: &Netns, from: Option<&str>, to: &str, count: u32, wait: u32) -> Output {
    let (c, w) = (count.to_string(), wait.to_string());
    let mut args = vec!["ping", "-c", &c, "-i", "0.2", "-W", &w];
    if let Some(f) = from {
        args.extend(["-I", f]);
    }
    args.push(to);
    ns.output(&args)
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn xfer_script() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/support/xfer.py")
}

/// Sends `bytes` from `client` to a receiver on `to` in `server`; bytes and
/// sha256 must be equal on both ends.
pub fn transfer(server: &Netns, client: &Netns, to: (&str, u16), bytes: u64, dir: &Scratch, tag: &str) {
    let slog = dir.path(&format!("{tag}-recv.log"));
    let port = to.1.to_string();
    let srv = server.start(&["python3", xfer_script(), "recv", to.0, &port], &slog);
    let t0 = Instant::now();
    while !std::fs::read_to_string(&slog).unwrap_or_default().contains("LISTENING") {
        assert!(t0.elapsed() < Duration::from_secs(10), "[{tag}] receiver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = client.output(&["python3", xfer_script(), "send", to.0, &port, &bytes.to_string()]);
    let sent = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "[{tag}] sender failed: {}", text(&out));
    srv.wait(Duration::from_secs(60));
    let recv = std::fs::read_to_string(&slog).unwrap_or_default();
    let line = |t: &str, k: &str| t.lines().find_map(|l| l.strip_prefix(k)).map(str::to_string);
    let s = line(&sent, "SENT ").unwrap_or_else(|| panic!("[{tag}] sender printed no SENT line: {sent}"));
    let r = line(&recv, "RECV ").unwrap_or_else(|| panic!("[{tag}] receiver printed no RECV line: {recv}"));
    assert_eq!(s, r, "[{tag}] bytes/sha256 differ between sender and receiver");
    assert!(s.starts_with(&format!("{bytes} ")), "[{tag}] sent {s}, wanted {bytes} bytes");
    eprintln!("[{tag}] transfer ok: {s} in {:?}", t0.elapsed());
}
