//! Responder make-before-break for CHILD_SA rekeys (RFC 7296 §2.8): the
//! initiator of a rekey installs its inbound SA only when our answer
//! arrives, so we keep sending on the old SA until the peer deletes it, our
//! host sees the peer's first packet on the new inbound SA, or the fallback
//! time passes, whichever comes first (strongSwan's `child_rekey.c` waits
//! for the delete the same way).
use tracing::debug;

use crate::event::Event;
use crate::ike_sa::{Ctx, IkeSa};
use crate::types::Spi;

impl IkeSa {
    /// Starts sending on child `i`'s new outbound SA, if it waits.
    pub(crate) fn switch_outbound(&mut self, ctx: &mut Ctx<'_>, i: usize, why: &'static str) {
        let Some(c) = self.children.get_mut(i) else { return };
        if c.outbound_pending.take().is_none() {
            return;
        }
        self.outbound_changes.push((c.spi_in, false));
        let c = &self.children[i];
        debug!(conn = %ctx.peers[self.peer].name, child = %c.name, "sending on the rekeyed CHILD_SA {:08x} now: {why}", c.spi_out);
        ctx.events.push_back(Event::ChildOutbound {
            conn: ctx.peers[self.peer].name.clone(),
            child: c.name.clone(),
            reqid: c.reqid,
            spi_in: c.spi_in,
            spi_out: c.spi_out,
            why,
        });
    }

    /// A CHILD_SA of lineage `reqid` was removed: its successors that
    /// waited take over.
    pub(crate) fn replaced_child_gone(&mut self, ctx: &mut Ctx<'_>, reqid: u32) {
        for i in 0..self.children.len() {
            if self.children[i].reqid == reqid {
                self.switch_outbound(ctx, i, "the old SA is deleted");
            }
        }
    }

    /// The fallback times that passed.
    pub(crate) fn run_child_timers(&mut self, ctx: &mut Ctx<'_>) {
        for i in 0..self.children.len() {
            if self.children[i].outbound_pending.is_some_and(|t| t <= ctx.now) {
                self.switch_outbound(ctx, i, "no sign from the peer within the fallback time");
            }
        }
    }

    /// The host saw a packet on inbound SA `spi_in`: the peer has it.
    /// Returns whether it is one of ours.
    pub(crate) fn inbound_seen(&mut self, ctx: &mut Ctx<'_>, spi_in: Spi) -> bool {
        let Some(i) = self.find_child(spi_in) else { return false };
        self.switch_outbound(ctx, i, "the peer's first packet arrived on it");
        true
    }
}
