//! # esprit-plugin-sdk
//!
//! Write esprit Wasm plugins in Rust against WIT `esprit:plugin@0.2.0`
//! (`sdk/wit`; feature `wit-0-1`: the frozen 0.1.0 in `sdk/wit/v0.1.0`). A policy plugin implements [`Policy`] and exports it with
//! [`export_policy!`]; build with `cargo build --release --target wasm32-wasip2`
//! (crate type `cdylib`). The host links no WASI: do not use files, sockets,
//! the environment or stdout (a call into WASI traps and the plugin's flow
//! gets its failure verdict). Use [`host::log`] and [`host::config_get`].
//!
//! ```ignore
//! use esprit_plugin_sdk::{export_policy, host, Decision, Flow, Policy, Verdict};
//!
//! struct WebOnly;
//!
//! impl Policy for WebOnly {
//!     fn decide(flow: &Flow) -> Decision {
//!         if flow.proto == 6 && flow.dst_port == 443 {
//!             Decision::new(Verdict::PrivateOrClear, "https: opportunistic").ttl_ms(60_000)
//!         } else {
//!             Decision::new(Verdict::Bypass, "not https")
//!         }
//!     }
//!     // `init` (config checks) and `sa_key` (SA granularity) have defaults;
//!     // `sa_key` is asked (inside the plugin, no extra host call) for
//!     // verdicts that use SAs when the decision carries no key of its own
//!     // (`Decision::sa_key`).
//!     fn sa_key(flow: &Flow) -> Option<u64> {
//!         Some(u64::from(flow.dst_port)) // one SA per destination port
//!     }
//! }
//!
//! export_policy!(WebOnly);
//! ```
//!
//! with, in `Cargo.toml`:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//! [dependencies]
//! esprit-plugin-sdk = { path = "../sdk" }
//! ```

mod cidr;
mod helpers;
pub mod text;

pub use cidr::{Cidr, CidrError};
pub use helpers::parse_verdict;

/// The WIT version plugins built with this SDK (and its features) speak.
#[cfg(not(feature = "wit-0-1"))]
pub const WIT_VERSION: &str = "0.2.0";
/// The WIT version plugins built with this SDK (and its features) speak.
#[cfg(feature = "wit-0-1")]
pub const WIT_VERSION: &str = "0.1.0";

/// Generated bindings of the `policy` world (wit-bindgen).
#[cfg(all(feature = "policy", not(feature = "wit-0-1")))]
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "esprit:plugin/policy@0.2.0",
        pub_export_macro: true,
        export_macro_name: "__export_policy_world",
        default_bindings_module: "esprit_plugin_sdk::bindings",
    });
}

/// Generated bindings of the `policy` world of the frozen 0.1.0 (wit-bindgen).
#[cfg(feature = "wit-0-1")]
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit/v0.1.0",
        world: "esprit:plugin/policy@0.1.0",
        pub_export_macro: true,
        export_macro_name: "__export_policy_world",
        default_bindings_module: "esprit_plugin_sdk::bindings",
    });
}

/// Generated bindings of the `auth` world (wit-bindgen).
#[cfg(all(feature = "auth", not(feature = "policy")))]
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "esprit:plugin/auth@0.2.0",
        pub_export_macro: true,
        export_macro_name: "__export_auth_world",
        default_bindings_module: "esprit_plugin_sdk::bindings",
    });
}

#[cfg(all(feature = "auth", feature = "policy"))]
compile_error!("a component implements one world: enable either the `policy` (default) or the `auth` feature, not both");
#[cfg(all(feature = "auth", feature = "wit-0-1"))]
compile_error!("feature `wit-0-1` builds policy plugins only; auth plugins use the live WIT");

pub use bindings::esprit::plugin::types::{
    Decision, Direction, Flow, Identity, IpAddress, IpsecMode, IpsecProto, Level, SaRequest, TunnelEndpoints, Verdict,
};

#[cfg(all(feature = "auth", not(feature = "policy")))]
pub use bindings::{AuthContext, IkeRole};

/// Host services: logging, clocks, the plugin's config section.
pub mod host {
    pub use crate::bindings::esprit::plugin::host::{config_get, config_keys, log, monotonic_ns, now_unix_ms, LogLevel};

    /// Log at info level.
    pub fn info(msg: &str) {
        log(LogLevel::Info, msg);
    }

    /// Log at warn level.
    pub fn warn(msg: &str) {
        log(LogLevel::Warn, msg);
    }

    /// A config value parsed as `T`; `Err` names the key on a parse error.
    pub fn config_parse<T: core::str::FromStr>(key: &str) -> Result<Option<T>, String> {
        match config_get(key) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| format!("config `{key}`: cannot parse {v:?}")),
        }
    }

    /// A comma-separated config list (empty items dropped).
    pub fn config_list(key: &str) -> Vec<String> {
        config_get(key)
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
            .unwrap_or_default()
    }
}

