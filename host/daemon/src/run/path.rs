//! Moving packets: reading the TUN and the outer sockets until they are
//! drained (see [`super::BUDGET`]), running them through the data plane,
//! sending and delivering what comes out, and the optional captures.
use super::*;
use crate::io_edge::mmsg::UdpReceiver;

/// One capture file, written by every worker that sees its packets.
pub(super) type Capture = Option<Arc<Mutex<Writer<BufWriter<File>>>>>;

/// The optional captures (`--pcap-outer`, `--pcap-inner`). Only a capture
/// that is on takes a lock: without one, no worker waits for another.
#[derive(Clone, Default)]
pub(super) struct Captures {
    pub(super) outer: Capture,
    pub(super) inner: Capture,
}

impl Captures {
    pub(super) fn write(w: &Capture, pkt: &[u8]) {
        if let Some(Ok(mut w)) = w.as_ref().map(|w| w.lock()) {
            let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            let _ = w.write(t.as_secs() as u32, t.subsec_micros(), pkt);
        }
    }
    pub(super) fn flush(&self) {
        for w in [&self.outer, &self.inner].into_iter().flatten() {
            if let Ok(mut w) = w.lock() {
                let _ = w.flush();
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn read_tun(
    cfg: &Config,
    tun: &mut Option<Arc<Tun>>,
    gone_since: &mut Option<Instant>,
    poll: &Poll,
    outer: &mut Outer,
    dp: &mut Dataplane,
    caps: &Captures,
    (batch, scratch): (&mut Batch, &mut [u8]),
) -> Result<Drain> {
    let Some(t) = tun.as_ref() else { return Ok(Drain::Empty) };
    let mut read = 0;
    let mut result = Drain::More;
    // Drops seen while reading, counted after the pass.
    let (mut read_errors, mut gone) = (0u64, false);
    let (mut supers, mut segments) = (0u64, 0u64);
    let mut sizes = [0usize; TUN_BATCH];
    // Free slots a read needs: a whole super-segment with offloads.
    let need = if t.offload() { esprit_netstack::tun::MAX_SEGMENTS.min(TUN_BATCH) } else { 1 };
    'reading: while read < BUDGET {
        // Fill a batch (one read; with offloads one super-segment cut into
        // up to `MAX_SEGMENTS` packets), then run it through the data plane.
        while batch.free_slots().len() >= need {
            match t.recv_multiple(scratch, batch.free_slots(), &mut sizes) {
                Ok(Some(k)) => {
                    if k > 1 {
                        supers += 1;
                        segments += k as u64;
                    }
                    let got = sizes.get(..k).unwrap_or_default();
                    batch.commit(got);
                    for p in batch.packets().skip(batch.len() - got.len()) {
                        Captures::write(&caps.inner, p);
                    }
                    read += k.max(1);
                }
                Ok(None) => {
                    result = Drain::Empty;
                    break 'reading;
                }
                Err(e @ TunError::DeviceGone { .. }) => {
                    error!("{e}; the daemon keeps running and recreates the device");
                    let _ = poll.registry().deregister(&mut SourceFd(&t.as_raw_fd()));
                    gone = true;
                    *gone_since = Some(Instant::now());
                    result = Drain::Empty;
                    break 'reading;
                }
                Err(e) => {
                    // Not WouldBlock (e.g. a malformed virtio-net header): count
                    // it and keep reading within the budget (an edge-triggered
                    // fd left unread is never announced again).
                    tracing::debug!("TUN read: {e}");
                    read_errors += 1;
                    read += 1;
                }
            }
            if read >= BUDGET {
                break;
            }
        }
        send_batch(cfg, outer, dp, caps, batch);
    }
    send_batch(cfg, outer, dp, caps, batch);
    flush_sends(outer, dp);
    dp.count_drops(PathDrop::TunReadError, read_errors);
    dp.counters.tun_super_segments += supers;
    dp.counters.tun_segments += segments;
    if gone {
        dp.count_drop(PathDrop::TunGone);
    }
    if gone_since.is_some() {
        *tun = None;
    }
    Ok(result)
}

/// Runs a batch of inner packets through the outbound path and sends them.
pub(super) fn send_batch(cfg: &Config, outer: &mut Outer, dp: &mut Dataplane, caps: &Captures, batch: &mut Batch) {
    dp.outbound_batch(batch, Instant::now(), |dp, out| send_result(cfg, outer, dp, caps, out));
}

/// Runs the inner packet of `len` bytes in `pb` through the outbound policy
/// and sends the result.
pub(super) fn send_out(cfg: &Config, outer: &mut Outer, dp: &mut Dataplane, caps: &Captures, pb: &mut PacketBuf, len: usize, now: Instant) {
    if let Some(out) = dp.outbound(pb, len, now) {
        send_result(cfg, outer, dp, caps, out);
    }
}

/// Sends what the outbound path made of a packet.
pub(super) fn send_result(cfg: &Config, outer: &mut Outer, dp: &mut Dataplane, caps: &Captures, out: Out<'_>) {
    let r = match out {
        Out::Protected(p) => {
            Captures::write(&caps.outer, p);
            send_protected(cfg, outer, dp, p)
        }
        Out::Esp { esp, to } => {
            if caps.outer.is_some() {
                capture_esp(&caps.outer, outer.local, to, esp);
            }
            match &outer.udp {
                Some(udp) => {
                    let sent = outer.gso.push(&**udp, SocketAddr::new(to, cfg.peer_port(to)), esp);
                    count_sent(dp, sent);
                    Ok(())
                }
                None => Err(io::Error::other("ESP in UDP without a UDP socket")),
            }
        }
        Out::Clear(p) => match &outer.raw_clear {
            Some(s) if p.first().map(|b| b >> 4) == Some(4) => outer::send_raw_v4(s, p).map(|_| ()),
            _ => {
                dp.count_drop(PathDrop::BypassUnroutable);
                return;
            }
        },
    };
    if let Err(e) = r {
        tracing::debug!("send: {e}");
        dp.count_drop(PathDrop::SendError);
    }
}

/// Sends one protected packet: ESP-in-UDP joins the current GSO run (see
/// [`flush_sends`]), raw ESP/AH goes at once.
pub(super) fn send_protected(cfg: &Config, outer: &mut Outer, dp: &mut Dataplane, p: &[u8]) -> io::Result<()> {
    let v4 = p.first().map(|b| b >> 4) == Some(4);
    let (hl, proto, dst) = if v4 && p.len() >= 20 {
        let d = IpAddr::from([p[16], p[17], p[18], p[19]]);
        (usize::from(p[0] & 0x0f) * 4, p[9], d)
    } else if p.len() >= 40 {
        let mut a = [0u8; 16];
        a.copy_from_slice(&p[24..40]);
        (40, p[6], IpAddr::from(a))
    } else {
        return Err(io::Error::other("short packet"));
    };
    if let Some(udp) = &outer.udp {
        if proto != 50 {
            return Err(io::Error::other(PathDrop::AhInUdp.as_str()));
        }
        let to = SocketAddr::new(dst, cfg.peer_port(dst));
        let sent = outer.gso.push(&**udp, to, &p[hl..]);
        count_sent(dp, sent);
        return Ok(());
    }
    let s = match proto {
        50 => outer.raw_esp.as_ref(),
        51 => outer.raw_ah.as_ref(),
        _ => None,
    };
    match s {
        Some(s) if v4 => outer::send_raw_v4(s, p).map(|_| ()),
        _ => Err(io::Error::other("raw IPv6 outer packets are not supported; use outer.transport = \"udp\"")),
    }
}

/// Writes an ESP packet sent in UDP to the outer capture as the IP packet
/// carrying it (protocol 50, as raw ESP is captured), so Wireshark decodes
/// it with the key log. Only runs while a capture is on.
fn capture_esp(w: &Capture, local: Option<IpAddr>, to: IpAddr, esp: &[u8]) {
    let mut p = Vec::with_capacity(esp.len() + 40);
    match (local, to) {
        (Some(IpAddr::V4(s)), IpAddr::V4(d)) => {
            p.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 50, 0, 0]);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            let total = u16::try_from(20 + esp.len()).unwrap_or(u16::MAX);
            p[2..4].copy_from_slice(&total.to_be_bytes());
            esprit_esp::ip::fill_ipv4_checksum(&mut p[..20]);
        }
        (Some(IpAddr::V6(s)), IpAddr::V6(d)) => {
            p.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, 50, 64]);
            p[4..6].copy_from_slice(&u16::try_from(esp.len()).unwrap_or(u16::MAX).to_be_bytes());
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
        }
        _ => return,
    }
    p.extend_from_slice(esp);
    Captures::write(w, &p);
}

