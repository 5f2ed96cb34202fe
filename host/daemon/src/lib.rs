//! The esprit daemon as a library: the binary (`main.rs`) is its command line,
//! and the fuzz targets and tests reach the parsers (config, racoon import,
//! capture files, control requests) through it.
#![deny(unsafe_code)]

pub mod bench_ike;
pub mod config;
pub mod control;
pub mod dataplane;
pub mod demo;
pub mod ike;
pub mod ike_flood;
pub mod ike_thread;
pub mod import;
pub mod io_edge;
pub mod instance;
pub mod keylog;
pub mod local_addr;
pub mod netlink;
pub mod nft;
pub mod nft_enforce;
pub mod metrics;
pub mod outer;
pub mod pcap;
pub mod pcap_cmd;
pub mod pki;
pub mod plugins;
pub mod reload;
pub mod reload_policies;
pub mod remote_addr;
pub mod replicas;
pub mod run;
pub mod sd_notify;
pub mod secret_files;
pub mod setkey_files;
pub mod status;
pub mod tun_setup;
pub mod tun_stale;
pub mod tun_state;
