//! Shutdown: an INFORMATIONAL DELETE for every IKE SA (RFC 7296 §1.4.1,
//! which also removes its CHILD_SAs at the peer), then a bounded wait for
//! the answers, so the peer removes its SAs at once instead of after dead
//! peer detection.
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::Endpoint;
use crate::ike_sa::{IkeState, Pending, Task};
use crate::types::IkeSpi;

impl Endpoint {
    /// Starts closing: deletes every established IKE SA with its peer,
    /// drops the ones still being set up, and refuses new ones. SAs whose
    /// peer has not answered after `grace` are dropped by
    /// [`Endpoint::handle_timeout`]; [`Endpoint::is_closed`] tells when
    /// nothing is left. The host keeps driving the endpoint meanwhile.
    pub fn close_all(&mut self, now: Instant, grace: Duration) {
        self.closing = true;
        self.close_deadline = Some(now + grace);
        let spis: Vec<IkeSpi> = self.sas.keys().copied().collect();
        let mut deleting = 0;
        for spi in spis {
            let Some(sa) = self.sas.get_mut(&spi) else { continue };
            match sa.state {
                IkeState::Established | IkeState::Rekeyed => {
                    // A request in flight is answered first (window of one,
                    // §2.3); then the DELETE goes, unless it is in flight.
                    sa.tasks.clear();
                    if !sa.in_flight.as_ref().is_some_and(|f| matches!(f.pending, Pending::DeleteIke)) {
                        sa.tasks.push_back(Task::DeleteIke);
                    }
                    deleting += 1;
                }
                IkeState::HalfOpen => sa.state = IkeState::Dead,
                IkeState::InitSent | IkeState::AuthSent => {
                    let mut ctx = ctx!(self, now);
                    sa.die(&mut ctx, "shutting down");
                }
                IkeState::Dead => {}
            }
            self.index.touch(spi, sa);
        }
        self.stats.closed += deleting;
        info!("closing: deleting {deleting} IKE SAs with their peers (waiting at most {grace:?} for the answers)");
        self.flush(now);
    }

    /// Whether [`Endpoint::close_all`] ran and every IKE SA is gone
    /// (deleted with the peer's answer, or given up after the grace time).
    pub fn is_closed(&self) -> bool {
        self.closing && self.sas.is_empty()
    }

    /// The grace time is over: drops what the peers did not answer.
    pub(super) fn close_expired(&mut self, now: Instant) {
        self.close_deadline = None;
        let spis: Vec<IkeSpi> = self.sas.keys().copied().collect();
        for spi in spis {
            let Some(sa) = self.sas.get_mut(&spi) else { continue };
            if sa.state != IkeState::Dead {
                self.stats.close_unanswered += 1;
                warn!(conn = %self.peers[sa.peer].name, peer = %sa.remote, "closing: no answer to our DELETE; dropping the IKE SA");
                let mut ctx = ctx!(self, now);
                sa.die(&mut ctx, "shutting down (the peer did not answer the DELETE)");
            }
            self.index.touch(spi, sa);
        }
    }
}