/// Crypto helpers run by the host (keys stay in the host).
pub mod crypto {
    pub use crate::bindings::esprit::plugin::crypto::{hash, hmac, sign, verify, HashAlg, SignatureScheme};
}

/// A policy plugin (world `policy`). Only [`Policy::decide`] is required.
#[cfg(feature = "policy")]
pub trait Policy {
    /// Check the config section once after instantiation; `Err` rejects the
    /// plugin (a hot reload then keeps the previous version).
    fn init() -> Result<(), String> {
        Ok(())
    }

    /// Decide one flow on an SPD cache miss. Keep it fast (1 ms deadline).
    fn decide(flow: &Flow) -> Decision;

    /// SA granularity: flows with the same key share one SA. Asked only for
    /// verdicts that use SAs whose [`Decision`] carries no key (set one with
    /// [`Decision::sa_key`] to skip this). `None`: the SPD entry's default.
    fn sa_key(flow: &Flow) -> Option<u64> {
        let _ = flow;
        None
    }
}

/// Export a [`Policy`] implementation as the component's `policy` world:
/// one `decide` call returns the verdict and its SA key (0.2.0).
#[cfg(all(feature = "policy", not(feature = "wit-0-1")))]
#[macro_export]
macro_rules! export_policy {
    ($t:ty) => {
        const _: () = {
            struct __EspritPolicyExport;
            impl $crate::bindings::Guest for __EspritPolicyExport {
                fn init() -> ::core::result::Result<(), ::std::string::String> {
                    <$t as $crate::Policy>::init()
                }
                fn decide(flow: $crate::Flow) -> $crate::Decision {
                    let mut d = <$t as $crate::Policy>::decide(&flow);
                    if d.sa_key.is_none() && d.verdict.uses_sa() {
                        d.sa_key = <$t as $crate::Policy>::sa_key(&flow);
                    }
                    d
                }
            }
            $crate::bindings::__export_policy_world!(__EspritPolicyExport with_types_in $crate::bindings);
        };
    };
}

/// Export a [`Policy`] implementation as the `policy` world of the frozen
/// 0.1.0: `decide`, then (host-called) `sa-key`.
#[cfg(feature = "wit-0-1")]
#[macro_export]
macro_rules! export_policy {
    ($t:ty) => {
        const _: () = {
            struct __EspritPolicyExport;
            impl $crate::bindings::Guest for __EspritPolicyExport {
                fn init() -> ::core::result::Result<(), ::std::string::String> {
                    <$t as $crate::Policy>::init()
                }
                fn decide(flow: $crate::Flow) -> $crate::Decision {
                    <$t as $crate::Policy>::decide(&flow)
                }
                fn sa_key(flow: $crate::Flow) -> ::core::option::Option<u64> {
                    <$t as $crate::Policy>::sa_key(&flow)
                }
            }
            $crate::bindings::__export_policy_world!(__EspritPolicyExport with_types_in $crate::bindings);
        };
    };
}

/// An IKE authentication method plugin (world `auth`, feature `auth`).
#[cfg(all(feature = "auth", not(feature = "policy")))]
pub trait AuthMethod {
    /// Check the config section once after instantiation.
    fn init() -> Result<(), String> {
        Ok(())
    }
    /// The IKEv2 Auth Method number (RFC 7296 §3.8).
    fn method() -> u8;
    /// Produce our AUTH data.
    fn produce(ctx: &AuthContext) -> Result<Vec<u8>, String>;
    /// Verify the peer's AUTH data.
    fn verify(ctx: &AuthContext, auth_data: &[u8]) -> Result<bool, String>;
}

/// Export an [`AuthMethod`] implementation as the component's `auth` world.
#[cfg(all(feature = "auth", not(feature = "policy")))]
#[macro_export]
macro_rules! export_auth {
    ($t:ty) => {
        const _: () = {
            struct __EspritAuthExport;
            impl $crate::bindings::Guest for __EspritAuthExport {
                fn init() -> ::core::result::Result<(), ::std::string::String> {
                    <$t as $crate::AuthMethod>::init()
                }
                fn method() -> u8 {
                    <$t as $crate::AuthMethod>::method()
                }
                fn produce(ctx: $crate::AuthContext) -> ::core::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                    <$t as $crate::AuthMethod>::produce(&ctx)
                }
                fn verify(ctx: $crate::AuthContext, data: ::std::vec::Vec<u8>) -> ::core::result::Result<bool, ::std::string::String> {
                    <$t as $crate::AuthMethod>::verify(&ctx, &data)
                }
            }
            $crate::bindings::__export_auth_world!(__EspritAuthExport with_types_in $crate::bindings);
        };
    };
}
