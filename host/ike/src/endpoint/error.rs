//! Why the endpoint refused an operator request (initiate, terminate,
//! rekey): typed, so hosts can tell them apart; `Display` is the log text.
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    #[error("no connection named {0:?}")]
    NoSuchConn(String),
    #[error("connection {conn} has no child {child:?}")]
    NoSuchChild { conn: String, child: String },
    #[error("connection {0} has remote = any; it can only respond")]
    RespondOnly(String),
    #[error("connection {0} has no IKE SA")]
    NoIkeSa(String),
    #[error("connection {0} has no IKE proposal")]
    NoProposal(String),
    /// [`crate::Endpoint::close_all`] ran.
    #[error("shutting down")]
    ShuttingDown,
}
