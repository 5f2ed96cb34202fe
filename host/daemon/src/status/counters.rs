//! The engine's stats structs as named counters. Each conversion
//! destructures its struct without `..`, so a counter added to a struct
//! fails to compile here until it is shown.

use super::model::Counters;

/// `counters!(path::Type, value; field, ...)`: every field, by name.
macro_rules! counters {
    ($ty:path, $v:expr; $($f:ident),* $(,)?) => {{
        let $ty { $($f),* } = $v;
        let mut m = Counters::new();
        $( m.insert(stringify!($f).to_string(), $f as u64); )*
        m
    }};
}

pub fn packet_path(c: esprit_dataplane::Counters) -> Counters {
    let mut m = counters!(esprit_dataplane::Counters, c; out_protected, out_clear, in_decrypted, nat_keepalives, ike_messages, held,
        tun_super_segments, tun_segments, gso_sends, gso_datagrams, gro_buffers, gro_datagrams);
    // The status has always called it this.
    if let Some(n) = m.remove("held") {
        m.insert("held_for_ike".into(), n);
    }
    m
}

pub fn spd(s: esprit_sadb::spd::SpdStats) -> Counters {
    counters!(esprit_sadb::spd::SpdStats, s; lookups, cache_hits, cache_misses, decider_calls, cache_evictions)
}

pub fn inbound(s: esprit_sadb::inbound::InboundStats) -> Counters {
    counters!(esprit_sadb::inbound::InboundStats, s;
        clear_accepted, protected_accepted, clear_on_protected_flow, policy_discard, selector_mismatch, unknown_sa)
}

pub fn outbound(s: esprit_sadb::sadb::OutboundStats) -> Counters {
    counters!(esprit_sadb::sadb::OutboundStats, s; bypass, discard, protect, no_sa, bundle_too_long, empty_protect)
}

pub fn acquires(s: esprit_sadb::acquire::AcquireStats) -> Counters {
    counters!(esprit_sadb::acquire::AcquireStats, s; raised, suppressed, timed_out)
}

pub fn ike(s: esprit_ike::Stats) -> Counters {
    counters!(esprit_ike::Stats, s;
        received, sent, retransmits, malformed, unknown_spi, bad_message_id, decrypt_failed,
        retransmitted_requests, auth_failed, no_proposal, ts_unacceptable, cookies_sent, invalid_ke,
        ike_established, child_established, rekeys, dead_peers, fragments_sent, fragments_received,
        half_open_expired, half_open_evicted, half_open_refused, child_rekeys, ike_rekeys, closed,
        close_unanswered)
}

pub fn plugin_faults(s: esprit_plugin::FaultStats) -> Counters {
    counters!(esprit_plugin::FaultStats, s;
        calls, deadline, oom, trap, instantiate, invalid_verdict, quarantined_calls, quarantines,
        instantiations, log_suppressed, call_micros)
}

pub fn netstack(s: esprit_netstack::NetstackStats) -> Counters {
    counters!(esprit_netstack::NetstackStats, s;
        rx_dropped, rx_queue, tx_queue, tcp_active, tcp_closing, tcp_opened, tcp_reset, tcp_limited,
        tcp_buffered, socks_errors, udp_sessions, udp_dropped)
}

/// The control socket's counters.
pub fn control(s: &crate::control::ControlStats) -> Counters {
    use std::sync::atomic::Ordering::Relaxed;
    let crate::control::ControlStats { refused_peers, too_long, busy, bad_requests, served } = s;
    [("refused_peers", refused_peers), ("too_long", too_long), ("busy", busy), ("bad_requests", bad_requests), ("served", served)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.load(Relaxed)))
        .collect()
}
