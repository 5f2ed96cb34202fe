//! Inbound ESP-in-UDP: many datagrams per system call (`recvmmsg`), read
//! straight into the data plane's packet buffers (no copy).

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use esprit_dataplane::PacketBuf;
use nix::errno::Errno;
use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};

/// Datagrams read per `recvmmsg`.
pub const SLOTS: usize = 16;

/// The buffers and headers of one `recvmmsg`, reused for every call.
pub struct UdpReceiver {
    bufs: Box<[PacketBuf; SLOTS]>,
    headers: MultiHeaders<SockaddrStorage>,
    /// `(length, sender)` of each datagram of the last call.
    got: [(usize, Option<SocketAddr>); SLOTS],
    n: usize,
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
            got: [(0, None); SLOTS],
            n: 0,
        }
    }

    /// Reads up to [`SLOTS`] datagrams without blocking; `Ok(0)` never
    /// happens (an empty socket is `WouldBlock`). A datagram longer than a
    /// buffer arrives truncated and is reported with length 0 (garbage).
    pub fn recv<S: AsRawFd>(&mut self, sock: &S) -> io::Result<usize> {
        self.n = 0;
        let mut slices = self.bufs.each_mut().map(|b| [IoSliceMut::new(b.input())]);
        let res = match recvmmsg(sock.as_raw_fd(), &mut self.headers, slices.iter_mut(), MsgFlags::MSG_DONTWAIT, None) {
            Ok(r) => r,
            Err(Errno::EAGAIN) => return Err(io::ErrorKind::WouldBlock.into()),
            Err(e) => return Err(e.into()),
        };
        for (slot, m) in self.got.iter_mut().zip(res) {
            let truncated = m.flags.contains(MsgFlags::MSG_TRUNC);
            let from = m.address.as_ref().and_then(to_socket_addr);
            *slot = (if truncated { 0 } else { m.bytes }, from);
            self.n += 1;
        }
        Ok(self.n)
    }

    /// Datagram `i` of the last call: its buffer, length and sender.
    pub fn datagram(&mut self, i: usize) -> Option<(&mut PacketBuf, usize, Option<SocketAddr>)> {
        if i >= self.n {
            return None;
        }
        let (len, from) = *self.got.get(i)?;
        Some((self.bufs.get_mut(i)?, len, from))
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
                        let (pb, len, from) = r.datagram(j).unwrap();
                        assert_eq!(len, 10 + seen);
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
}
