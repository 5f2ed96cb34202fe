"""A Python policy for esprit (WIT world esprit:plugin/policy@0.2.0).

Built with componentize-py (see README.md):

    componentize-py -d ../../../sdk/wit -w esprit:plugin/policy@0.2.0 \
        componentize --stub-wasi app -o python_policy.wasm

Policy: web traffic (tcp 80/443) to the networks in the config key
`protect` (comma-separated CIDRs) is protected with ESP transport mode;
DNS (udp 53) passes in the clear; everything else is opportunistic
(private-or-clear). One SA per peer host.
"""
import ipaddress

from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import (
    Decision,
    Direction,
    IpAddress_Ipv4,
    IpAddress_Ipv6,
    IpsecMode,
    IpsecProto,
    Level_Require,
    SaRequest,
    Verdict_Bypass,
    Verdict_PrivateOrClear,
    Verdict_Protect,
)
import wit_world

_NETS = []


def _addr(a):
    if isinstance(a, IpAddress_Ipv4):
        return ipaddress.IPv4Address(bytes(a.value))
    if isinstance(a, IpAddress_Ipv6):
        return ipaddress.IPv6Address(b"".join(g.to_bytes(2, "big") for g in a.value))
    raise ValueError("unknown address")


def _remote(flow):
    return _addr(flow.src if flow.direction == Direction.INBOUND else flow.dst)


class WitWorld(wit_world.WitWorld):
    def init(self) -> None:
        global _NETS
        raw = host.config_get("protect") or ""
        try:
            _NETS = [ipaddress.ip_network(s.strip()) for s in raw.split(",") if s.strip()]
        except ValueError as e:
            raise Err(f"python-policy: bad `protect`: {e}")
        host.log(host.LogLevel.INFO, f"python-policy: {len(_NETS)} protected networks")

    def decide(self, flow) -> Decision:
        # Decision(verdict, cache-ttl-ms, explanation, sa-key): one SA per
        # peer host (the key is read only for verdicts that use SAs).
        remote = _remote(flow)
        if flow.proto == 17 and flow.dst_port == 53:
            return Decision(Verdict_Bypass(), 60_000, f"python: dns to {remote} in the clear", None)
        key = int(remote) & 0xFFFFFFFFFFFFFFFF
        if flow.proto == 6 and flow.dst_port in (80, 443) and any(remote in n for n in _NETS):
            sa = SaRequest(IpsecProto.ESP, IpsecMode.TRANSPORT, None, Level_Require())
            return Decision(Verdict_Protect([sa]), 60_000, f"python: web to {remote} is protected", key)
        return Decision(Verdict_PrivateOrClear(), 60_000, f"python: {remote} opportunistic", key)
