//! A policy written against the WIT alone with plain `wit-bindgen` (no
//! esprit SDK): what a third party would write. It stays on the frozen
//! `esprit:plugin@0.1.0` (`sdk/wit/v0.1.0`, separate `sa-key` export): the
//! host's tests and benches use it to show 0.1 plugins load and decide
//! unchanged. ICMP and ICMPv6 pass in the
//! clear, TCP to port 22 is protected by ESP in transport mode, everything
//! else is discarded; every decision may be cached for 10 s.
wit_bindgen::generate!({
    path: "../../sdk/wit/v0.1.0",
    world: "esprit:plugin/policy@0.1.0",
});

use esprit::plugin::host::{log, LogLevel};
use esprit::plugin::types::{IpsecMode, IpsecProto, Level, SaRequest, Verdict};

struct RawPolicy;

impl Guest for RawPolicy {
    fn init() -> Result<(), String> {
        log(LogLevel::Info, "raw-wit policy ready");
        Ok(())
    }

    fn decide(flow: Flow) -> Decision {
        let (verdict, why) = match (flow.proto, flow.dst_port) {
            (1 | 58, _) => (Verdict::Bypass, "icmp passes in the clear"),
            (6, 22) => (
                Verdict::Protect(vec![SaRequest {
                    proto: IpsecProto::Esp,
                    mode: IpsecMode::Transport,
                    tunnel: None,
                    level: Level::Require,
                }]),
                "ssh is protected",
            ),
            _ => (Verdict::Discard, "not allowed by raw-wit"),
        };
        Decision { verdict, cache_ttl_ms: Some(10_000), explanation: format!("raw-wit: {why}") }
    }

    fn sa_key(flow: Flow) -> Option<u64> {
        Some(u64::from(flow.dst_port))
    }
}

export!(RawPolicy);
