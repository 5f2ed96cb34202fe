//! The plugin compile helper for programs other than `esprit` (see
//! `esprit_plugin::compile_helper`): reads a component on stdin, writes
//! its machine code where `--out` says. Not meant to be run by hand.
#![deny(unsafe_code)]

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(esprit_plugin::compile_helper::main(std::env::args_os().skip(1)))
}
