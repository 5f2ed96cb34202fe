//! esprit-sadb
