//! Reconfiguration of a running endpoint (the daemon's reload): a new auth
//! backend (rotated PSKs, keys) and connections added, replaced or retired
//! by name. IKE SAs keep their connection's index into `peers`, so a
//! connection is never removed from the list: a replaced one takes its
//! predecessor's place, a retired one stays as a placeholder that no
//! IKE_SA_INIT or IKE_AUTH can select (it offers no proposal). The caller
//! terminates the IKE SAs of changed and removed connections.
use std::sync::Arc;

use crate::auth::AuthBackend;
use crate::config::PeerConfig;

use super::Endpoint;

impl Endpoint {
    /// Uses `auth` for every authentication from now on; established IKE
    /// SAs are not touched (they were authenticated already).
    pub fn set_auth(&mut self, auth: Box<dyn AuthBackend>) {
        self.auth = auth;
    }

    /// Adds a connection, or replaces the one with the same name (which
    /// takes its place, also a retired one's).
    pub fn set_peer(&mut self, peer: PeerConfig) {
        match self.peers.iter().position(|p| p.name == peer.name) {
            Some(i) => self.peers[i] = Arc::new(peer),
            None => self.peers.push(Arc::new(peer)),
        }
    }

    /// Retires the connection `name`: no new IKE SA selects it (as
    /// initiator: no proposal; as responder: not a candidate).
    pub fn retire_peer(&mut self, name: &str) {
        if let Some(i) = self.peers.iter().position(|p| p.name == name) {
            let mut p = (*self.peers[i]).clone();
            p.ike.clear();
            p.remote_id = None;
            self.peers[i] = Arc::new(p);
        }
    }

    /// Whether `conn` has an IKE SA that is not dead or rekeyed (being
    /// set up, established or being deleted).
    pub fn has_ike_sa(&self, conn: &str) -> bool {
        self.conn_index(conn).ok().and_then(|pi| self.sa_of_conn(pi)).is_some()
    }
}
