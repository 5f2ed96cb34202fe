//! One `esprit run` on 127.0.0.1 without namespaces (netstack mode,
//! rootless), as the operations tests drive it: started from a TOML text,
//! waited on through its log, reached through its control socket, killed
//! when dropped; and the configs they use.
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::esprit_bin;

pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
    pub sock: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log says `needle` (or the daemon exits).
    pub fn wait_log(&mut self, needle: &str) -> String {
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

    pub fn esprit(&self, args: &[&str]) -> Output {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--socket", self.sock.to_str().expect("utf-8 path")]);
        Command::new(esprit_bin()).args(&a).output().expect("run esprit")
    }

    pub fn status(&self) -> serde_json::Value {
        let out = self.esprit(&["status", "--json"]);
        assert!(out.status.success(), "esprit status: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("status JSON")
    }

    pub fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("/proc/PID/status");
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

pub fn udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `esprit run` with `toml` as DIR/NAME.toml (control socket
/// DIR/NAME.sock) and `extra` arguments; waits for "control socket ready".
pub fn start(dir: &Path, name: &str, toml: &str, extra: &[&str]) -> Daemon {
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
pub fn plain_config(dir: &Path, name: &str, extra: &str) -> String {
    format!(
        "name = \"{name}\"\nmode = \"netstack\"\ncontrol_socket = \"{}\"\n{extra}\n[outer]\nlisten = \"127.0.0.1:{}\"\npeer_port = {}\n[netstack]\naddress = [\"10.77.0.1/32\"]\n",
        dir.join(format!("{name}.sock")).display(),
        udp_port(),
        udp_port()
    )
}

/// Two IKE peers on 127.0.0.1 (netstack mode) with PSK auth; `b` answers.
pub fn ike_config(dir: &Path, name: &str, me: u16, peer: u16, inner: &str, peer_inner: &str, ids: (&str, &str), start: &str, top: &str) -> String {
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

pub fn psk_spec(dir: &Path, name: &str, secret: &str) {
    let wasm = esprit_plugin::build::plugin_path("psk-auth").expect("psk plugin");
    let p = dir.join(format!("{name}.psk.plugin.toml"));
    std::fs::write(&p, format!("name = \"psk\"\npath = {:?}\n[config]\npsk = \"{secret}\"\n", wasm.display().to_string())).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {cmd}")]).output().map(|o| o.status.success()).unwrap_or(false)
}

/// `esprit ARGS` as uid/gid 65534 (nobody) without capabilities.
pub fn as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
        .arg(esprit_bin())
        .args(args)
        .output()
        .expect("setpriv")
}

/// Runs `esprit run ...` that must fail at start; returns its stderr.
pub fn run_fails(dir: &Path, name: &str, toml: &str, extra: &[&str]) -> String {
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
