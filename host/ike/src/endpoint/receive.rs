//! Incoming datagrams: demultiplexing by SPI (RFC 7296 §2.2), IKE_SA_INIT
//! requests with COOKIEs and half-open limits (§2.6), message-ID windows
//! and retransmitted requests (§2.3), decryption and fragment reassembly
//! (RFC 7383), then the exchange handlers.
use std::net::SocketAddr;
use std::time::Instant;

use tracing::{debug, info, warn};
use zeroize::Zeroizing;

use super::Endpoint;
use crate::event::Transmit;
use crate::exchange::err;
use crate::exchange::sa_init::{respond_sa_init, HalfOpenCount, InitReply};
use crate::ike_sa::{IkeSa, IkeState, Pending, Reassembly, MAX_FRAGMENTS, MAX_REASSEMBLED};
use crate::message::payload::parse_chain;
use crate::message::rules;
use crate::message::{Header, ParseError, HEADER_LEN};
use crate::types::{notify as n, payload_type as pt, ExchangeType, IkeSpi};

/// Offset of the SK/SKF payload's generic header, walking the outer chain.
fn sk_offset(msg: &[u8], first: u8) -> Option<(usize, u8)> {
    let mut off = HEADER_LEN;
    let mut t = first;
    while off + 4 <= msg.len() {
        if t == pt::SK || t == pt::SKF {
            return Some((off, t));
        }
        if t == pt::NONE {
            return None;
        }
        let len = u16::from_be_bytes([msg[off + 2], msg[off + 3]]) as usize;
        if len < 4 {
            return None;
        }
        t = msg[off];
        off += len;
    }
    None
}
impl Endpoint {
    /// One datagram from the network (without the non-ESP marker).
    pub fn handle_datagram(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        self.stats.received += 1;
        if data == [0xff] {
            return; // NAT-T keepalive
        }
        let hdr = match Header::parse(data) {
            Ok(h) => h,
            Err(e) => {
                self.stats.malformed += 1;
                debug!(peer = %remote, "dropping malformed IKE message: {e}");
                return;
            }
        };
        let Some(msg) = data.get(..hdr.length as usize) else {
            self.stats.malformed += 1;
            return;
        };
        if hdr.major != 2 {
            self.stats.malformed += 1;
            warn!(peer = %remote, "IKE major version {} (we speak 2); answering INVALID_MAJOR_VERSION", hdr.major);
            if !hdr.is_response() && hdr.exchange == ExchangeType::IkeSaInit {
                let mut sa = IkeSa::new(0, false, hdr.spi_i, hdr.spi_r, local, remote, now);
                let m = sa.plain_message(ExchangeType::IkeSaInit, hdr.message_id, true, &[err(n::INVALID_MAJOR_VERSION)]);
                let mut ctx = ctx!(self, now);
                sa.transmit(&mut ctx, m);
            }
            return;
        }
        if hdr.exchange == ExchangeType::IkeSaInit && !hdr.is_response() {
            self.handle_sa_init_request(now, local, remote, &hdr, msg);
            self.flush(now);
            return;
        }
        let local_spi = if hdr.is_initiator() { hdr.spi_r } else { hdr.spi_i };
        let Some(mut sa) = self.sas.remove(&local_spi) else {
            self.stats.unknown_spi += 1;
            debug!(peer = %remote, "IKE message for unknown SPI {local_spi}");
            return;
        };
        self.handle_for_sa(now, &mut sa, &hdr, msg, local, remote);
        if std::mem::take(&mut sa.initial_contact) && sa.state == IkeState::Established {
            self.drop_stale(now, local_spi, &sa);
        }
        self.put_back(local_spi, sa);
        self.flush(now);
    }

