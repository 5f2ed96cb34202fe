"""{{name}}: an esprit policy plugin (WIT esprit:plugin/policy@0.2.0).

ICMP passes in the clear; TCP/UDP to a port listed in the config key `ports`
(comma-separated, default 443) is protected by ESP in transport mode, one SA
per port; everything else is discarded.

Build (componentize-py 0.25.1):

    componentize-py -d wit -w esprit:plugin/policy@0.2.0 componentize --stub-wasi app -o {{name}}.wasm

The host grants no WASI: no files, sockets or environment, and print() goes
nowhere useful; log with host.log.
"""
from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import (
    Decision,
    IpsecMode,
    IpsecProto,
    Level_Require,
    SaRequest,
    Verdict_Bypass,
    Verdict_Discard,
    Verdict_Protect,
)
import wit_world

_PORTS = []


def _parse_ports(text):
    ports = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        if not item.isdigit() or not 1 <= int(item) <= 65535:
            raise Err(f"{{name}}: config `ports`: {item!r} is not a port (1-65535)")
        ports.append(int(item))
    return ports


class WitWorld(wit_world.WitWorld):
    def init(self) -> None:
        """Read and check the config; raising Err rejects the plugin."""
        global _PORTS
        _PORTS = _parse_ports(host.config_get("ports") or "443")
        host.log(host.LogLevel.INFO, f"{{name}}: protecting ports {_PORTS}")

    def decide(self, flow) -> Decision:
        """One flow: Decision(verdict, cache-ttl-ms, explanation, sa-key)."""
        if flow.proto in (1, 58):
            return Decision(Verdict_Bypass(), 60_000, "{{name}}: icmp in the clear", None)
        if flow.proto in (6, 17) and flow.dst_port in _PORTS:
            esp = SaRequest(IpsecProto.ESP, IpsecMode.TRANSPORT, None, Level_Require())
            return Decision(Verdict_Protect([esp]), 60_000, f"{{name}}: port {flow.dst_port} protected", flow.dst_port)
        return Decision(Verdict_Discard(), 60_000, f"{{name}}: port {flow.dst_port} not listed", None)
