//! The bodies of esprit's fuzz targets, one module per parser that reads
//! untrusted or operator input. Each body is `pub fn run(data: &[u8])`: the
//! cargo-fuzz crate (`host/fuzz/targets`, nightly flags) calls it from
//! `fuzz_target!`, and the stable test `tests/replay.rs` calls the very same
//! function on the committed corpus (`host/fuzz/corpus/<target>/`) plus a few
//! thousand seeded random and mutated inputs, so `cargo test` keeps every
//! target honest without nightly. A body panics only on a real bug: a parser
//! panic, or a broken invariant it asserts (e.g. "what parses re-encodes").
//!
//! [`TARGETS`] lists every target with its body; `scripts/fuzz` runs them all.
#![deny(unsafe_code)]

pub mod config;
pub mod config_arb;
pub mod control;
pub mod decapsulate;
pub mod dn;
pub mod flow;
pub mod ike_message;
pub mod ike_responder;
pub mod import;
pub mod netstack;
pub mod pcap;
pub mod plugin_spec;
pub mod setkey;
pub mod socks5;
pub mod verdict;
pub mod x509_host;
pub mod x509_plugin;

/// A fuzz target: its name (the cargo-fuzz binary and the corpus folder)
/// and its body.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, in the order `scripts/fuzz` runs them.
pub const TARGETS: &[Target] = &[
    Target { name: "setkey", run: setkey::run },
    Target { name: "config", run: config::run },
    Target { name: "config_arb", run: config_arb::run },
    Target { name: "plugin_spec", run: plugin_spec::run },
    Target { name: "import", run: import::run },
    Target { name: "pcap", run: pcap::run },
    Target { name: "x509_host", run: x509_host::run },
    Target { name: "x509_plugin", run: x509_plugin::run },
    Target { name: "dn", run: dn::run },
    Target { name: "socks5", run: socks5::run },
    Target { name: "control", run: control::run },
    Target { name: "flow", run: flow::run },
    Target { name: "netstack", run: netstack::run },
    Target { name: "verdict", run: verdict::run },
    Target { name: "decapsulate", run: decapsulate::run },
    Target { name: "ike_message", run: ike_message::run },
    Target { name: "ike_responder", run: ike_responder::run },
];

/// The input as UTF-8 text, as the text parsers get it from a file read with
/// `read_to_string` (which refuses anything else).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Whether text names a path a parser might open that is not a plain file
/// (a device, a FIFO, /proc): bodies whose parsers read files named in the
/// input skip such inputs, so a fuzzer cannot make them block on /dev/stdin.
pub fn names_special_file(text: &str) -> bool {
    ["dev/", "proc/", "sys/", "run/", "/tmp", "fd/"].iter().any(|s| text.contains(s))
}
