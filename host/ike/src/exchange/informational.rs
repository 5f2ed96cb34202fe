//! INFORMATIONAL (RFC 7296 §1.4): Delete for CHILD_SAs and the IKE SA, and
//! liveness checks (§2.4, an empty request).
use tracing::{info, warn};

use crate::ike_sa::{Ctx, IkeSa, IkeState, Pending};
use crate::message::Payload;
use crate::types::{notify as n, ExchangeType, ProtocolId, Spi};

impl IkeSa {
    pub(crate) fn start_delete_child(&mut self, ctx: &mut Ctx<'_>, spi_in: Spi) {
        let Some(i) = self.find_child(spi_in) else { return };
        let proto = self.children[i].algs.protocol.to_u8();
        let ps = [Payload::Delete { protocol: proto, spi_size: 4, spis: vec![spi_in.to_be_bytes().to_vec()] }];
        self.send_request(ctx, ExchangeType::Informational, &ps, Pending::DeleteChild { spis: vec![spi_in] });
    }

    pub(crate) fn start_delete_ike(&mut self, ctx: &mut Ctx<'_>) {
        let ps = [Payload::Delete { protocol: ProtocolId::Ike.to_u8(), spi_size: 0, spis: vec![] }];
        self.send_request(ctx, ExchangeType::Informational, &ps, Pending::DeleteIke);
    }

    pub(crate) fn start_dpd(&mut self, ctx: &mut Ctx<'_>) {
        self.send_request(ctx, ExchangeType::Informational, &[], Pending::Dpd);
    }

    pub(crate) fn remove_child(&mut self, ctx: &mut Ctx<'_>, spi_in: Spi) {
        if let Some(i) = self.find_child(spi_in) {
            let c = self.children.remove(i);
            info!(conn = %ctx.peers[self.peer].name, child = %c.name, "CHILD_SA {} deleted (SPIs in {:08x} out {:08x})", c.name, c.spi_in, c.spi_out);
            if c.outbound_pending.is_some() {
                self.outbound_changes.push((c.spi_in, false));
            }
            self.emit_child_down(ctx, &c);
            self.replaced_child_gone(ctx, c.reqid);
        }
    }

    /// Initiator: the response to an INFORMATIONAL request.
    pub(crate) fn handle_informational_response(&mut self, ctx: &mut Ctx<'_>, pending: Pending) {
        match pending {
            Pending::DeleteChild { spis } => {
                for s in spis {
                    self.remove_child(ctx, s);
                }
            }
            Pending::DeleteIke => {
                let reason = if self.state == IkeState::Rekeyed { "replaced by its rekeyed successor" } else { "deleted by us" };
                info!(conn = %ctx.peers[self.peer].name, "IKE SA with {} {}", self.remote, reason);
                self.die(ctx, reason);
            }
            _ => {}
        }
    }

    /// Responder: an INFORMATIONAL request.
    pub(crate) fn respond_informational(&mut self, ctx: &mut Ctx<'_>, mid: u32, ps: &[Payload]) {
        let mut out = Vec::new();
        let mut delete_ike = false;
        for p in ps {
            match p {
                Payload::Delete { protocol, spis, .. } if *protocol == ProtocolId::Ike.to_u8() => delete_ike = true,
                Payload::Delete { protocol, spis, spi_size: 4 } => {
                    let mut ours = Vec::new();
                    for s in spis {
                        let peer_spi = Spi::from_be_bytes([s[0], s[1], s[2], s[3]]);
                        match self.children.iter().find(|c| c.spi_out == peer_spi) {
                            Some(c) => ours.push(c.spi_in),
                            None => warn!(conn = %ctx.peers[self.peer].name, "peer deletes CHILD_SA {peer_spi:08x}, which we do not have"),
                        }
                    }
                    // If we are deleting the same SA, answer with its SPI all the same (§1.4.1).
                    for s in &ours {
                        self.remove_child(ctx, *s);
                    }
                    if !ours.is_empty() {
                        out.push(Payload::Delete { protocol: *protocol, spi_size: 4, spis: ours.iter().map(|s| s.to_be_bytes().to_vec()).collect() });
                    }
                }
                Payload::Notify(x) if crate::types::notify::is_error(x.ntype) => {
                    warn!(conn = %ctx.peers[self.peer].name, "peer reports {}", n::name(x.ntype));
                }
                _ => {}
            }
        }
        self.send_response(ctx, ExchangeType::Informational, mid, &out);
        if delete_ike {
            info!(conn = %ctx.peers[self.peer].name, "IKE SA with {} deleted by the peer", self.remote);
            let reason = "deleted by the peer";
            self.die(ctx, reason);
        }
    }
}
