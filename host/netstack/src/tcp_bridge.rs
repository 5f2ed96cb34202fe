//! One TCP connection joined across the two stacks: an OS `TcpStream` on one
//! side, a smoltcp TCP socket on the other. Bytes move straight between the
//! OS socket and smoltcp's own ring buffers, so a connection holds at most
//! the two smoltcp buffers (bounded by `NetstackConfig::tcp_buffer`):
//! backpressure is TCP's own window on the inner side and the kernel socket
//! buffer on the OS side (RFC 9293 §3.8.6).

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Instant;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `expose`: smoltcp accepted a SYN; the OS connection to the local
    /// service is being established.
    OsConnecting,
    /// `forward`/SOCKS: the OS side is accepted; smoltcp sent a SYN.
    InnerConnecting,
    /// SOCKS: waiting for the method-selection message (RFC 1928 §3).
    SocksGreeting,
    /// SOCKS: waiting for the request (RFC 1928 §4).
    SocksRequest,
    /// SOCKS error: flush `to_os`, half-close, drain input, then close.
    SocksClosing,
    /// SOCKS UDP ASSOCIATE: the TCP connection only keeps the association alive.
    SocksUdp,
    /// Data flows both ways.
    Open,
}

/// How a connection ended, deciding what the other side sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Both directions closed with FIN.
    Graceful,
    /// An error or a reset on one side: reset the other (RST both ways).
    Reset,
}

pub(crate) struct TcpConn {
    pub(crate) stream: mio::net::TcpStream,
    pub(crate) handle: Option<SocketHandle>,
    /// Ephemeral inner port to release when the smoltcp socket goes away.
    pub(crate) local_port: Option<u16>,
    pub(crate) phase: Phase,
    pub(crate) is_socks: bool,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// The OS peer half-closed; smoltcp `close()` was issued (FIN inward).
    pub(crate) os_eof: bool,
    /// The inner peer's FIN was passed on as `shutdown(Write)`.
    pub(crate) os_write_shut: bool,
    /// Control bytes (SOCKS replies) to write before any data, ≤ 22 octets.
    pub(crate) to_os: Vec<u8>,
    /// Client bytes read past the SOCKS request, ≤ `socks5::MAX_REQUEST_LEN`.
    pub(crate) to_inner: Vec<u8>,
    /// SOCKS handshake input, ≤ `socks5::MAX_REQUEST_LEN`.
    pub(crate) hs: Vec<u8>,
    /// Handshake / connect deadline.
    pub(crate) deadline: Option<Instant>,
    pub(crate) end: Option<End>,
    pub(crate) udp: Option<Box<crate::socks_udp::SocksUdp>>,
}

impl TcpConn {
    pub(crate) fn new(stream: mio::net::TcpStream, phase: Phase) -> Self {
        TcpConn {
            stream,
            handle: None,
            local_port: None,
            phase,
            is_socks: false,
            readable: true,
            writable: true,
            os_eof: false,
            os_write_shut: false,
            to_os: Vec::new(),
            to_inner: Vec::new(),
            hs: Vec::new(),
            deadline: None,
            end: None,
            udp: None,
        }
    }

    /// Write pending control bytes; true when none are left.
    pub(crate) fn flush_to_os(&mut self) -> bool {
        while !self.to_os.is_empty() && self.writable {
            match (&self.stream).write(&self.to_os) {
                Ok(0) => {
                    self.end = Some(End::Reset);
                    return false;
                }
                Ok(n) => {
                    self.to_os.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.end = Some(End::Reset);
                    return false;
                }
            }
        }
        self.to_os.is_empty()
    }

    /// Read what the OS peer sent into `hs`, at most `limit` octets in all.
    /// Returns false on EOF or error (recorded in `end`).
    pub(crate) fn read_handshake(&mut self, limit: usize) -> bool {
        let mut buf = [0u8; crate::socks5::MAX_REQUEST_LEN];
        while self.readable && self.hs.len() < limit {
            let room = (limit - self.hs.len()).min(buf.len());
            match (&self.stream).read(&mut buf[..room]) {
                Ok(0) => {
                    self.end = Some(End::Graceful);
                    return false;
                }
                Ok(n) => self.hs.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.end = Some(End::Reset);
                    return false;
                }
            }
        }
        true
    }

    /// Move data both ways between the OS stream and the smoltcp socket and
    /// pass half-closes and resets across. Returns whether anything moved.
    pub(crate) fn pump_open(&mut self, s: &mut tcp::Socket<'_>) -> bool {
        let mut progress = false;
        if matches!(s.state(), tcp::State::SynSent | tcp::State::SynReceived) {
            // The inner handshake is still going on (expose accepts at SYN).
            return false;
        }
        if !self.flush_to_os() {
            return true;
        }
        // Inner → OS, straight out of smoltcp's receive buffer.
        while self.writable && !self.os_write_shut {
            let stream = &self.stream;
            let r = s.recv(|buf| {
                if buf.is_empty() {
                    return (0, Ok(0));
                }
                match (&*stream).write(buf) {
                    Ok(n) => (n, Ok(n)),
                    Err(e) => (0, Err(e)),
                }
            });
            match r {
                Ok(Ok(0)) => break,
                Ok(Ok(_)) => progress = true,
                Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(_)) => {
                    self.end = Some(End::Reset);
                    return true;
                }
                Err(tcp::RecvError::Finished) => {
                    // The inner peer's FIN, after all its data: half-close.
                    let _ = self.stream.shutdown(Shutdown::Write);
                    self.os_write_shut = true;
                    progress = true;
                }
                Err(tcp::RecvError::InvalidState) => {
                    // Closed without FIN: reset by the peer or timed out.
                    self.end = Some(End::Reset);
                    return true;
                }
            }
        }
        // OS → inner, straight into smoltcp's send buffer; stops when it is
        // full (backpressure) and leaves the rest in the kernel.
        if !self.to_inner.is_empty() && s.can_send() {
            if let Ok(n) = s.send_slice(&self.to_inner) {
                self.to_inner.drain(..n);
                progress |= n > 0;
            }
        }
        while self.readable && !self.os_eof && self.to_inner.is_empty() && s.can_send() {
            let stream = &self.stream;
            let r = s.send(|buf| match (&*stream).read(buf) {
                Ok(n) => (n, Ok(n)),
                Err(e) => (0, Err(e)),
            });
            match r {
                Ok(Ok(0)) => {
                    // The OS peer half-closed: FIN inward after queued data.
                    self.os_eof = true;
                    s.close();
                    progress = true;
                }
                Ok(Ok(_)) => progress = true,
                Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(_)) => {
                    self.end = Some(End::Reset);
                    return true;
                }
                Err(_) => break,
            }
        }
        if !s.is_open() && !s.may_recv() && !self.os_write_shut && s.recv_queue() == 0 {
            // Closed by a timeout or reset we have not seen through recv().
            if matches!(s.recv(|_| (0, ())), Err(tcp::RecvError::InvalidState)) {
                self.end = Some(End::Reset);
            }
        }
        if self.os_eof && self.os_write_shut && self.end.is_none() {
            self.end = Some(End::Graceful);
        }
        progress
    }

    /// Inner octets buffered for this connection (both smoltcp buffers).
    pub(crate) fn buffered(s: &tcp::Socket<'_>) -> usize {
        s.recv_queue() + s.send_queue()
    }

    /// Close the OS side with RST (SO_LINGER 0) instead of FIN.
    pub(crate) fn reset_os(&self) {
        let _ = socket2::SockRef::from(&self.stream).set_linger(Some(std::time::Duration::ZERO));
    }
}
