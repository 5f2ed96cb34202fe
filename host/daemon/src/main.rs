//! The `esprit` command line.
#![deny(unsafe_code)]

use anyhow::Result;
use clap::{Parser, Subcommand};

mod pcap;
mod pcap_cmd;

/// esprit: a userspace IPsec system with Wasm plugins.
#[derive(Debug, Parser)]
#[command(name = "esprit", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Apply ESP/AH to capture files offline (keys from a setkey.conf).
    #[command(subcommand)]
    Pcap(pcap_cmd::PcapCmd),
}

fn main() {
    if let Err(e) = run() {
        eprintln!("esprit: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Pcap(cmd) => pcap_cmd::run(cmd),
    }
}
