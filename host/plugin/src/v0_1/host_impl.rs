//! The host interfaces of `esprit:plugin@0.1.0`: each call converts its
//! arguments and runs the latest implementation (`crate::v0_2::host_impl`),
//! so 0.1 plugins get the same logging limits, clocks, config and crypto.
use super::policy::esprit::plugin::{crypto, host, types};
use crate::latest::crypto as new_crypto;
use crate::latest::policy::esprit::plugin::host as new_host;
use crate::state::HostState;

impl types::Host for HostState {}

impl host::Host for HostState {
    fn log(&mut self, level: host::LogLevel, message: String) {
        new_host::Host::log(self, level.into(), message)
    }

    fn now_unix_ms(&mut self) -> u64 {
        new_host::Host::now_unix_ms(self)
    }

    fn monotonic_ns(&mut self) -> u64 {
        new_host::Host::monotonic_ns(self)
    }

    fn config_keys(&mut self) -> Vec<String> {
        new_host::Host::config_keys(self)
    }

    fn config_get(&mut self, key: String) -> Option<String> {
        new_host::Host::config_get(self, key)
    }
}

impl crypto::Host for HostState {
    fn hash(&mut self, alg: crypto::HashAlg, data: Vec<u8>) -> Vec<u8> {
        new_crypto::Host::hash(self, alg.into(), data)
    }

    fn hmac(&mut self, alg: crypto::HashAlg, key: Vec<u8>, data: Vec<u8>) -> Vec<u8> {
        new_crypto::Host::hmac(self, alg.into(), key, data)
    }

    fn verify(&mut self, scheme: crypto::SignatureScheme, public_key: Vec<u8>, message: Vec<u8>, signature: Vec<u8>) -> bool {
        new_crypto::Host::verify(self, scheme.into(), public_key, message, signature)
    }

    fn sign(&mut self, key_handle: String, scheme: crypto::SignatureScheme, message: Vec<u8>) -> Result<Vec<u8>, String> {
        new_crypto::Host::sign(self, key_handle, scheme.into(), message)
    }
}
