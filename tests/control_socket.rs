//! The control socket's defences, as real processes: another uid is
//! refused (by the socket's mode and by SO_PEERCRED), a 100 MiB request
//! line is refused with the daemon's RSS bounded, idle clients do not block
//! `esprit status`, and the default socket directory in the shared temp dir
//! must be ours.
mod support;
#[path = "support/schema.rs"]
mod schema;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use support::daemon::*;
use support::{esprit_bin, is_root, require, Scratch};

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


#[test]
fn control_socket_group_members_may_command() {
    if !require(is_root(), "root (to run clients as other uids and groups)") || !require(have("setpriv"), "setpriv (util-linux)") {
        return;
    }
    let dir = Scratch::new("ops-group");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The socket in a directory esprit creates: 0710, group-owned.
    let sub = dir.path("run");
    let sock = sub.join("g.sock");
    let toml = plain_config(&dir.0, "g", "control_socket_group = \"4242\"").replace(&dir.path("g.sock").display().to_string(), &sock.display().to_string());
    std::fs::write(dir.path("g.toml"), toml).unwrap();
    let log = dir.path("g.log");
    let f = std::fs::File::create(&log).unwrap();
    let child = Command::new(esprit_bin()).args(["run", "--config", dir.path("g.toml").to_str().unwrap()]).stdout(Stdio::null()).stderr(Stdio::from(f)).spawn().unwrap();
    let mut d = Daemon { child, log, sock: sock.clone() };
    d.wait_log("control socket ready");
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(&sock).unwrap();
    assert_eq!((m.mode() & 0o777, m.gid()), (0o660, 4242));
    let m = std::fs::metadata(&sub).unwrap();
    assert_eq!((m.mode() & 0o777, m.gid()), (0o710, 4242));
    let client = |groups: &str| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", groups, "--inh-caps=-all"])
            .arg(esprit_bin())
            .args(["status", "--brief", "--socket", sock.to_str().unwrap()])
            .output()
            .unwrap()
    };
    // A member (supplementary group 4242) may; nobody without it may not.
    let out = client("--groups=4242");
    assert!(out.status.success(), "a member of group 4242 was refused: {}", String::from_utf8_lossy(&out.stderr));
    let out = client("--clear-groups");
    assert!(!out.status.success(), "a non-member got through");
    // With the mode widened, SO_PEERCRED still refuses the non-member.
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o711)).unwrap();
    let out = client("--clear-groups");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("and members of group 4242"), "{err}");
}
