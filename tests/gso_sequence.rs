//! Super-segments through a tunnel, checked on the wire and at the peer.
//!
//! Two tun-mode daemons (static SAs, ESP in UDP, TUN offloads on, the
//! default) carry a TCP transfer over IPv4 inner addresses and one over IPv6
//! inner addresses, both in one IPv4 tunnel. The sender's TCP stack hands
//! esprit super-segments of up to 64 KiB through the TUN (TSO), esprit cuts
//! them into packets, encrypts each and sends runs of ESP datagrams with UDP
//! GSO. A full-size capture on the receiver's veth splits every GSO frame at
//! the ESP headers and checks:
//! - GSO runs really happened (some frames carry several ESP packets);
//! - every ESP sequence number of the SA appears exactly once;
//! - the receiving daemon accepted every one of them: its SA counted at least
//!   as many packets as the wire carried, with no replay, too-old or ICV drop;
//! - the data arrived intact (bytes and sha256 on both ends).
//!
//! The sender runs a worker per direction, each pinned to a core of its own
//! (`pin_workers`, checked in /proc), and the receiver one worker, so both
//! layouts are crossed. Needs root: skipped with a reason on a
//! developer machine, a failure under CI=true.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::esprit::{data_sas, drops, Esprit};
use support::ike::{link_pair, prerequisites, OUT_A, OUT_B};
use support::netns::Netns;
use support::traffic::{text, transfer};
use support::Scratch;

const SPI_AB: u32 = 0x7701;
const SPI_BA: u32 = 0x7702;
const MB: u64 = 1024 * 1024;

fn key(seed: u32) -> String {
    (0..20).map(|i| format!("{:02x}", (i * 37 + seed * 101 + 3) % 256)).collect()
}

/// One side: tun mode, inner `v4` and `v6` addresses, ESP in UDP to the peer.
fn config(dir: &Scratch, name: &str, me: &str, peer: &str, inner: (&str, &str), peer_inner: (&str, &str), workers: &str) -> PathBuf {
    let (k_ab, k_ba) = (key(1), key(2));
    let mut setkey = format!(
        "flush;\nspdflush;\n\
         add {OUT_A} {OUT_B} esp {SPI_AB:#x} -m tunnel -E aes-gcm-16 0x{k_ab};\n\
         add {OUT_B} {OUT_A} esp {SPI_BA:#x} -m tunnel -E aes-gcm-16 0x{k_ba};\n"
    );
    for ((mine, theirs), len) in [((inner.0, peer_inner.0), 32), ((inner.1, peer_inner.1), 128)] {
        setkey += &format!(
            "spdadd {mine}/{len} {theirs}/{len} any -P out ipsec esp/tunnel/{me}-{peer}/require;\n\
             spdadd {theirs}/{len} {mine}/{len} any -P in ipsec esp/tunnel/{peer}-{me}/require;\n"
        );
    }
    std::fs::write(dir.path(&format!("{name}.setkey.conf")), setkey).expect("write setkey");
    let cfg = format!(
        "name = \"{name}\"\nmode = \"tun\"\ncontrol_socket = \"{}\"\n[outer]\nlisten = \"{me}:4500\"\n\
         [tun]\nname = \"esp{name}\"\naddress = [\"{}/32\", \"{}/128\"]\nworkers = {workers}\n\
         [ipsec]\nsetkey_files = [\"{name}.setkey.conf\"]\n",
        dir.path(&format!("{name}.sock")).display(),
        inner.0,
        inner.1
    );
    let p = dir.path(&format!("{name}.toml"));
    std::fs::write(&p, cfg).expect("write config");
    p
}

/// Splits every captured ESP-in-UDP frame from `src` (GSO runs arrive as
/// one frame: segments of one size, the last one shorter, each starting
/// with the SPI) and prints `frames segments_max seq seq ...` for `spi`.
const SPLIT_PY: &str = r#"
import struct, sys
path, src, spi = sys.argv[1], sys.argv[2], int(sys.argv[3], 0)
src = bytes(int(x) for x in src.split('.'))
spi_b = struct.pack('!I', spi)
data = open(path, 'rb').read()
magic = struct.unpack('<I', data[:4])[0]
assert magic in (0xa1b2c3d4, 0xa1b23c4d), 'not a little-endian pcap'
link = struct.unpack('<I', data[20:24])[0]
off, seqs, frames, most = 24, [], 0, 0
while off + 16 <= len(data):
    incl = struct.unpack('<I', data[off+8:off+12])[0]
    frame = data[off+16:off+16+incl]
    off += 16 + incl
    ip = frame[14:] if link == 1 else frame[16:] if link == 113 else frame
    if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17 or ip[12:16] != src:
        continue
    ihl = (ip[0] & 15) * 4
    udp = ip[ihl:]
    if struct.unpack('!H', udp[2:4])[0] != 4500:
        continue
    p = udp[8:]
    if p[:4] != spi_b:
        continue
    frames += 1
    first = struct.unpack('!I', p[4:8])[0]
    # The segment size: the next offset that holds the SPI and the next sequence number.
    size, at = len(p), p.find(spi_b + struct.pack('!I', first + 1), 8)
    if at > 0:
        size = at
    n = 0
    for k in range(0, len(p), size):
        seg = p[k:k+8]
        if seg[:4] != spi_b:
            print('BAD split at', k, 'of', len(p), 'size', size); sys.exit(1)
        seqs.append(struct.unpack('!I', seg[4:8])[0])
        n += 1
    most = max(most, n)
print(frames, most, *seqs)
"#;

fn sa_packets(st: &Value, spi: u32) -> u64 {
    let want = format!("{spi:#010x}");
    data_sas(st).iter().find(|s| s["spi"] == want.as_str()).and_then(|s| s["packets"].as_u64()).unwrap_or_else(|| panic!("no SA {want}: {st:#}"))
}

