//! Outbound ESP-in-UDP with UDP generic segmentation offload.
//!
//! Consecutive datagrams to the same peer with the same size (a TCP bulk
//! transfer through the tunnel: every packet is MSS-sized) are appended to one
//! buffer and sent with one `sendmsg` carrying a `UDP_SEGMENT` control
//! message; the kernel cuts it back into the original datagrams (RFC 3948
//! framing is untouched: each segment is one ESP packet). A shorter datagram
//! may end a run. The kernel refuses GSO when a segment would need IP
//! fragmentation: the run is then sent datagram by datagram (nothing is
//! lost) and runs of that size are no longer built.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, SockaddrStorage};

/// Most segments in one super-datagram (the kernel's `UDP_MAX_SEGMENTS`).
pub const MAX_SEGMENTS: usize = 64;

/// Most bytes in one super-datagram: the UDP length field, less the UDP and
/// IPv6 headers.
const MAX_BYTES: usize = 65_535 - 8 - 40;

/// A run of datagrams waiting to go out as one super-datagram.
pub struct GsoSender {
    buf: Vec<u8>,
    dst: Option<SocketAddr>,
    /// Size of every segment but the last.
    seg: usize,
    segs: usize,
    /// The last segment was shorter: the run is closed.
    closed: bool,
    /// Runs are only built of datagrams shorter than this (lowered when the
    /// kernel refuses a size, e.g. one that would need fragmentation).
    limit: usize,
}

/// What one send did: datagrams sent and datagrams lost with the last error.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub datagrams: usize,
    pub failed: usize,
    /// GSO sends (super-datagrams) among them, and the datagrams they carried.
    pub gso_sends: usize,
    pub gso_datagrams: usize,
}

impl Sent {
    fn add(&mut self, o: Sent) {
        self.datagrams += o.datagrams;
        self.failed += o.failed;
        self.gso_sends += o.gso_sends;
        self.gso_datagrams += o.gso_datagrams;
    }
}

impl Default for GsoSender {
    fn default() -> Self {
        GsoSender::new()
    }
}

impl GsoSender {
    pub fn new() -> GsoSender {
        GsoSender { buf: Vec::with_capacity(MAX_BYTES), dst: None, seg: 0, segs: 0, closed: false, limit: usize::MAX }
    }

    /// Datagrams waiting in the current run.
    pub fn queued(&self) -> usize {
        self.segs
    }

    /// Queues one datagram for `dst`; sends the current run first when the
    /// datagram cannot join it.
    pub fn push<S: AsRawFd>(&mut self, sock: &S, dst: SocketAddr, payload: &[u8]) -> Sent {
        let mut sent = Sent::default();
        let joins = self.dst == Some(dst)
            && !self.closed
            && payload.len() <= self.seg
            && self.segs < MAX_SEGMENTS
            && self.buf.len() + payload.len() <= MAX_BYTES;
        if !joins {
            sent.add(self.flush(sock));
        }
        if payload.is_empty() || payload.len() >= self.limit || payload.len() > MAX_BYTES {
            // Alone, without GSO (the kernel fragments it if it must).
            sent.add(send_one(sock, dst, payload));
            return sent;
        }
        if self.segs == 0 {
            self.dst = Some(dst);
            self.seg = payload.len();
        } else if payload.len() < self.seg {
            self.closed = true;
        }
        self.buf.extend_from_slice(payload);
        self.segs += 1;
        sent
    }

    /// Sends the current run.
    pub fn flush<S: AsRawFd>(&mut self, sock: &S) -> Sent {
        let Some(dst) = self.dst else { return Sent::default() };
        let sent = if self.segs == 1 {
            send_one(sock, dst, &self.buf)
        } else {
            match send_gso(sock, dst, &self.buf, self.seg) {
                Ok(()) => Sent { datagrams: self.segs, failed: 0, gso_sends: 1, gso_datagrams: self.segs },
                Err(Errno::EINVAL | Errno::EIO | Errno::EMSGSIZE | Errno::ENOPROTOOPT) => {
                    // This size cannot be segmented here: never again, and send
                    // this run one by one.
                    tracing::debug!(segment = self.seg, "UDP GSO refused; sending datagrams of this size one by one");
                    self.limit = self.limit.min(self.seg);
                    let mut s = Sent::default();
                    for chunk in self.buf.chunks(self.seg) {
                        s.add(send_one(sock, dst, chunk));
                    }
                    s
                }
                Err(e) => {
                    tracing::debug!("UDP GSO send to {dst}: {e}");
                    Sent { datagrams: 0, failed: self.segs, ..Sent::default() }
                }
            }
        };
        self.buf.clear();
        self.dst = None;
        self.segs = 0;
        self.seg = 0;
        self.closed = false;
        sent
    }
}

