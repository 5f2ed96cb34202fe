//! TCP connections: smoltcp listeners for `expose`, OS accepts for
//! `forward` and SOCKS5, the per-connection state machine and teardown.

use super::*;

impl Netstack {
    pub(super) fn insert_conn(&mut self, mut c: TcpConn) -> io::Result<usize> {
        let idx = self.free.pop().unwrap_or(self.conns.len());
        self.poll.registry().register(
            &mut c.stream,
            Token(idx),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        if idx == self.conns.len() {
            self.conns.push(Some(c));
        } else {
            self.conns[idx] = Some(c);
        }
        self.live += 1;
        self.stats.tcp_opened += 1;
        Ok(idx)
    }

    pub(super) fn new_tcp_socket(&self) -> tcp::Socket<'static> {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; self.cfg.tcp_buffer]),
            tcp::SocketBuffer::new(vec![0; self.cfg.tcp_buffer]),
        );
        s.set_timeout(Some(smoltcp::time::Duration::from_secs(
            TCP_TIMEOUT.as_secs(),
        )));
        s.set_nagle_enabled(false);
        s.set_ack_delay(None);
        s
    }

    /// Open an inner TCP connection to `remote` from an ephemeral port.
    pub(super) fn inner_connect(&mut self, remote: SocketAddr) -> Option<(SocketHandle, u16)> {
        let port = self.ports.allocate()?;
        let mut s = self.new_tcp_socket();
        if s.connect(self.iface.context(), IpEndpoint::from(remote), port)
            .is_err()
        {
            self.ports.release(port);
            return None;
        }
        Some((self.sockets.add(s), port))
    }

    /// Keep `listen_backlog` smoltcp listeners per exposed port and turn
    /// those that received a SYN into connections to the local service.
    pub(super) fn replenish_listeners(&mut self, now: Instant) {
        for i in 0..self.exposes.len() {
            let mut j = 0;
            while j < self.exposes[i].listening.len() {
                let h = self.exposes[i].listening[j];
                let state = self.sockets.get::<tcp::Socket>(h).state();
                if state == tcp::State::Listen {
                    j += 1;
                    continue;
                }
                self.exposes[i].listening.swap_remove(j);
                if state == tcp::State::Closed {
                    self.sockets.remove(h);
                    continue;
                }
                let local = self.exposes[i].local;
                match mio::net::TcpStream::connect(local) {
                    Ok(stream) => {
                        let mut c = TcpConn::new(stream, Phase::OsConnecting);
                        c.handle = Some(h);
                        c.deadline = Some(now + CONNECT_TIMEOUT);
                        if self.insert_conn(c).is_err() {
                            self.sockets.get_mut::<tcp::Socket>(h).abort();
                            self.closing.push(Closing {
                                handle: h,
                                port: None,
                                since: now,
                            });
                        }
                    }
                    Err(e) => {
                        tracing::debug!(%local, error = %e, "expose: local connect failed");
                        self.sockets.get_mut::<tcp::Socket>(h).abort();
                        self.stats.tcp_reset += 1;
                        self.closing.push(Closing {
                            handle: h,
                            port: None,
                            since: now,
                        });
                    }
                }
            }
            let want = self.cfg.listen_backlog.max(1);
            while self.exposes[i].listening.len() < want {
                if self.live + self.exposes[i].listening.len() >= self.cfg.max_connections {
                    break;
                }
                let mut s = self.new_tcp_socket();
                if s.listen(self.exposes[i].port).is_err() {
                    break;
                }
                let h = self.sockets.add(s);
                self.exposes[i].listening.push(h);
            }
        }
    }

    /// Accept OS connections on forward and SOCKS5 listeners.
    pub(super) fn accept_os(&mut self, now: Instant) -> bool {
        let mut progress = false;
        for i in 0..self.listeners.len() {
            while self.listeners[i].readable {
                let over_limit = self.live >= self.cfg.max_connections;
                let (stream, _peer) = match self.listeners[i].listener.accept() {
                    Ok(x) => x,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.listeners[i].readable = false;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // EMFILE and friends: back off until the next event.
                        tracing::warn!(error = %e, "netstack: accept failed");
                        self.listeners[i].readable = false;
                        break;
                    }
                };
                progress = true;
                if over_limit {
                    // Refused at once with an RST, counted: a connection left
                    // in the kernel's accept queue hung its client without a
                    // word until a slot freed.
                    self.stats.tcp_limited += 1;
                    TcpConn::new(stream, Phase::Open).reset_os();
                    continue;
                }
                let _ = stream.set_nodelay(true);
                match self.listeners[i].kind {
                    ListenerKind::Forward(remote) => {
                        let Some((h, port)) = self.inner_connect(remote) else {
                            self.stats.tcp_reset += 1;
                            let c = TcpConn::new(stream, Phase::Open);
                            c.reset_os();
                            continue;
                        };
                        let mut c = TcpConn::new(stream, Phase::InnerConnecting);
                        c.handle = Some(h);
                        c.local_port = Some(port);
                        c.deadline = Some(now + CONNECT_TIMEOUT);
                        if self.insert_conn(c).is_err() {
                            self.sockets.get_mut::<tcp::Socket>(h).abort();
                            self.closing.push(Closing {
                                handle: h,
                                port: Some(port),
                                since: now,
                            });
                        }
                    }
                    ListenerKind::Socks5 => {
                        let mut c = TcpConn::new(stream, Phase::SocksGreeting);
                        c.is_socks = true;
                        c.deadline = Some(now + HANDSHAKE_TIMEOUT);
                        let _ = self.insert_conn(c);
                    }
                }
            }
        }
        progress
    }

    pub(super) fn pump_conns(&mut self, now: Instant) -> bool {
        let mut progress = false;
        for idx in 0..self.conns.len() {
            let Some(mut c) = self.conns[idx].take() else {
                continue;
            };
            progress |= self.step_conn(&mut c, now);
            if c.end.is_some() {
                self.finish_conn(idx, c, now);
            } else {
                self.conns[idx] = Some(c);
            }
        }
        progress
    }

    /// Advance one connection through its phases; true if anything moved.
    pub(super) fn step_conn(&mut self, c: &mut TcpConn, now: Instant) -> bool {
        let mut progress = false;
        loop {
            let before = c.phase;
            match c.phase {
                Phase::OsConnecting => {
                    match c.stream.take_error() {
                        Ok(None) => {}
                        Ok(Some(_)) | Err(_) => {
                            c.end = Some(End::Reset);
                            return true;
                        }
                    }
                    match c.stream.peer_addr() {
                        Ok(_) => {
                            c.phase = Phase::Open;
                            c.deadline = None;
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                            if c.deadline.is_some_and(|d| now >= d) {
                                c.end = Some(End::Reset);
                                return true;
                            }
                        }
                        Err(_) => {
                            c.end = Some(End::Reset);
                            return true;
                        }
                    }
                    if let Some(h) = c.handle {
                        let st = self.sockets.get::<tcp::Socket>(h).state();
                        if matches!(st, tcp::State::Listen | tcp::State::Closed) {
                            // The inner handshake failed before we got going.
                            c.end = Some(End::Reset);
                            return true;
                        }
                    }
                }
                Phase::InnerConnecting => {
                    let Some(h) = c.handle else {
                        c.end = Some(End::Reset);
                        return true;
                    };
                    let s = self.sockets.get::<tcp::Socket>(h);
                    match s.state() {
                        tcp::State::SynSent | tcp::State::SynReceived => {
                            if c.deadline.is_some_and(|d| now >= d) {
                                if c.is_socks {
                                    self.socks_fail(c, Reply::HostUnreachable);
                                } else {
                                    c.end = Some(End::Reset);
                                }
                                return true;
                            }
                        }
                        tcp::State::Closed | tcp::State::Listen => {
                            if c.is_socks {
                                self.socks_fail(c, Reply::ConnectionRefused);
                            } else {
                                c.end = Some(End::Reset);
                            }
                            return true;
                        }
                        _ => {
                            if c.is_socks {
                                let bound = s
                                    .local_endpoint()
                                    .map(|e| SocketAddr::new(e.addr.into(), e.port))
                                    .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
                                c.to_os
                                    .extend(socks5::encode_reply(Reply::Succeeded, bound));
                            }
                            c.phase = Phase::Open;
                            c.deadline = None;
                        }
                    }
                }
                Phase::SocksGreeting => {
                    if !c.read_handshake(2 + 255) {
                        return true;
                    }
                    match socks5::parse_greeting(&c.hs) {
                        Ok(None) => {
                            if c.deadline.is_some_and(|d| now >= d) {
                                c.end = Some(End::Reset);
                                return true;
                            }
                        }
                        Ok(Some((true, n))) => {
                            c.hs.drain(..n);
                            c.to_os = vec![socks5::VERSION, socks5::METHOD_NO_AUTH];
                            c.phase = Phase::SocksRequest;
                        }
                        Ok(Some((false, _))) | Err(_) => {
                            // RFC 1928 §3: X'FF' and the client closes.
                            self.stats.socks_errors += 1;
                            c.to_os = vec![socks5::VERSION, socks5::METHOD_NO_ACCEPTABLE];
                            c.phase = Phase::SocksClosing;
                            c.deadline = Some(now + Duration::from_secs(2));
                        }
                    }
                }
                Phase::SocksRequest => {
                    if !c.flush_to_os() && c.end.is_some() {
                        return true;
                    }
                    if !c.read_handshake(socks5::MAX_REQUEST_LEN) {
                        return true;
                    }
                    match socks5::parse_request(&c.hs) {
                        Ok(None) => {
                            if c.deadline.is_some_and(|d| now >= d) {
                                c.end = Some(End::Reset);
                                return true;
                            }
                        }
                        Err(e) => {
                            self.socks_fail(c, e.reply());
                        }
                        Ok(Some((req, n))) => {
                            c.to_inner = c.hs.split_off(n);
                            c.hs = Vec::new();
                            self.socks_request(c, req, now);
                        }
                    }
                }
                Phase::SocksClosing => {
                    if c.flush_to_os() {
                        if !c.os_write_shut {
                            let _ = c.stream.shutdown(std::net::Shutdown::Write);
                            c.os_write_shut = true;
                        }
                        // Drain what the client still sends so closing does
                        // not turn into a RST that could eat our reply.
                        c.hs.clear();
                        if !c.read_handshake(socks5::MAX_REQUEST_LEN) {
                            c.end = Some(End::Graceful);
                            return true;
                        }
                        c.hs.clear();
                    }
                    if c.deadline.is_some_and(|d| now >= d) {
                        c.end = Some(End::Graceful);
                        return true;
                    }
                }
                Phase::SocksUdp => {
                    if !c.flush_to_os() && c.end.is_some() {
                        return true;
                    }
                    // The control connection carries nothing more; its
                    // close ends the association.
                    c.hs.clear();
                    if !c.read_handshake(socks5::MAX_REQUEST_LEN) {
                        c.end = Some(End::Graceful);
                        return true;
                    }
                    c.hs.clear();
                    if let Some(a) = c.udp.as_mut() {
                        let r = a.pump(&mut self.sockets, &mut self.scratch);
                        progress |= r.progress;
                        self.stats.udp_dropped += r.dropped;
                    }
                }
                Phase::Open => {
                    let Some(h) = c.handle else {
                        c.end = Some(End::Reset);
                        return true;
                    };
                    let s = self.sockets.get_mut::<tcp::Socket>(h);
                    progress |= c.pump_open(s);
                }
            }
            if c.phase == before || c.end.is_some() {
                break;
            }
            progress = true;
        }
        progress
    }

    pub(super) fn finish_conn(&mut self, idx: usize, mut c: TcpConn, now: Instant) {
        let _ = self.poll.registry().deregister(&mut c.stream);
        if let Some(mut a) = c.udp.take() {
            let _ = self.poll.registry().deregister(&mut a.relay);
            self.sockets.remove(a.handle);
            self.ports.release(a.port);
        }
        let end = c.end.unwrap_or(End::Reset);
        if end == End::Reset {
            self.stats.tcp_reset += 1;
            c.reset_os();
        }
        if let Some(h) = c.handle.take() {
            if end == End::Reset {
                self.sockets.get_mut::<tcp::Socket>(h).abort();
            }
            self.closing.push(Closing {
                handle: h,
                port: c.local_port.take(),
                since: now,
            });
        }
        drop(c);
        self.free.push(idx);
        self.live -= 1;
    }
}
