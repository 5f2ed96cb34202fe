//! One `esprit run` in a network namespace, as the IKE tests drive it:
//! started from a config file, reached through its control socket
//! (`esprit status --json`, `esprit ike ...`), waited on through its status
//! or its log, and killed when dropped.
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::netns::{ChildGuard, Netns};
use super::{esprit_bin, Scratch};

pub struct Esprit {
    ns: String,
    sock: PathBuf,
    log: PathBuf,
    _proc: ChildGuard,
}

impl Esprit {
    /// Starts esprit with the config file `cfg` (control socket `sock`),
    /// as uid/gid 65534 without capabilities when `unprivileged`, and waits
    /// for its control socket.
    pub fn start_file_as(ns: &Netns, dir: &Scratch, name: &str, cfg: &Path, sock: &Path, unprivileged: bool) -> Esprit {
        let log = dir.path(&format!("{name}.log"));
        let bin = esprit_bin();
        let mut args: Vec<&str> = Vec::new();
        if unprivileged {
            args.extend(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]);
        }
        args.extend([bin.to_str().expect("utf-8 path"), "run", "--config", cfg.to_str().expect("utf-8 path")]);
        let proc = ns.start(&args, &log);
        let e = Esprit { ns: ns.name.clone(), sock: sock.to_path_buf(), log, _proc: proc };
        let t0 = Instant::now();
        while e.try_status().is_none() {
            assert!(t0.elapsed() < Duration::from_secs(20), "esprit {name} did not come up:\n{}", e.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        e
    }

    /// Sends SIGTERM and waits up to `timeout` for esprit to exit.
    pub fn terminate(self, timeout: Duration) -> std::process::ExitStatus {
        if let Some(pid) = self._proc.pid() {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
        self._proc.wait(timeout)
    }

    pub fn start_file(ns: &Netns, dir: &Scratch, name: &str, cfg: &Path, sock: &Path) -> Esprit {
        Esprit::start_file_as(ns, dir, name, cfg, sock, false)
    }

    /// Writes `toml` (which must name DIR/NAME.sock as its control socket)
    /// as DIR/NAME.toml and starts it.
    pub fn start(ns: &Netns, dir: &Scratch, name: &str, toml: &str) -> Esprit {
        Esprit::start_toml(ns, dir, name, toml, false)
    }

    /// [`Esprit::start`] as the unprivileged user nobody.
    pub fn start_unprivileged(ns: &Netns, dir: &Scratch, name: &str, toml: &str) -> Esprit {
        Esprit::start_toml(ns, dir, name, toml, true)
    }

    fn start_toml(ns: &Netns, dir: &Scratch, name: &str, toml: &str, unprivileged: bool) -> Esprit {
        let cfg = dir.path(&format!("{name}.toml"));
        std::fs::write(&cfg, toml).expect("write esprit config");
        Esprit::start_file_as(ns, dir, name, &cfg, &dir.path(&format!("{name}.sock")), unprivileged)
    }

    /// The daemon's process id (for signals).
    pub fn pid(&self) -> u32 {
        self._proc.pid().expect("esprit is running")
    }

    /// `esprit ARGS --socket SOCK` in the namespace.
    pub fn cmd(&self, args: &[&str]) -> Output {
        std::process::Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(esprit_bin())
            .args(args)
            .args(["--socket", self.sock.to_str().expect("utf-8 path")])
            .output()
            .expect("run esprit")
    }

    /// `esprit ike VERB CONN --no-wait`, which must be accepted (the
    /// outcome is what each test checks; `tests/operations.rs` tests the
    /// waiting form).
    pub fn ike(&self, verb: &str, conn: &str) {
        let o = self.cmd(&["ike", verb, conn, "--no-wait"]);
        assert!(o.status.success(), "esprit ike {verb} {conn}: {}{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr), self.log_tail());
    }

    pub fn try_status(&self) -> Option<Value> {
        let o = self.cmd(&["status", "--json"]);
        if !o.status.success() {
            return None;
        }
        serde_json::from_slice(&o.stdout).ok()
    }

    pub fn status(&self) -> Value {
        self.try_status().unwrap_or_else(|| panic!("esprit status failed; log:\n{}", self.log_tail()))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        super::swan::tail(&self.log(), 40)
    }

    /// Waits until the log contains `needle`; returns the log.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> String {
        let t0 = Instant::now();
        loop {
            let l = self.log();
            if l.contains(needle) {
                return l;
            }
            assert!(t0.elapsed() < timeout, "esprit's log never said {needle:?} within {timeout:?}:\n{}", self.log_tail());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `f(status)` holds.
    pub fn wait_status(&self, what: &str, timeout: Duration, f: impl Fn(&Value) -> bool) -> Value {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.try_status() {
                if f(&st) {
                    return st;
                }
                assert!(t0.elapsed() < timeout, "esprit: timed out waiting for {what}; status:\n{st:#}\nlog:\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// An established IKE SA with at least one CHILD_SA, and both data-plane SAs.
    pub fn wait_up(&self, timeout: Duration) -> Value {
        self.wait_status("an established IKE SA with a CHILD_SA", timeout, |st| {
            ike_sas(st).iter().any(|s| s["state"] == "Established" && !s["children"].as_array().map(|c| c.is_empty()).unwrap_or(true)) && data_sas(st).len() >= 2
        })
    }

    /// No IKE SA and no data-plane SA.
    pub fn wait_down(&self, timeout: Duration) -> Value {
        self.wait_status("no IKE SA and no data-plane SA", timeout, |st| ike_sas(st).is_empty() && data_sas(st).is_empty())
    }
}

/// The IKE SAs of a status.
pub fn ike_sas(st: &Value) -> Vec<Value> {
    st["ike"]["ike_sas"].as_array().cloned().unwrap_or_default()
}

/// The data-plane SAs of a status.
pub fn data_sas(st: &Value) -> Vec<Value> {
    st["sas"].as_array().cloned().unwrap_or_default()
}

/// A drop counter of a status by reason.
pub fn drops(st: &Value, reason: &str) -> u64 {
    st["drops"][reason].as_u64().unwrap_or(0)
}
