#!/usr/bin/env python3
"""Cross-check `esprit pcap encap|decap` against scapy's independent IPsec
implementation (scapy.layers.ipsec.SecurityAssociation).

Usage: scapy_esp.py ESPRIT_BINARY CASES.json WORKDIR

CASES.json is a list of cases; each has a name, the setkey file to give esprit,
the list of SAs (applied in order outbound: first is innermost), and the inner
packet family. For every case:
  1. esprit encap: plain packets -> esprit -> scapy decrypts -> must equal plain
  2. esprit decap: plain packets -> scapy encrypts -> esprit -> must equal plain
Prints one line per case and exits 1 if any case failed.
"""
import json
import os
import subprocess
import sys

from scapy.all import IP, IPv6, TCP, UDP, ICMP, ICMPv6EchoRequest, Raw, rdpcap, wrpcap
import struct

import scapy.layers.ipsec as ipsec
from scapy.layers.ipsec import AH, ESP, SecurityAssociation
from scapy.config import conf

conf.verb = 0

# scapy's AuthAlgo.sign looks for an ESP layer before an AH layer, so AH over
# ESP (an ESP-then-AH bundle) gets its ICV computed as if it were ESP and the
# AH ICV stays zero. Sign the outermost IPsec header instead; the HMAC and the
# zeroing of mutable fields remain scapy's own.
_orig_sign = ipsec.AuthAlgo.sign


def _sign_outermost(self, pkt, key, esn_en=False, esn=0):
    if self.mac and pkt.haslayer(AH) and pkt.haslayer(ESP):
        names = [l.__class__ for l in pkt.iterpayloads()]
        if names.index(AH) < names.index(ESP):
            mac = self.new_mac(key)
            mac.update(bytes(ipsec.zero_mutable_fields(pkt.copy(), sending=True)))
            if esn_en:
                mac.update(struct.pack("!L", esn))
            pkt[AH].icv = mac.finalize()[: self.icv_size]
            return pkt
    return _orig_sign(self, pkt, key, esn_en=esn_en, esn=esn)


ipsec.AuthAlgo.sign = _sign_outermost


def ip(data):
    """Parse bytes as IPv4 or IPv6 by the version nibble."""
    data = bytes(data)
    return IP(data) if data[0] >> 4 == 4 else IPv6(data)


def plain_packets(family):
    """A spread of inner packets: TCP/UDP/ICMP, sizes around block boundaries."""
    pkts = []
    for i, size in enumerate([0, 1, 15, 16, 17, 100, 511, 1400]):
        payload = bytes((i * 7 + j) % 256 for j in range(size))
        if family == 4:
            base = IP(src="10.1.0.1", dst="10.2.0.1", id=i + 1, ttl=64, flags="DF")
            l4 = [TCP(sport=40000 + i, dport=443, flags="PA", seq=1000 * i),
                  UDP(sport=5000 + i, dport=53), ICMP(type=8, id=7, seq=i)][i % 3]
        else:
            base = IPv6(src="2001:db8:1::1", dst="2001:db8:2::1", hlim=64)
            l4 = [TCP(sport=40000 + i, dport=443, flags="PA"), UDP(sport=5000 + i, dport=53),
                  ICMPv6EchoRequest(id=7, seq=i)][i % 3]
        pkts.append(base.__class__(bytes(base / l4 / Raw(payload))))
    return pkts


def make_sa(sa):
    kw = dict(spi=sa["spi"])
    if sa["proto"] == "esp":
        kw["crypt_algo"] = sa["crypt_algo"]
        kw["crypt_key"] = bytes.fromhex(sa["crypt_key"]) if sa["crypt_key"] else None
        kw["auth_algo"] = sa["auth_algo"]
        kw["auth_key"] = bytes.fromhex(sa["auth_key"]) if sa["auth_key"] else None
    else:
        kw["auth_algo"] = sa["auth_algo"]
        kw["auth_key"] = bytes.fromhex(sa["auth_key"])
    if sa["mode"] == "tunnel":
        outer = IP if ":" not in sa["src"] else IPv6
        kw["tunnel_header"] = outer(src=sa["src"], dst=sa["dst"])
    if sa.get("esn"):
        kw["esn_en"] = True
        kw["esn"] = 0
    proto = ESP if sa["proto"] == "esp" else AH
    return SecurityAssociation(proto, **kw)