    fn handle_sa_init_request(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, hdr: &Header, msg: &[u8]) {
        if !hdr.spi_r.is_zero() {
            self.stats.malformed += 1;
            return;
        }
        // A retransmitted IKE_SA_INIT: answer with the same response.
        if let Some(spi) = self.index.by_init(hdr.spi_i, remote) {
            if let Some(sa) = self.sas.get_mut(&spi) {
                if sa.init_request == msg {
                    self.stats.retransmitted_requests += 1;
                    let d = sa.init_response.clone();
                    let mut ctx = ctx!(self, now);
                    sa.transmit(&mut ctx, d);
                }
                return;
            }
        }
        if self.closing {
            debug!(peer = %remote, "shutting down: IKE_SA_INIT ignored");
            return;
        }
        let ps = match parse_chain(hdr.next_payload, &msg[HEADER_LEN..]) {
            Ok(p) => p,
            Err(e) => {
                self.stats.malformed += 1;
                warn!(peer = %remote, "malformed IKE_SA_INIT: {e}");
                let t = if let ParseError::UnsupportedCritical(_) = e { n::UNSUPPORTED_CRITICAL_PAYLOAD } else { n::INVALID_SYNTAX };
                let mut sa = IkeSa::new(0, false, hdr.spi_i, IkeSpi::ZERO, local, remote, now);
                let m = sa.plain_message(ExchangeType::IkeSaInit, hdr.message_id, true, &[err(t)]);
                let mut ctx = ctx!(self, now);
                sa.transmit(&mut ctx, m);
                return;
            }
        };
        if let Err(v) = rules::check(ExchangeType::IkeSaInit, false, &ps, &[]) {
            self.stats.malformed += 1;
            warn!(peer = %remote, "malformed IKE_SA_INIT: {v}; answering INVALID_SYNTAX");
            let mut sa = IkeSa::new(0, false, hdr.spi_i, IkeSpi::ZERO, local, remote, now);
            let m = sa.plain_message(ExchangeType::IkeSaInit, hdr.message_id, true, &[err(n::INVALID_SYNTAX)]);
            let mut ctx = ctx!(self, now);
            sa.transmit(&mut ctx, m);
            return;
        }
        let half = HalfOpenCount { total: self.index.half_open(), from_peer: self.index.half_open_from(remote.ip()) };
        let secret = self.cookie_secret;
        let reply = {
            let mut ctx = ctx!(self, now);
            respond_sa_init(&mut ctx, local, remote, hdr, &ps, msg, half, &secret)
        };
        match reply {
            InitReply::Created(mut sa) => {
                self.make_room(now);
                let spi = sa.local_spi();
                self.index.set_init_key(spi, &mut sa);
                self.put_back(spi, *sa);
            }
            InitReply::Stateless(m) => {
                self.stats.sent += 1;
                self.transmits.push_back(Transmit { local, remote, non_esp_marker: crate::event::uses_non_esp_marker(local, remote, self.cfg.natt_port), data: m });
            }
            InitReply::PerIpLimit => {
                self.stats.half_open_refused += 1;
                if let Some(more) = self.per_ip_log.hit(now) {
                    warn!(
                        peer = %remote,
                        "{remote} has {} half-open IKE SAs (half_open_per_ip); dropping its IKE_SA_INIT requests until some complete or expire ({more} more dropped since the last such message)",
                        self.cfg.half_open_per_ip
                    );
                }
            }
            InitReply::Drop => {}
        }
    }

    /// Under `half_open_limit`: drops the oldest half-open SA so a new one
    /// fits (§2.6; a legitimate initiator leaves the half-open state after
    /// one round trip, a flood's SAs never do).
    fn make_room(&mut self, now: Instant) {
        let limit = self.cfg.half_open_limit;
        if limit == 0 {
            return;
        }
        while self.index.half_open() >= limit {
            let Some(spi) = self.index.oldest_half_open() else { return };
            let Some(mut old) = self.sas.remove(&spi) else { return };
            old.state = IkeState::Dead;
            self.index.sync(spi, &mut old);
            self.stats.half_open_evicted += 1;
            if let Some(more) = self.limit_log.hit(now) {
                warn!(
                    "{} half-open IKE SAs (half_open_limit): dropping the oldest, from {}, to admit a new one ({more} more dropped since the last such message)",
                    limit, old.remote
                );
            }
        }
    }