/// Sends the ESP-in-UDP datagrams still queued for GSO; called at the end of
/// every pass that may have queued some.
pub(super) fn flush_sends(outer: &mut Outer, dp: &mut Dataplane) {
    if let Some(udp) = &outer.udp {
        let sent = outer.gso.flush(&**udp);
        count_sent(dp, sent);
    }
}

fn count_sent(dp: &mut Dataplane, sent: crate::io_edge::gso::Sent) {
    dp.count_drops(PathDrop::SendError, sent.failed as u64);
    dp.counters.gso_sends += sent.gso_sends as u64;
    dp.counters.gso_datagrams += sent.gso_datagrams as u64;
}

/// Hands a decrypted packet to the inner side; `false` if it had no room.
pub(super) fn deliver(inner: &mut Inner, caps: &Captures, pkt: &[u8]) -> bool {
    Captures::write(&caps.inner, pkt);
    match inner {
        Inner::Netstack(ns) => ns.receive_inner(pkt),
        // Queued: written (coalesced with offloads) by `flush_inner`.
        Inner::Tun { tun: Some(t), writer, .. } => {
            if writer.push(pkt) {
                return true;
            }
            let ok = writer.flush(t).is_ok();
            ok && writer.push(pkt)
        }
        Inner::Tun { tun: None, .. } => false,
    }
}