fn send_gso<S: AsRawFd>(sock: &S, dst: SocketAddr, buf: &[u8], seg: usize) -> Result<(), Errno> {
    let seg = u16::try_from(seg).map_err(|_| Errno::EMSGSIZE)?;
    let addr = SockaddrStorage::from(dst);
    let cmsg = [ControlMessage::UdpGsoSegments(&seg)];
    sendmsg(sock.as_raw_fd(), &[IoSlice::new(buf)], &cmsg, MsgFlags::empty(), Some(&addr)).map(|_| ())
}

fn send_one<S: AsRawFd>(sock: &S, dst: SocketAddr, payload: &[u8]) -> Sent {
    let addr = SockaddrStorage::from(dst);
    match nix::sys::socket::sendto(sock.as_raw_fd(), payload, &addr, MsgFlags::empty()) {
        Ok(_) => Sent { datagrams: 1, ..Sent::default() },
        Err(e) => {
            tracing::debug!("UDP send to {dst}: {}", io::Error::from(e));
            Sent { failed: 1, ..Sent::default() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    fn pair() -> (UdpSocket, UdpSocket, SocketAddr) {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        (tx, rx, to)
    }

    fn recv_all(rx: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut b = [0u8; 70_000];
        for _ in 0..n {
            let k = rx.recv(&mut b).unwrap();
            out.push(b[..k].to_vec());
        }
        out
    }

    #[test]
    fn a_run_arrives_as_the_original_datagrams_in_order() {
        let (tx, rx, to) = pair();
        let mut g = GsoSender::new();
        let mut want = Vec::new();
        let mut sent = Sent::default();
        for i in 0..10u8 {
            let d = vec![i; 1400];
            sent.add(g.push(&tx, to, &d));
            want.push(d);
        }
        // A shorter one ends the run, a longer one starts a new run.
        for d in [vec![0xaa; 300], vec![0xbb; 1500], vec![0xcc; 1500]] {
            sent.add(g.push(&tx, to, &d));
            want.push(d);
        }
        sent.add(g.flush(&tx));
        assert_eq!((sent.datagrams, sent.failed), (13, 0));
        assert!(sent.gso_sends >= 2 && sent.gso_datagrams >= 12, "{sent:?}");
        assert_eq!(recv_all(&rx, 13), want);
    }

    #[test]
    fn another_peer_or_a_full_run_flushes() {
        let (tx, rx, to) = pair();
        let (_, rx2, to2) = pair();
        let mut g = GsoSender::new();
        for i in 0..(MAX_SEGMENTS + 3) {
            let s = g.push(&tx, to, &[i as u8; 100]);
            // The 65th datagram cannot join: the full run went out.
            assert_eq!(s.datagrams, if i == MAX_SEGMENTS { MAX_SEGMENTS } else { 0 });
        }
        assert_eq!(g.push(&tx, to2, b"other").datagrams, 3);
        assert_eq!(g.flush(&tx).datagrams, 1);
        let got = recv_all(&rx, MAX_SEGMENTS + 3);
        assert!(got.iter().enumerate().all(|(i, d)| d == &vec![i as u8; 100]));
        assert_eq!(recv_all(&rx2, 1), vec![b"other".to_vec()]);
    }

    #[test]
    fn oversized_and_empty_datagrams_go_alone() {
        let (tx, rx, to) = pair();
        let mut g = GsoSender::new();
        assert_eq!(g.push(&tx, to, &[1; 100]).datagrams, 0);
        // Too big for a run: the run goes, then it alone.
        let big = vec![2u8; MAX_BYTES + 1];
        assert_eq!(g.push(&tx, to, &big), Sent { datagrams: 2, ..Sent::default() });
        assert_eq!(g.queued(), 0);
        assert_eq!(g.push(&tx, to, &[]), Sent { datagrams: 1, ..Sent::default() });
        assert_eq!(g.flush(&tx), Sent::default());
        assert_eq!(recv_all(&rx, 3), vec![vec![1u8; 100], big, vec![]]);
    }
}
