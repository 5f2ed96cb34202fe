//! The host side of the `host`, `crypto` and `types` interfaces of
//! `esprit:plugin@0.2.0`, the latest version: the real implementation
//! (older versions convert their arguments and call these).
use std::time::{SystemTime, UNIX_EPOCH};

use super::policy::esprit::plugin::{crypto, host, types};
use crate::bounds::{sanitize, MAX_LOG_LINE};
use crate::log_limit::{Admit, LOG_BURST, LOG_PER_SEC};
use crate::state::HostState;

impl types::Host for HostState {}

impl host::Host for HostState {
    fn log(&mut self, level: host::LogLevel, message: String) {
        let suppressed = match self.log_limit.admit() {
            Admit::Drop => return,
            Admit::Log { suppressed } => suppressed,
        };
        let (name, version) = (&*self.name, self.version);
        if suppressed > 0 {
            tracing::warn!(plugin = name, version = format_args!("{version:016x}"), "{suppressed} log lines of this plugin were dropped (rate limit {LOG_PER_SEC}/s, burst {LOG_BURST})");
        }
        // One line, escaped and capped: a plugin cannot forge host log lines.
        let message = sanitize(&message, MAX_LOG_LINE);
        match level {
            host::LogLevel::Trace => tracing::trace!(plugin = name, version = format_args!("{version:016x}"), "{message}"),
            host::LogLevel::Debug => tracing::debug!(plugin = name, version = format_args!("{version:016x}"), "{message}"),
            host::LogLevel::Info => tracing::info!(plugin = name, version = format_args!("{version:016x}"), "{message}"),
            host::LogLevel::Warn => tracing::warn!(plugin = name, version = format_args!("{version:016x}"), "{message}"),
            host::LogLevel::Error => tracing::error!(plugin = name, version = format_args!("{version:016x}"), "{message}"),
        }
    }

    fn now_unix_ms(&mut self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }

    fn monotonic_ns(&mut self) -> u64 {
        crate::engine::monotonic_ns()
    }

    fn config_keys(&mut self) -> Vec<String> {
        self.config.keys().cloned().collect()
    }

    fn config_get(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }
}

impl crypto::Host for HostState {
    fn hash(&mut self, alg: crypto::HashAlg, data: Vec<u8>) -> Vec<u8> {
        crate::host_crypto::hash(alg, &data)
    }

    fn hmac(&mut self, alg: crypto::HashAlg, key: Vec<u8>, data: Vec<u8>) -> Vec<u8> {
        let mut key = key;
        let mac = crate::host_crypto::hmac(alg, &key, &data);
        zeroize::Zeroize::zeroize(&mut key);
        mac
    }

    fn verify(&mut self, scheme: crypto::SignatureScheme, public_key: Vec<u8>, message: Vec<u8>, signature: Vec<u8>) -> bool {
        crate::host_crypto::verify(scheme, &public_key, &message, &signature)
    }

    fn sign(&mut self, key_handle: String, scheme: crypto::SignatureScheme, message: Vec<u8>) -> Result<Vec<u8>, String> {
        self.keys.sign(&key_handle, scheme, &message)
    }
}
