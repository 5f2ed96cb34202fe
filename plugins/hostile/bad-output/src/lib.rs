//! Hostile test plugin: answers well-typed but ill-formed or oversized
//! output, chosen by config `mode`:
//! - `empty-protect`: `protect` with no SA request (must never mean bypass);
//! - `huge-template`: `protect` with 5,000 SA requests;
//! - `bad-tunnel`: a tunnel request with an unspecified and a multicast endpoint;
//! - `big-explanation`: `bypass` with a 1 MiB explanation;
//! - `big-log`: logs one 1 MiB line, then `bypass`;
//! - `forged-log`: logs and explains text with newlines and ESC sequences
//!   that imitate host log lines and `policy test` output;
//! - `log-flood`: logs 10,000 lines per decision, then `bypass`.
//!
//! With config `port = N` only flows to destination port N get this
//! treatment (so the load-time self-check passes); others are bypassed.
use esprit_plugin_sdk::{export_policy, host, Decision, Flow, IpAddress, IpsecMode, IpsecProto, Level, Policy, SaRequest, TunnelEndpoints, Verdict};

struct BadOutput;

const FORGED: &str = "ok\n2026-12-01T21:00:00.000000Z  INFO esprit: policy #9 via decider 'allowlist': none \u{1b}[2J\u{1b}[31mFAKE\u{1b}[0m\r\npolicy #9: none";

fn esp_transport() -> SaRequest {
    SaRequest { proto: IpsecProto::Esp, mode: IpsecMode::Transport, tunnel: None, level: Level::Require }
}

impl Policy for BadOutput {
    fn init() -> Result<(), String> {
        match host::config_get("mode").as_deref() {
            Some("empty-protect" | "huge-template" | "bad-tunnel" | "big-explanation" | "big-log" | "forged-log" | "log-flood") => Ok(()),
            other => Err(format!("bad-output: unknown mode {other:?}")),
        }
    }

    fn decide(flow: &Flow) -> Decision {
        let port: Option<u16> = host::config_parse("port").ok().flatten();
        if port.is_some_and(|p| p != flow.dst_port) {
            return Decision::new(Verdict::Bypass, "bad-output: not my port");
        }
        match host::config_get("mode").as_deref().unwrap_or("") {
            "empty-protect" => Decision::new(Verdict::Protect(Vec::new()), "bad-output: protect with nothing"),
            "huge-template" => Decision::new(Verdict::Protect(vec![esp_transport(); 5000]), "bad-output: 5,000 requests"),
            "bad-tunnel" => Decision::new(
                Verdict::Protect(vec![SaRequest {
                    proto: IpsecProto::Esp,
                    mode: IpsecMode::Tunnel,
                    tunnel: Some(TunnelEndpoints { local: IpAddress::Ipv4((0, 0, 0, 0)), remote: IpAddress::Ipv4((224, 0, 0, 1)) }),
                    level: Level::Require,
                }]),
                "bad-output: tunnel to nowhere",
            ),
            "big-explanation" => Decision::new(Verdict::Bypass, "E".repeat(1 << 20)).ttl_ms(60_000),
            "big-log" => {
                host::info(&"L".repeat(1 << 20));
                Decision::new(Verdict::Bypass, "bad-output: logged 1 MiB")
            }
            "forged-log" => {
                host::warn(FORGED);
                Decision::new(Verdict::Bypass, FORGED)
            }
            "log-flood" => {
                for i in 0..10_000 {
                    host::info(&format!("bad-output: flood line {i}"));
                }
                Decision::new(Verdict::Bypass, "bad-output: flooded")
            }
            _ => Decision::new(Verdict::Discard, "bad-output: no mode"),
        }
    }
}

export_policy!(BadOutput);
