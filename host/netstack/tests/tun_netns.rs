//! A real TUN device inside a fresh network namespace: the kernel routes a
//! ping into it, we read the ICMP echo request from the fd, write the echo
//! reply back and the kernel delivers it to the pinging socket. Then the
//! device is deleted under us and reads report `DeviceGone`.
//!
//! Needs root (CAP_NET_ADMIN + CAP_SYS_ADMIN for the namespace). Without
//! it the test is skipped with a printed reason, unless `CI=true`: then it fails.

use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::Command;
use std::time::{Duration, Instant};

use esprit_netstack::{Tun, TunConfig, TunError};
use socket2::{Domain, Protocol, Socket, Type};

fn prerequisite(what: &str) -> bool {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("TUN test cannot run under CI: {what}");
    }
    eprintln!("SKIPPED tun_netns: {what} (set CI=true to make this a failure)");
    false
}

/// `ip netns add` with a unique name; deleted on drop, even after a panic.
struct Netns(String);

impl Netns {
    fn new() -> Result<Self, String> {
        let name = format!(
            "esprit-tun-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(Netns(name))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn recv_tun(tun: &Tun, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>, TunError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(n) = tun.recv(buf)? {
            return Ok(Some(n));
        }
        if Instant::now() > deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn run_in_netns(ns: &str) {
    let f = File::open(format!("/var/run/netns/{ns}")).expect("netns handle");
    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");

    let tun = Tun::create(&TunConfig {
        name: Some("esptest0".into()),
        addresses: vec![("10.99.0.1".parse().unwrap(), 24)],
        mtu: 1400,
        routes: vec![("10.99.1.77".parse().unwrap(), 24)],
        offload: false,
    })
    .expect("create tun");
    assert_eq!(tun.name(), "esptest0");
    let routes = Command::new("ip")
        .args(["-4", "route", "show", "dev", "esptest0"])
        .output()
        .unwrap();
    let routes = String::from_utf8_lossy(&routes.stdout);
    assert!(routes.contains("10.99.1.0/24"), "routes: {routes}");
    let link = Command::new("ip")
        .args(["link", "show", "esptest0"])
        .output()
        .unwrap();
    let link = String::from_utf8_lossy(&link.stdout);
    assert!(
        link.contains("mtu 1400") && link.contains("UP"),
        "link: {link}"
    );

    // Ping 10.99.1.5: the route sends it into the TUN.
    let icmp =
        Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).expect("raw icmp socket");
    icmp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut echo = vec![8u8, 0, 0, 0, 0x12, 0x34, 0, 1];
    echo.extend_from_slice(b"esprit tun test");
    let c = checksum(&echo);
    echo[2..4].copy_from_slice(&c.to_be_bytes());
    let dst = SocketAddrV4::new(Ipv4Addr::new(10, 99, 1, 5), 0);
    icmp.send_to(&echo, &dst.into()).expect("send ping");

    // The kernel also sends its own IPv6 packets (router/MLD solicitations)
    // once the link is up: skip everything that is not IPv4.
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(3);
    let n = loop {
        let n = recv_tun(&tun, &mut buf, Duration::from_secs(3))
            .expect("tun read")
            .expect("a packet from the kernel");
        if buf[0] >> 4 == 4 {
            break n;
        }
        assert!(Instant::now() < deadline, "no IPv4 packet from the kernel");
    };
    let pkt = &buf[..n];
    assert_eq!(pkt[0] >> 4, 4, "IPv4");
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    assert_eq!(pkt[9], 1, "ICMP");
    assert_eq!(&pkt[12..16], &[10, 99, 0, 1]);
    assert_eq!(&pkt[16..20], &[10, 99, 1, 5]);
    assert_eq!(&pkt[ihl..], &echo[..], "the echo request we sent");

    // Answer as 10.99.1.5 would.
    let mut reply = pkt.to_vec();
    reply[12..16].copy_from_slice(&[10, 99, 1, 5]);
    reply[16..20].copy_from_slice(&[10, 99, 0, 1]);
    reply[10] = 0;
    reply[11] = 0;
    let hc = checksum(&reply[..ihl]);
    reply[10..12].copy_from_slice(&hc.to_be_bytes());
    reply[ihl] = 0; // echo reply
    reply[ihl + 2] = 0;
    reply[ihl + 3] = 0;
    let ic = checksum(&reply[ihl..]);
    reply[ihl + 2..ihl + 4].copy_from_slice(&ic.to_be_bytes());
    assert!(tun.send(&reply).expect("tun write"));

    let deadline = Instant::now() + Duration::from_secs(3);
    let mut got_reply = false;
    while Instant::now() < deadline && !got_reply {
        let mut rb = [0u8; 2048];
        let Ok(n) = (&icmp).read(&mut rb) else { break };
        let rb = &rb[..n];
        let ihl = usize::from(rb[0] & 0x0f) * 4;
        got_reply =
            rb[12..16] == [10, 99, 1, 5] && rb[ihl] == 0 && rb[ihl + 4..ihl + 6] == [0x12, 0x34];
    }
    assert!(
        got_reply,
        "the kernel delivered our echo reply to the pinging socket"
    );

    // The device disappears under us: a distinct error.
    let st = Command::new("ip")
        .args(["link", "del", "esptest0"])
        .status()
        .unwrap();
    assert!(st.success());
    match tun.recv(&mut buf) {
        Err(TunError::DeviceGone { .. }) => {}
        other => panic!("expected DeviceGone, got {other:?}"),
    }
}

#[test]
fn tun_in_netns_ping_and_device_gone() {
    if !nix::unistd::geteuid().is_root() {
        prerequisite("not root");
        return;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        prerequisite("iproute2 `ip` not installed");
        return;
    }
    let ns = match Netns::new() {
        Ok(ns) => ns,
        Err(e) => {
            prerequisite(&format!("ip netns add failed: {e}"));
            return;
        }
    };
    let name = ns.0.clone();
    // setns only affects the calling thread: do everything on a fresh one.
    let r = std::thread::spawn(move || run_in_netns(&name)).join();
    drop(ns);
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
}

/// Run as an unprivileged user by `tun_without_privilege_names_netstack_mode`.
#[test]
#[ignore = "run by tun_without_privilege_names_netstack_mode as an unprivileged user"]
fn unprivileged_create_child() {
    let r = Tun::create(&TunConfig {
        name: Some("espnopriv0".into()),
        addresses: vec![("10.98.0.1".parse().unwrap(), 24)],
        mtu: 1400,
        routes: vec![],
        offload: false,
    });
    match r {
        Err(e @ TunError::NotPermitted(_)) => assert_eq!(
            e.to_string(),
            "tun mode needs root or CAP_NET_ADMIN; use mode = \"netstack\" to run unprivileged"
        ),
        Err(e) => panic!("expected NotPermitted, got {e:?}"),
        Ok(_) => panic!("an unprivileged user created a TUN device"),
    }
}

#[test]
fn tun_without_privilege_names_netstack_mode() {
    if !nix::unistd::geteuid().is_root() {
        // Already unprivileged: check directly.
        return unprivileged_create_child();
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        prerequisite("setpriv (util-linux) not installed to drop privileges");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(&exe)
        .args([
            "--ignored",
            "--exact",
            "unprivileged_create_child",
            "--test-threads=1",
        ])
        .output()
        .expect("run setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "unprivileged child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
