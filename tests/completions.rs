//! `esprit completions SHELL` and `esprit man`: non-empty output that names
//! the subcommands, exit 0; an unknown shell is a usage error.
mod support;

use std::process::Command;

use support::esprit_bin;

const SUBCOMMANDS: [&str; 6] = ["run", "status", "reload", "pki", "completions", "man"];

fn stdout_of(args: &[&str]) -> String {
    let out = Command::new(esprit_bin()).args(args).output().expect("run esprit");
    assert!(out.status.success(), "esprit {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn completions_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let text = stdout_of(&["completions", shell]);
        assert!(!text.trim().is_empty(), "{shell}: empty");
        for sub in SUBCOMMANDS {
            assert!(text.contains(sub), "{shell} completions lack {sub:?}");
        }
    }
    assert!(stdout_of(&["completions", "bash"]).contains("complete -F _esprit"));
    assert!(stdout_of(&["completions", "fish"]).contains("complete -c esprit"));
}

#[test]
fn man_page_is_roff_naming_the_subcommands() {
    let text = stdout_of(&["man"]);
    assert!(text.contains(".TH esprit 1"), "no .TH header:\n{text}");
    assert!(text.contains(".SH NAME") && text.contains(".SH SUBCOMMANDS"), "sections missing:\n{text}");
    for sub in SUBCOMMANDS {
        assert!(text.contains(&format!("esprit\\-{sub}(1)")), "man page lacks esprit-{sub}(1)");
    }
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let out = Command::new(esprit_bin()).args(["completions", "nosuch"]).output().expect("run esprit");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bash") && err.contains("zsh") && err.contains("fish"), "{err}");
}
