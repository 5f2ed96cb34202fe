//! Host bindings for WIT `esprit:plugin@0.1.0` (`sdk/wit`). A later WIT
//! version gets a sibling module (`v0_2`) generated from a frozen copy of its
//! WIT, and the loader picks the module by the version the component imports.

/// The WIT package version these bindings implement.
pub const WIT_VERSION: &str = "0.1.0";
/// The WIT package name.
pub const WIT_PACKAGE: &str = "esprit:plugin";

/// Bindings of the `policy` world.
pub mod policy {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit",
        world: "esprit:plugin/policy@0.1.0",
    });
}

/// Bindings of the `auth` world; the shared interfaces are reused from
/// [`policy`] so one host implementation serves both worlds.
pub mod auth {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit",
        world: "esprit:plugin/auth@0.1.0",
        with: {
            "esprit:plugin/types@0.1.0": super::policy::esprit::plugin::types,
            "esprit:plugin/host@0.1.0": super::policy::esprit::plugin::host,
            "esprit:plugin/crypto@0.1.0": super::policy::esprit::plugin::crypto,
        },
    });
}

mod host_impl;

pub use policy::esprit::plugin::types as wit;