/// A tcpdump of whole frames (GSO runs included) of ESP-in-UDP on `dev`.
struct FullCapture {
    file: PathBuf,
    log: PathBuf,
    proc: Option<support::netns::ChildGuard>,
}

impl FullCapture {
    fn start(ns: &Netns, dev: &str, dir: &Scratch) -> FullCapture {
        let file = dir.path("wire.pcap");
        let log = dir.path("wire.tcpdump.log");
        let proc = ns.start(&["tcpdump", "-i", dev, "-n", "-s", "0", "-B", "262144", "-U", "--immediate-mode", "-w", file.to_str().expect("utf-8"), "udp port 4500"], &log);
        let t0 = std::time::Instant::now();
        while !std::fs::read_to_string(&log).unwrap_or_default().contains("listening") {
            assert!(t0.elapsed() < Duration::from_secs(10), "tcpdump did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        FullCapture { file, log, proc: Some(proc) }
    }

    /// Stops tcpdump and checks it lost nothing.
    fn stop(&mut self) -> &Path {
        if let Some(p) = self.proc.take() {
            p.interrupt(Duration::from_secs(10));
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let stat = |what: &str| log.lines().find_map(|l| l.strip_suffix(what)).and_then(|n| n.trim().parse::<u64>().ok());
        assert_eq!(stat(" packets dropped by kernel"), Some(0), "the capture lost packets:\n{log}");
        assert_eq!(stat(" packets captured"), stat(" packets received by filter"), "the capture is incomplete:\n{log}");
        &self.file
    }
}

#[test]
fn gso_super_segments_get_unique_sequence_numbers_ipv4_and_ipv6_inner() {
    if !prerequisites() {
        return;
    }
    let dir = Scratch::new("gso-seq");
    let (a, b) = link_pair("gso");
    let (a4, a6, b4, b6) = ("10.77.0.1", "fd77::1", "10.77.0.2", "fd77::2");
    // The sender's two workers pinned to a core each (when there are two).
    let ca = config(&dir, "gsoa", OUT_A, OUT_B, (a4, a6), (b4, b6), "2\npin_workers = true");
    let cb = config(&dir, "gsob", OUT_B, OUT_A, (b4, b6), (a4, a6), "1");
    let eb = Esprit::start_file(&b, &dir, "gsob", &cb, &dir.path("gsob.sock"));
    let ea = Esprit::start_file(&a, &dir, "gsoa", &ca, &dir.path("gsoa.sock"));
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if cores >= 2 {
        // Each packet worker runs on one core, a different one each.
        let mut pinned = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{}/task", ea.pid())).expect("tasks").flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if matches!(comm.trim(), "outbound" | "inbound") {
                let st = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
                let cpus = st.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).unwrap_or_default().trim().to_string();
                pinned.push((comm.trim().to_string(), cpus));
            }
        }
        pinned.sort();
        assert_eq!(pinned.len(), 2, "{pinned:?}\n{}", ea.log());
        assert!(pinned.iter().all(|(_, c)| c.parse::<usize>().is_ok()) && pinned[0].1 != pinned[1].1, "workers not pinned apart: {pinned:?}");
    }
    for (from, to) in [(a4, b4), (a6, b6)] {
        let o = a.output(&["ping", "-c", "1", "-W", "5", "-I", from, to]);
        assert!(o.status.success(), "{from} -> {to}: {}\n{}\n{}", text(&o), ea.log(), eb.log());
    }
    // Counted before the capture starts: every packet it sees arrives later.
    let accepted_before = sa_packets(&eb.status(), SPI_AB);
    let mut cap = FullCapture::start(&b, "veth0", &dir);
    transfer(&b, &a, (b4, 5301), 24 * MB, &dir, "gso-v4");
    transfer(&b, &a, (b6, 5302), 24 * MB, &dir, "gso-v6");
    let pcap = cap.stop().to_path_buf();

    let out = std::process::Command::new("python3").args(["-c", SPLIT_PY]).arg(&pcap).arg(OUT_A).arg(format!("{SPI_AB:#x}")).output().expect("python3");
    assert!(out.status.success(), "splitting the capture: {}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    let mut it = said.split_whitespace().map(|n| n.parse::<u64>().expect("number"));
    let (frames, most) = (it.next().expect("frames"), it.next().expect("segments"));
    let mut seqs: Vec<u64> = it.collect();
    eprintln!("{frames} ESP frames on the wire, {} ESP packets, up to {most} per frame", seqs.len());
    assert!(most > 1, "no GSO run on the wire: every frame carried one ESP packet");
    // Both transfers went through the SA (one alone would be half of this).
    assert!(seqs.len() as u64 > 2 * 24 * MB / 1500, "too few ESP packets for 48 MiB: {}", seqs.len());
    let total = seqs.len();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), total, "{} ESP sequence numbers appear more than once", total - seqs.len());

    // Every captured packet reached the receiver before its status is read
    // (the transfers ended with the receiver's own reads); packets after
    // the capture (a last ACK) can only add to the count.
    let sb = eb.status();
    let accepted = sa_packets(&sb, SPI_AB) - accepted_before;
    assert!(accepted >= total as u64, "the receiver accepted {accepted} packets, the wire carried {total}: {sb:#}");
    for reason in ["replayed sequence number", "sequence number too old", "ICV mismatch"] {
        assert_eq!(drops(&sb, reason), 0, "receiver dropped packets ({reason}): {sb:#}");
    }
    let sa = ea.status();
    assert!(sa_packets(&sa, SPI_AB) >= total as u64, "{sa:#}");
}