/// Writes the decrypted packets queued for the TUN; a failed write counts
/// every packet of the batch as undelivered.
pub(super) fn flush_inner(inner: &mut Inner, dp: &mut Dataplane) {
    if let Inner::Tun { tun: Some(t), writer, .. } = inner {
        let queued = writer.len();
        if let Err(e) = writer.flush(t) {
            tracing::debug!("TUN write: {e}");
            dp.count_drops(PathDrop::InnerQueueFull, queued as u64);
        }
    }
}

pub(super) fn recv_udp(outer: &mut Outer, rx: &mut UdpReceiver, inner: &mut Inner, dp: &mut Dataplane, caps: &Captures, ike: Option<&IkeLink>) -> Result<Drain> {
    let (Some(udp), Some(local)) = (&outer.udp, outer.local) else { return Ok(Drain::Empty) };
    let mut read = 0;
    while read < BUDGET {
        let n = match rx.recv(&**udp) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Drain::Empty),
            // ICMP port unreachable from a peer that stopped answering, etc.:
            // per datagram, so keep reading.
            Err(e) => {
                tracing::debug!("UDP receive: {e}");
                dp.count_drop(PathDrop::SendError);
                read += 1;
                continue;
            }
        };
        let now = Instant::now();
        for i in 0..n {
            let Some((pb, got)) = rx.datagram(i) else { break };
            let Some(from) = got.from.filter(|_| got.len > 0) else {
                dp.count_drop(PathDrop::GarbageUdp);
                read += 1;
                continue;
            };
            if got.stride >= got.len {
                read += 1;
                on_datagram(dp, inner, caps, ike, pb, got.len, from, local, now);
                continue;
            }
            // Several datagrams coalesced by UDP GRO: each is handled on its
            // own, from a copy (decapsulation uses the rest of the buffer).
            dp.counters.gro_buffers += 1;
            dp.counters.gro_datagrams += got.len.div_ceil(got.stride) as u64;
            for d in pb.packet(got.len).chunks(got.stride) {
                read += 1;
                if outer.gro_scratch.load(d) {
                    on_datagram(dp, inner, caps, ike, &mut outer.gro_scratch, d.len(), from, local, now);
                }
            }
        }
        flush_inner(inner, dp);
    }
    Ok(Drain::More)
}

/// One datagram from the NAT-T socket, `len` bytes at the start of `pb`'s
/// input: IKE for the IKE thread, or the inbound path.
#[allow(clippy::too_many_arguments)]
fn on_datagram(
    dp: &mut Dataplane,
    inner: &mut Inner,
    caps: &Captures,
    ike: Option<&IkeLink>,
    pb: &mut PacketBuf,
    len: usize,
    from: SocketAddr,
    local: IpAddr,
    now: Instant,
) {
    if let Some(l) = ike {
        // IKE: from port 500 (no marker) or with the non-ESP marker
        // (RFC 3948 §2.2), for the IKE thread.
        let buf = pb.packet(len);
        let ike = match classify(buf) {
            Ok(Payload::Ike(m)) => Some(m),
            _ if from.port() == 500 => Some(buf),
            _ => None,
        };
        if let Some(d) = ike {
            dp.counters.ike_messages += 1;
            if !l.hand_over(from, d) {
                dp.count_drop(PathDrop::IkeQueueFull);
            }
            return;
        }
    }
    let full = dp.inbound_udp(pb, len, from, local, now).map(|pkt| deliver(inner, caps, pkt));
    if full == Some(false) {
        dp.count_drop(PathDrop::InnerQueueFull);
    }
}

pub(super) fn recv_raw(
    outer: &mut Outer,
    inner: &mut Inner,
    dp: &mut Dataplane,
    caps: &Captures,
    pb: &mut PacketBuf,
    token: Token,
) -> Result<Drain> {
    let s = if token == RAW_ESP { &outer.raw_esp } else { &outer.raw_ah };
    let Some(s) = s else { return Ok(Drain::Empty) };
    for _ in 0..BUDGET {
        match outer::recv_raw(s, pb.input()) {
            Ok(n) => {
                Captures::write(&caps.outer, pb.packet(n));
                let full = dp.inbound(pb, n, Instant::now()).map(|pkt| deliver(inner, caps, pkt));
                if full == Some(false) {
                    dp.count_drop(PathDrop::InnerQueueFull);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                flush_inner(inner, dp);
                return Ok(Drain::Empty);
            }
            Err(e) => {
                tracing::debug!("raw receive: {e}");
                dp.count_drop(PathDrop::SendError);
            }
        }
    }
    flush_inner(inner, dp);
    Ok(Drain::More)
}
