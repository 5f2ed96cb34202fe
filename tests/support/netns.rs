//! Network namespaces for end-to-end tests: each test makes its own, with
//! unique names, and removes them (and the processes it started in them) on
//! drop, also when the test fails. Addresses are used only inside them.
#![allow(dead_code)]

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A network namespace owned by the test.
pub struct Netns {
    pub name: String,
    children: Vec<Child>,
}

impl Netns {
    /// Creates `esp-<tag>-<pid>-<n>` with loopback up.
    pub fn new(tag: &str) -> Netns {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let name = format!("esp-{tag}-{}-{n}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name, children: Vec::new() };
        ns.run(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs a command inside the namespace, panicking with its output on failure.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "[{}] {:?} failed: {}{}",
            self.name,
            args,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("spawn ip netns exec")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(args);
        c
    }

    /// Starts a long-running process in the namespace; killed on drop.
    pub fn spawn(&mut self, args: &[&str], log: &std::path::Path) -> u32 {
        let f = std::fs::File::create(log).expect("log file");
        let child = self
            .cmd(args)
            .stdout(Stdio::from(f.try_clone().expect("dup log")))
            .stderr(Stdio::from(f))
            .spawn()
            .expect("spawn in netns");
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Starts a process in the namespace that the caller waits for (killed
    /// on drop of the returned guard if still running).
    pub fn start(&self, args: &[&str], log: &std::path::Path) -> ChildGuard {
        let f = std::fs::File::create(log).expect("log file");
        let child = self
            .cmd(args)
            .stdout(Stdio::from(f.try_clone().expect("dup log")))
            .stderr(Stdio::from(f))
            .spawn()
            .expect("spawn in netns");
        ChildGuard(Some(child))
    }

    /// Waits until `args` succeeds inside the namespace (or panics after `timeout`).
    pub fn wait_for(&self, args: &[&str], timeout: Duration) {
        let start = Instant::now();
        loop {
            if self.output(args).status.success() {
                return;
            }
            assert!(start.elapsed() < timeout, "[{}] timed out waiting for {:?}", self.name, args);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Anything else still running in the namespace (e.g. started by a shell).
        if let Ok(out) = Command::new("ip").args(["netns", "pids", &self.name]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).output();
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// The interop topology (documentation addresses): outer link 192.0.2.0/24,
/// inner hosts on `lo` as /32 so the rest of each subnet stays routable
/// through the tunnel.
pub const OUTER_A: &str = "192.0.2.1";
pub const OUTER_B: &str = "192.0.2.2";
pub const INNER_A: &str = "203.0.113.1";
pub const INNER_B: &str = "198.51.100.1";
pub const NET_A: &str = "203.0.113.0/24";
pub const NET_B: &str = "198.51.100.0/24";

impl Netns {
    /// Adds (replaces) an address on `dev`; IPv6 without DAD, usable at once.
    pub fn addr(&self, dev: &str, cidr: &str) {
        let mut args = vec!["ip", "addr", "replace", cidr, "dev", dev];
        if cidr.contains(':') {
            args.push("nodad");
        }
        self.run(&args);
    }
}

/// Two namespaces joined by `veth0` (OUTER_A/24 in `a`, OUTER_B/24 in `b`),
/// INNER_A/32 on `a`'s `lo` and INNER_B/32 on `b`'s `lo` (a gateway only
/// routes a tunnel when it owns an address inside its local selector), and
/// the outer link checked with ping.
pub fn interop_pair(tag_a: &str, tag_b: &str) -> (Netns, Netns) {
    let a = Netns::new(tag_a);
    let b = Netns::new(tag_b);
    veth(&a, "veth0", &b, "veth0");
    a.addr("veth0", &format!("{OUTER_A}/24"));
    b.addr("veth0", &format!("{OUTER_B}/24"));
    a.addr("lo", &format!("{INNER_A}/32"));
    b.addr("lo", &format!("{INNER_B}/32"));
    a.wait_for(&["ping", "-c1", "-W1", OUTER_B], Duration::from_secs(5));
    (a, b)
}

/// Joins two namespaces with a veth pair (`a_if` in `a`, `b_if` in `b`), both up.
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    sh(&["ip", "link", "add", a_if, "netns", &a.name, "type", "veth", "peer", "name", b_if, "netns", &b.name]);
    a.run(&["ip", "link", "set", a_if, "up"]);
    b.run(&["ip", "link", "set", b_if, "up"]);
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().expect("spawn");
    assert!(out.status.success(), "{:?}: {}", args, String::from_utf8_lossy(&out.stderr));
}

/// Whether this process can create network namespaces (root).
pub fn can_netns() -> bool {
    let name = format!("esp-probe-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst));
    let ok = Command::new("ip").args(["netns", "add", &name]).output().map(|o| o.status.success()).unwrap_or(false);
    if ok {
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
    }
    ok
}

/// A child process killed on drop unless it was waited for.
pub struct ChildGuard(Option<Child>);

impl ChildGuard {
    /// The process id (`ip netns exec` execs the command, so it is the command's).
    pub fn pid(&self) -> Option<u32> {
        self.0.as_ref().map(Child::id)
    }

    /// Waits up to `timeout` for the process to exit; panics if it does not.
    pub fn wait(mut self, timeout: Duration) -> std::process::ExitStatus {
        let mut c = self.0.take().expect("child");
        let start = Instant::now();
        loop {
            if let Some(st) = c.try_wait().expect("try_wait") {
                return st;
            }
            if start.elapsed() > timeout {
                let _ = c.kill();
                let _ = c.wait();
                panic!("process did not finish within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl ChildGuard {
    /// Sends SIGINT (e.g. so tcpdump writes out what it captured) and waits
    /// up to `timeout` for the process to exit (killed after that).
    pub fn interrupt(mut self, timeout: Duration) {
        let Some(mut c) = self.0.take() else { return };
        let _ = Command::new("kill").args(["-INT", &c.id().to_string()]).output();
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
