//! What a reload changes in the `[[conn]]` set: connections added, removed,
//! changed (any setting of the connection differs) and unchanged, by name.
use serde::Serialize;

use super::conf::Conn;

/// The names of the connections in each class, in config order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConnDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
}

/// Two translations of one `[[conn]]` are equal when every setting is:
/// `Conn` holds no secret and no handle, so its full `Debug` form is the
/// comparison (it has no `PartialEq`: the IKE core's config types do not
/// derive one).
fn same(a: &Conn, b: &Conn) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// Compares the running connections `old` with the reloaded `new`.
pub fn conn_diff(old: &[Conn], new: &[Conn]) -> ConnDiff {
    let mut d = ConnDiff::default();
    for n in new {
        let name = n.peer.name.clone();
        match old.iter().find(|o| o.peer.name == name) {
            None => d.added.push(name),
            Some(o) if same(o, n) => d.unchanged.push(name),
            Some(_) => d.changed.push(name),
        }
    }
    for o in old {
        if !new.iter().any(|n| n.peer.name == o.peer.name) {
            d.removed.push(o.peer.name.clone());
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn conns(extra: &str) -> Vec<Conn> {
        let text = format!(
            "mode = \"netstack\"\n[outer]\nlisten = \"192.0.2.1:4500\"\n[netstack]\naddress = [\"10.0.0.1/32\"]\n\
             [[conn]]\nname = \"keep\"\nremote = \"192.0.2.2\"\nauth = \"psk\"\nlocal_id = \"a.example\"\nremote_id = \"b.example\"\n{extra}"
        );
        let cfg = Config::parse(Path::new("x.toml"), &text).unwrap();
        super::super::conf::conns(&cfg).unwrap()
    }

    #[test]
    fn classifies_by_name_and_settings() {
        let old = conns("[[conn]]\nname = \"edit\"\nremote = \"192.0.2.3\"\nauth = \"psk\"\n[[conn]]\nname = \"gone\"\nremote = \"192.0.2.4\"\nauth = \"psk\"\n");
        let new = conns("[[conn]]\nname = \"edit\"\nremote = \"192.0.2.9\"\nauth = \"psk\"\n[[conn]]\nname = \"new\"\nremote = \"192.0.2.5\"\nauth = \"psk\"\n");
        let d = conn_diff(&old, &new);
        assert_eq!(d.unchanged, ["keep"]);
        assert_eq!(d.changed, ["edit"]);
        assert_eq!(d.added, ["new"]);
        assert_eq!(d.removed, ["gone"]);
    }
}