def scapy_encrypt(case, pkts):
    out = []
    sas = [make_sa(s) for s in case["sas"]]
    for n, p in enumerate(pkts):
        for sa in sas:
            p = ip(sa.encrypt(p, seq_num=n + 1))
        out.append(p)
    return out


def scapy_decrypt(case, pkts):
    out = []
    sas = [make_sa(s) for s in case["sas"]]
    for p in pkts:
        for sa in reversed(sas):
            p = sa.decrypt(ip(p))
        out.append(p)
    return out


def same(a, b):
    """Byte equality of IP packets (scapy re-serialises the header on decrypt)."""
    return bytes(ip(a)) == bytes(ip(b))


def esprit(binary, verb, setkey, src, dst, extra=()):
    r = subprocess.run([binary, "pcap", verb, "--setkey", setkey, "--in", src, "--out", dst, *extra],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"esprit pcap {verb} failed: {r.stderr.strip()}")
    return r.stdout


def run_case(binary, case, work):
    pkts = plain_packets(case["family"])
    name = case["name"]
    plain = os.path.join(work, f"{name}.plain.pcap")
    wrpcap(plain, pkts, linktype=101)
    # 1. esprit encrypts, scapy decrypts.
    enc = os.path.join(work, f"{name}.esprit-enc.pcap")
    spis = [a for spi in case["spis"] for a in ("--spi", str(spi))]
    esprit(binary, "encap", case["setkey"], plain, enc, spis)
    got = [ip(p) for p in rdpcap(enc)]
    if len(got) != len(pkts):
        return f"esprit encap wrote {len(got)} packets, expected {len(pkts)}"
    protos = {50, 51}
    for g in got:
        nh = g.proto if g.version == 4 else g.nh
        if nh not in protos:
            return f"esprit encap left a packet unprotected (next header {nh})"
    for i, (g, p) in enumerate(zip(scapy_decrypt(case, got), pkts)):
        if not same(g, p):
            return f"scapy decrypt of esprit packet {i} differs:\n  got  {bytes(g).hex()}\n  want {bytes(p).hex()}"
    # 2. scapy encrypts, esprit decrypts.
    senc = os.path.join(work, f"{name}.scapy-enc.pcap")
    wrpcap(senc, scapy_encrypt(case, pkts), linktype=101)
    dec = os.path.join(work, f"{name}.esprit-dec.pcap")
    stats = esprit(binary, "decap", case["setkey"], senc, dec)
    back = [ip(p) for p in rdpcap(dec)]
    if len(back) != len(pkts):
        return f"esprit decap returned {len(back)} of {len(pkts)} packets:\n{stats}"
    for i, (g, p) in enumerate(zip(back, pkts)):
        if not same(g, p):
            return f"esprit decap of scapy packet {i} differs:\n  got  {bytes(g).hex()}\n  want {bytes(p).hex()}"
    return None


def main():
    binary, cases_path, work = sys.argv[1:4]
    with open(cases_path) as f:
        cases = json.load(f)
    failed = 0
    for case in cases:
        try:
            err = run_case(binary, case, work)
        except Exception as e:  # report and continue with the next case
            import traceback; traceback.print_exc()
            err = f"{type(e).__name__}: {e}"
        print(f"{'ok  ' if err is None else 'FAIL'} {case['name']}" + ("" if err is None else f": {err}"))
        failed += err is not None
    print(f"scapy interop: {len(cases) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
