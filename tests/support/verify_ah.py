#!/usr/bin/env python3
"""Verify the ICV of every AH packet in a capture with scapy, using the AH SAs
of a setkey.conf file. Usage: verify_ah.py SETKEY.conf CAPTURE.pcap"""
import re
import sys

from scapy.all import IP, rdpcap
from scapy.layers.ipsec import AH, SecurityAssociation
from scapy.config import conf

conf.verb = 0
ALGOS = {"hmac-sha256": "SHA2-256-128", "hmac-sha384": "SHA2-384-192", "hmac-sha512": "SHA2-512-256"}


def main():
    text = open(sys.argv[1]).read()
    sas = {}
    for m in re.finditer(r"add\s+\S+\s+\S+\s+ah\s+(\S+)[^;]*?-A\s+(\S+)\s+0x([0-9a-fA-F]+)", text):
        spi = int(m.group(1), 0)
        sas[spi] = SecurityAssociation(AH, spi=spi, auth_algo=ALGOS[m.group(2)], auth_key=bytes.fromhex(m.group(3)))
    n = bad = 0
    for p in rdpcap(sys.argv[2]):
        if not p.haslayer(IP) or p[IP].proto != 51:
            continue
        pkt = IP(bytes(p[IP]))
        n += 1
        sa = sas.get(pkt[AH].spi)
        try:
            if sa is None:
                raise ValueError(f"no SA for SPI {pkt[AH].spi:#x}")
            sa.decrypt(pkt)
        except Exception as e:  # count and report the first few
            bad += 1
            if bad <= 3:
                print(f"AH packet {n}: {e}")
    print(f"scapy: {n - bad} of {n} AH packets verified")
    sys.exit(1 if bad or n == 0 else 0)


if __name__ == "__main__":
    main()
