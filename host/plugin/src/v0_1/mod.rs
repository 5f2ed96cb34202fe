//! Host bindings for WIT `esprit:plugin@0.1.0`, generated from its frozen
//! copy `sdk/wit/v0.1.0` (never edited). Its types convert to the latest
//! ones ([`crate::latest`]) in [`convert`], and its host interfaces call the
//! latest implementation ([`host_impl`]), as Zed's extension host does
//! (`since_v0_1_0.rs`): one implementation, one thin layer per old version.

/// The WIT package version these bindings implement.
pub const WIT_VERSION: &str = "0.1.0";
/// The WIT package name.
pub const WIT_PACKAGE: &str = "esprit:plugin";

/// Bindings of the `policy` world.
pub mod policy {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit/v0.1.0",
        world: "esprit:plugin/policy@0.1.0",
    });
}

/// Bindings of the `auth` world; the shared interfaces are reused from
/// [`policy`] so one host implementation serves both worlds.
pub mod auth {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit/v0.1.0",
        world: "esprit:plugin/auth@0.1.0",
        with: {
            "esprit:plugin/types@0.1.0": super::policy::esprit::plugin::types,
            "esprit:plugin/host@0.1.0": super::policy::esprit::plugin::host,
            "esprit:plugin/crypto@0.1.0": super::policy::esprit::plugin::crypto,
        },
    });
}

pub mod convert;
mod host_impl;

pub use policy::esprit::plugin::crypto;
pub use policy::esprit::plugin::types as wit;
