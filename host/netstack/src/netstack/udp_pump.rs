//! Driving UDP forwards, UDP exposes.

use super::*;

impl Netstack {
    pub(super) fn pump_udp(&mut self, now: Instant) -> bool {
        let mut progress = false;
        for u in &mut self.udp {
            let r = u.pump(
                now,
                &mut self.sockets,
                &mut self.ports,
                self.cfg.udp_max_sessions,
                &mut self.scratch,
            );
            progress |= r.progress;
            self.stats.udp_dropped += r.dropped;
        }
        for u in &mut self.udp_exposes {
            let r = u.pump(
                now,
                &mut self.sockets,
                self.poll.registry(),
                UDP_EXPOSE,
                self.cfg.udp_max_sessions,
                &mut self.scratch,
            );
            progress |= r.progress;
            self.stats.udp_dropped += r.dropped;
        }
        progress
    }
}
