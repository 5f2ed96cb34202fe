//! Inbound ESP-in-UDP: many datagrams per system call (`recvmmsg`), read
//! straight into the data plane's packet buffers (no copy), and with UDP
//! GRO (`UDP_GRO`) runs of same-size datagrams from one peer coalesced by the
//! kernel into one buffer, reported with their segment size (the stride).

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use esprit_dataplane::PacketBuf;
use nix::errno::Errno;
use nix::sys::socket::{recvmmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage};

/// Datagrams read per `recvmmsg`.
pub const SLOTS: usize = 16;

/// The buffers and headers of one `recvmmsg`, reused for every call.
pub struct UdpReceiver {
    bufs: Box<[PacketBuf; SLOTS]>,
    headers: MultiHeaders<SockaddrStorage>,
    /// Each buffer of the last call: its length, sender and stride.
    got: [Received; SLOTS],
    n: usize,
    /// UDP GRO is on: the kernel may coalesce datagrams into one buffer.
    gro: bool,
}

/// Asks the kernel to coalesce runs of datagrams on `sock` (`UDP_GRO`);
/// `false` if this kernel cannot (datagrams then arrive one per buffer).
pub fn enable_gro<S: std::os::fd::AsFd>(sock: &S) -> bool {
    setsockopt(sock, sockopt::UdpGroSegment, &true).is_ok()
}

/// One buffer filled by the last `recvmmsg`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Received {
    /// Bytes in the buffer (0: truncated, treat as garbage).
    pub len: usize,
    pub from: Option<SocketAddr>,
    /// Size of each coalesced datagram (the last may be shorter); equal to
    /// `len` when the buffer holds one datagram.
    pub stride: usize,
}

impl Default for UdpReceiver {
    fn default() -> Self {
        UdpReceiver::new()
    }
}

impl UdpReceiver {
    pub fn new() -> UdpReceiver {
        UdpReceiver {
            bufs: Box::new(std::array::from_fn(|_| PacketBuf::new())),
            headers: MultiHeaders::preallocate(SLOTS, None),
            got: [Received::default(); SLOTS],
            n: 0,
            gro: false,
        }
    }

    /// A receiver for a socket on which [`enable_gro`] returned `gro`
    /// (made on the thread that reads: its headers cannot move between
    /// threads).
    pub fn with_gro(gro: bool) -> UdpReceiver {
        UdpReceiver { gro, ..UdpReceiver::new() }
    }

    /// [`enable_gro`] on `sock`, for this receiver.
    pub fn enable_gro<S: std::os::fd::AsFd>(&mut self, sock: &S) -> bool {
        self.gro = enable_gro(sock);
        self.gro
    }

    /// Reads up to [`SLOTS`] datagrams without blocking; `Ok(0)` never
    /// happens (an empty socket is `WouldBlock`). A datagram longer than a
    /// buffer arrives truncated and is reported with length 0 (garbage).
    pub fn recv<S: AsRawFd>(&mut self, sock: &S) -> io::Result<usize> {
        self.n = 0;
        if self.gro {
            // The kernel shortens each header's control length to what it
            // wrote and nix does not restore it: fresh headers every call, or
            // a buffer without a GRO message would blind its slot for good
            // (3 small allocations per call of up to 16 × 64 datagrams).
            self.headers = MultiHeaders::preallocate(SLOTS, Some(nix::cmsg_space!(i32)));
        }
        let mut slices = self.bufs.each_mut().map(|b| [IoSliceMut::new(b.input())]);
        let res = match recvmmsg(sock.as_raw_fd(), &mut self.headers, slices.iter_mut(), MsgFlags::MSG_DONTWAIT, None) {
            Ok(r) => r,
            Err(Errno::EAGAIN) => return Err(io::ErrorKind::WouldBlock.into()),
            Err(e) => return Err(e.into()),
        };
        for (slot, m) in self.got.iter_mut().zip(res) {
            let truncated = m.flags.contains(MsgFlags::MSG_TRUNC);
            let len = if truncated { 0 } else { m.bytes };
            let gso = m.cmsgs().ok().and_then(|mut c| {
                c.find_map(|c| match c {
                    ControlMessageOwned::UdpGroSegments(n) => usize::try_from(n).ok().filter(|n| *n > 0),
                    _ => None,
                })
            });
            *slot = Received { len, from: m.address.as_ref().and_then(to_socket_addr), stride: gso.unwrap_or(len).min(len.max(1)) };
            self.n += 1;
        }
        Ok(self.n)
    }

    /// Buffer `i` of the last call and what it holds.
    pub fn datagram(&mut self, i: usize) -> Option<(&mut PacketBuf, Received)> {
        if i >= self.n {
            return None;
        }
        let r = *self.got.get(i)?;
        Some((self.bufs.get_mut(i)?, r))
    }
}

fn to_socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn reads_a_burst_in_batches_with_senders_then_would_block() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        let n = SLOTS * 2 + 5;
        for i in 0..n {
            tx.send_to(&[i as u8; 50][..10 + i], to).unwrap();
        }
        let mut r = UdpReceiver::new();
        let mut seen = 0;
        loop {
            match r.recv(&rx) {
                Ok(k) => {
                    assert!(k >= 1 && k <= SLOTS);
                    for j in 0..k {
                        let (pb, Received { len, from, stride }) = r.datagram(j).unwrap();
                        assert_eq!(len, 10 + seen);
                        assert_eq!(stride, len);
                        assert_eq!(pb.packet(len), &[seen as u8; 50][..len]);
                        assert_eq!(from, Some(tx.local_addr().unwrap()));
                        seen += 1;
                    }
                    assert!(r.datagram(k).is_none());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(seen, n);
    }

    #[test]
    fn gro_runs_split_back_into_the_datagrams_sent() {
        // A GSO run over loopback reaches a GRO socket as one buffer (or as
        // single datagrams where the kernel does not coalesce): either way the
        // strides give back exactly what was sent.
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut r = UdpReceiver::new();
        assert!(r.enable_gro(&rx), "this kernel has UDP_GRO");
        let mut g = crate::io_edge::gso::GsoSender::new();
        let mut want = Vec::new();
        for i in 0..20u8 {
            let d = vec![i; if i == 19 { 333 } else { 1200 }];
            g.push(&tx, rx.local_addr().unwrap(), &d);
            want.push(d);
        }
        assert_eq!(g.flush(&tx).datagrams, 20);
        let mut got = Vec::new();
        while got.len() < want.len() {
            match r.recv(&rx) {
                Ok(k) => {
                    for j in 0..k {
                        let (pb, Received { len, stride, .. }) = r.datagram(j).unwrap();
                        got.extend(pb.packet(len).chunks(stride).map(<[u8]>::to_vec));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, want);
    }
}
