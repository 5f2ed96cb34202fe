//! Host bindings for WIT `esprit:plugin@0.2.0`, the live version (`sdk/wit`)
//! and the host's internal plugin types ([`crate::latest`]): older versions
//! ([`crate::v0_1`]) convert to these. When 0.3 starts, this WIT is frozen
//! into `sdk/wit/v0.2.0/` and these bindings are generated from the copy.

/// The WIT package version these bindings implement.
pub const WIT_VERSION: &str = "0.2.0";

/// Bindings of the `policy` world.
pub mod policy {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit",
        world: "esprit:plugin/policy@0.2.0",
    });
}

/// Bindings of the `auth` world; the shared interfaces are reused from
/// [`policy`] so one host implementation serves both worlds.
pub mod auth {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit",
        world: "esprit:plugin/auth@0.2.0",
        with: {
            "esprit:plugin/types@0.2.0": super::policy::esprit::plugin::types,
            "esprit:plugin/host@0.2.0": super::policy::esprit::plugin::host,
            "esprit:plugin/crypto@0.2.0": super::policy::esprit::plugin::crypto,
        },
    });
}

mod host_impl;

pub use policy::esprit::plugin::crypto;
pub use policy::esprit::plugin::types as wit;
