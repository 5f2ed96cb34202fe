//! esprit-esp
