//! A control-socket request line (JSON) → `esprit::control::Request`, and
//! the flow text of a `policy-test` request through `parse_flow`, as the
//! daemon answers it.
use esprit::control::Request;

pub fn run(data: &[u8]) {
    let Ok(req) = serde_json::from_slice::<Request>(data) else { return };
    // What parsed must serialise and parse again.
    let json = serde_json::to_string(&req).expect("a parsed request serialises");
    let again: Request = serde_json::from_str(&json).expect("a serialised request parses");
    assert_eq!(format!("{req:?}"), format!("{again:?}"));
    if let Request::PolicyTest { flow } = &req {
        let _ = esprit_plugin::parse_flow(flow);
    }
}
