//! The flow text of `esprit policy test` → `esprit_plugin::parse_flow`.
//! A parsed flow's two addresses are of one family.
use esprit_plugin::parse_flow;

pub fn run(data: &[u8]) {
    let Some(text) = crate::text(data) else { return };
    if let Ok(f) = parse_flow(text) {
        assert_eq!(f.src.is_ipv4(), f.dst.is_ipv4(), "{text:?} parsed with mixed families");
    }
}
