//! `${NAME}` in esprit.toml: replaced by the environment variable `NAME`
//! before the file is parsed (e.g. `listen = "${POD_IP}:4500"` in a
//! container). `$${` stands for a literal `${`. Comment lines are left
//! alone. The value goes in as it is, so inside a TOML string it must not
//! contain `"` or `\`. An unset variable is an error naming file:line and
//! the variable.
use std::path::Path;

use anyhow::{bail, Result};

/// Whether a variable name is `[A-Za-z_][A-Za-z0-9_]*`.
fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// Substitutes `${NAME}` in `text` with `lookup(NAME)`.
pub fn substitute(path: &Path, text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String> {
    if !text.contains("${") {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("${") {
            if rest[..at].ends_with('$') {
                // `$${`: a literal `${`.
                out.push_str(&rest[..at - 1]);
                out.push_str("${");
                rest = &rest[at + 2..];
                continue;
            }
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let Some(end) = after.find('}') else {
                bail!("{}:{}: `${{` without a closing `}}` (write `$${{` for a literal `${{`)", path.display(), i + 1);
            };
            let name = &after[..end];
            if !valid_name(name) {
                bail!("{}:{}: `${{{name}}}`: expected an environment variable name like ${{POD_IP}}", path.display(), i + 1);
            }
            match lookup(name) {
                Some(v) => out.push_str(&v),
                None => bail!("{}:{}: environment variable {name} is not set (used as ${{{name}}})", path.display(), i + 1),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(n: &str) -> Option<String> {
        (n == "POD_IP").then(|| "10.0.0.7".to_string())
    }

    #[test]
    fn replaces_set_variables_and_keeps_the_rest() {
        let t = "# ${NOT_SET} in a comment\nlisten = \"${POD_IP}:4500\"\nx = \"$${POD_IP}\"\n";
        let s = substitute(Path::new("e.toml"), t, env).unwrap();
        assert_eq!(s, "# ${NOT_SET} in a comment\nlisten = \"10.0.0.7:4500\"\nx = \"${POD_IP}\"\n");
    }

    #[test]
    fn unset_or_malformed_names_file_line_and_variable() {
        let e = substitute(Path::new("/etc/e.toml"), "a = 1\nb = \"${NOPE}\"\n", env).unwrap_err().to_string();
        assert_eq!(e, "/etc/e.toml:2: environment variable NOPE is not set (used as ${NOPE})");
        let e = substitute(Path::new("e.toml"), "b = \"${POD_IP\"\n", env).unwrap_err().to_string();
        assert!(e.starts_with("e.toml:1: `${` without a closing `}`"), "{e}");
        let e = substitute(Path::new("e.toml"), "b = \"${1x}\"\n", env).unwrap_err().to_string();
        assert!(e.contains("expected an environment variable name"), "{e}");
    }
}