    fn handle_for_sa(&mut self, now: Instant, sa: &mut IkeSa, hdr: &Header, msg: &[u8], local: SocketAddr, remote: SocketAddr) {
        if sa.state == IkeState::Dead {
            return;
        }
        let mut ctx = ctx!(self, now);
        if hdr.is_response() {
            match &sa.in_flight {
                Some(f) if f.mid == hdr.message_id => {}
                _ => {
                    ctx.stats.bad_message_id += 1;
                    debug!(peer = %remote, "response with message ID {} matches no request of ours", hdr.message_id);
                    return;
                }
            }
        } else if hdr.message_id != sa.peer_mid {
            if hdr.message_id.wrapping_add(1) == sa.peer_mid {
                if let Some((mid, d)) = &sa.last_response {
                    // A retransmitted request (or its first fragment, RFC 7383 §2.6.1).
                    let first_or_whole = !(hdr.next_payload == pt::SKF && msg.len() > HEADER_LEN + 6 && u16::from_be_bytes([msg[HEADER_LEN + 4], msg[HEADER_LEN + 5]]) != 1);
                    if *mid == hdr.message_id && first_or_whole {
                        ctx.stats.retransmitted_requests += 1;
                        let d = d.clone();
                        sa.transmit_all(&mut ctx, &d);
                        return;
                    }
                    if *mid == hdr.message_id {
                        return;
                    }
                }
            }
            ctx.stats.bad_message_id += 1;
            debug!(peer = %remote, "request with message ID {} outside the window (expect {})", hdr.message_id, sa.peer_mid);
            return;
        }
        // IKE_SA_INIT response: unencrypted.
        if hdr.exchange == ExchangeType::IkeSaInit {
            let ps = match parse_chain(hdr.next_payload, &msg[HEADER_LEN..]) {
                Ok(p) => p,
                Err(e) => {
                    ctx.stats.malformed += 1;
                    warn!(peer = %remote, "malformed IKE_SA_INIT response: {e}");
                    return;
                }
            };
            if sa.state != IkeState::InitSent {
                return;
            }
            if let Err(v) = rules::check(ExchangeType::IkeSaInit, true, &ps, &[]) {
                ctx.stats.malformed += 1;
                warn!(peer = %remote, "malformed IKE_SA_INIT response: {v}");
                sa.die(&mut ctx, &format!("malformed IKE_SA_INIT response: {v}"));
                return;
            }
            let Some(f) = sa.in_flight.take() else { return };
            let Pending::SaInit { child } = f.pending else { return };
            sa.last_heard = now;
            sa.handle_sa_init_response(&mut ctx, hdr, &ps, msg, child);
            return;
        }
        let Some((off, t)) = sk_offset(msg, hdr.next_payload) else {
            ctx.stats.malformed += 1;
            debug!(peer = %remote, "{:?} message without an encrypted payload", hdr.exchange);
            return;
        };
        // The payloads in the clear (normally the SK/SKF payload alone), for
        // the payload rules.
        let outside = match parse_chain(hdr.next_payload, &msg[HEADER_LEN..]) {
            Ok(p) => p,
            Err(e) => {
                ctx.stats.malformed += 1;
                debug!(peer = %remote, "{:?} message with malformed outer payloads: {e}", hdr.exchange);
                return;
            }
        };
        let Some(sk) = sa.key_state.sk() else { return };
        let (inner, inner_first) = if t == pt::SKF {
            if msg.len() < off + 8 {
                ctx.stats.malformed += 1;
                return;
            }
            let number = u16::from_be_bytes([msg[off + 4], msg[off + 5]]);
            let total = u16::from_be_bytes([msg[off + 6], msg[off + 7]]);
            if number == 0 || total == 0 || number > total || total > MAX_FRAGMENTS {
                ctx.stats.malformed += 1;
                debug!(peer = %remote, "encrypted fragment {number}/{total} out of range");
                return;
            }
            let part = match sk.open(msg, off, true) {
                Ok(p) => p,
                Err(e) => {
                    ctx.stats.decrypt_failed += 1;
                    debug!(peer = %remote, "dropping IKE fragment that fails to decrypt: {e}");
                    return;
                }
            };
            let r = sa.reassembly.get_or_insert_with(Reassembly::default);
            if r.mid != hdr.message_id || r.response != hdr.is_response() || r.total != total {
                *r = Reassembly { mid: hdr.message_id, response: hdr.is_response(), total, ..Reassembly::default() };
            }
            if number == 1 {
                r.first_inner = msg[off];
            }
            r.bytes += part.len();
            if r.bytes > MAX_REASSEMBLED {
                ctx.stats.malformed += 1;
                warn!(peer = %remote, "IKE message in fragments exceeds {MAX_REASSEMBLED} bytes; dropped");
                sa.reassembly = None;
                return;
            }
            ctx.stats.fragments_received += 1;
            r.parts.insert(number, part);
            if r.parts.len() < usize::from(total) {
                return;
            }
            let Some(r) = sa.reassembly.take() else { return };
            let mut whole = Zeroizing::new(Vec::with_capacity(r.bytes));
            for p in r.parts.values() {
                whole.extend_from_slice(p);
            }
            (whole, r.first_inner)
        } else {
            match sk.open(msg, off, false) {
                Ok(p) => (p, msg[off]),
                Err(e) => {
                    ctx.stats.decrypt_failed += 1;
                    debug!(peer = %remote, "dropping IKE message that fails to decrypt: {e}");
                    return;
                }
            }
        };
        let ps = match parse_chain(inner_first, &inner) {
            Ok(p) => p,
            Err(e) => {
                ctx.stats.malformed += 1;
                warn!(peer = %remote, "malformed encrypted payloads: {e}");
                if !hdr.is_response() {
                    let t = if let ParseError::UnsupportedCritical(_) = e { n::UNSUPPORTED_CRITICAL_PAYLOAD } else { n::INVALID_SYNTAX };
                    sa.peer_mid = sa.peer_mid.wrapping_add(1);
                    sa.send_response(&mut ctx, hdr.exchange, hdr.message_id, &[err(t)]);
                }
                return;
            }
        };
        if let Err(v) = rules::check(hdr.exchange, hdr.is_response(), &outside, &ps) {
            ctx.stats.malformed += 1;
            warn!(peer = %remote, "malformed {:?} message: {v}", hdr.exchange);
            if !hdr.is_response() {
                // RFC 7296 §2.21: INVALID_SYNTAX; a failed IKE_AUTH leaves no IKE SA.
                sa.peer_mid = sa.peer_mid.wrapping_add(1);
                sa.send_response(&mut ctx, hdr.exchange, hdr.message_id, &[err(n::INVALID_SYNTAX)]);
                if hdr.exchange == ExchangeType::IkeAuth && sa.state == IkeState::HalfOpen {
                    sa.die(&mut ctx, &format!("malformed IKE_AUTH request: {v}"));
                }
            } else if hdr.exchange == ExchangeType::IkeAuth && sa.state == IkeState::AuthSent {
                sa.die(&mut ctx, &format!("malformed IKE_AUTH response: {v}"));
            }
            // Other malformed responses are dropped: the request is retransmitted.
            return;
        }
        sa.last_heard = now;
        if sa.nat && remote != sa.remote {
            // RFC 7296 §2.23: follow the peer's NAT mapping once authenticated.
            info!(old = %sa.remote, new = %remote, "peer address changed behind its NAT");
            sa.remote = remote;
        }
        if local != sa.local {
            // RFC 7296 §2.11/§2.23: answer from the port the peer now sends
            // to. As responder, IKE_SA_INIT arrived on 500 and the initiator
            // floats to 4500 with IKE_AUTH; without this we answered from
            // port 500 without the non-ESP marker, which strongSwan drops
            // ("unsupported IKE version"), so strongSwan-initiated SAs failed.
            debug!(old = %sa.local, new = %local, "peer now sends to our port {}", local.port());
            sa.local = local;
        }
        if hdr.is_response() {
            let Some(f) = sa.in_flight.take() else { return };
            match f.pending {
                p @ Pending::Auth { .. } => sa.handle_ike_auth_response(&mut ctx, &ps, p),
                p @ Pending::CreateChild { .. } => sa.handle_create_child_response(&mut ctx, &ps, p),
                p @ Pending::RekeyIke { .. } => sa.spawned = sa.handle_rekey_ike_response(&mut ctx, &ps, p),
                p => sa.handle_informational_response(&mut ctx, p),
            }
            return;
        }
        sa.peer_mid = sa.peer_mid.wrapping_add(1);
        match (hdr.exchange, sa.state) {
            (ExchangeType::IkeAuth, IkeState::HalfOpen) => sa.respond_ike_auth(&mut ctx, hdr.message_id, &ps),
            (ExchangeType::CreateChildSa, IkeState::Established) => sa.spawned = sa.respond_create_child(&mut ctx, hdr.message_id, &ps),
            (ExchangeType::Informational, IkeState::Established | IkeState::Rekeyed) => sa.respond_informational(&mut ctx, hdr.message_id, &ps),
            (ExchangeType::CreateChildSa, IkeState::Rekeyed) => sa.send_response(&mut ctx, hdr.exchange, hdr.message_id, &[err(n::TEMPORARY_FAILURE)]),
            (ex, st) => {
                ctx.stats.malformed += 1;
                warn!(peer = %remote, "unexpected {ex:?} request in state {st:?}");
                sa.send_response(&mut ctx, ex, hdr.message_id, &[err(n::INVALID_SYNTAX)]);
            }
        }
    }}
