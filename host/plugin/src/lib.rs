//! esprit-plugin (wasmtime host): see issue 4
