//! esprit-wire
