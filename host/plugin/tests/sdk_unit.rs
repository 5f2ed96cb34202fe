//! The SDK's own unit tests (`sdk/src`: CIDR parsing, explanation text)
//! run on the host: the SDK is its own workspace (it builds for
//! wasm32-wasip2), so `cargo test --workspace` does not reach it. Its
//! bindings compile for the host too; its tests never call an import.
use std::path::Path;
use std::process::Command;

#[test]
fn sdk_unit_tests_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["test", "--lib", "--manifest-path"])
        .arg(root.join("sdk/Cargo.toml"))
        // Its own target dir: the outer `cargo test` holds the workspace's.
        .env("CARGO_TARGET_DIR", root.join("target/sdk-host"))
        .output()
        .expect("run cargo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "sdk unit tests failed ({}):\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    // The tests ran (not filtered away): the summary counts them.
    let passed: usize = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(passed >= 3, "expected the SDK's unit tests to run:\n{stdout}");
}
