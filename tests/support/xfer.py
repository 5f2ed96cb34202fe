#!/usr/bin/env python3
"""TCP bulk transfer with sha256 on both ends, for esprit's end-to-end tests.

  xfer.py recv HOST PORT            accept one connection, read to EOF,
                                    print "RECV <bytes> <sha256>"
  xfer.py send HOST PORT BYTES [--socks PROXY_HOST:PROXY_PORT]
                                    connect (optionally through SOCKS5 CONNECT),
                                    send BYTES pseudo-random bytes, print
                                    "SENT <bytes> <sha256>"
"""
import hashlib
import os
import socket
import struct
import sys


def recv(host, port):
    srv = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(port)))
    srv.listen(1)
    print("LISTENING", flush=True)
    conn, _ = srv.accept()
    h, n = hashlib.sha256(), 0
    while True:
        b = conn.recv(1 << 16)
        if not b:
            break
        h.update(b)
        n += len(b)
    conn.close()
    print(f"RECV {n} {h.hexdigest()}", flush=True)


def socks5_connect(proxy, host, port):
    ph, pp = proxy.rsplit(":", 1)
    s = socket.create_connection((ph, int(pp)), timeout=30)
    s.sendall(b"\x05\x01\x00")
    if s.recv(2) != b"\x05\x00":
        raise SystemExit("SOCKS5: no acceptable method")
    addr = socket.inet_aton(host)
    s.sendall(b"\x05\x01\x00\x01" + addr + struct.pack("!H", int(port)))
    rep = b""
    while len(rep) < 10:
        chunk = s.recv(10 - len(rep))
        if not chunk:
            raise SystemExit("SOCKS5: connection closed during reply")
        rep += chunk
    if rep[1] != 0:
        raise SystemExit(f"SOCKS5: CONNECT failed with reply {rep[1]}")
    return s


def send(host, port, total, socks=None):
    if socks:
        s = socks5_connect(socks, host, port)
    else:
        s = socket.create_connection((host, int(port)), timeout=30)
    s.settimeout(120)
    h, n = hashlib.sha256(), 0
    block = os.urandom(1 << 16)
    while n < total:
        chunk = block[: min(len(block), total - n)]
        # vary the data so that a lost or repeated chunk changes the hash
        chunk = bytes([n & 0xFF]) + chunk[1:]
        s.sendall(chunk)
        h.update(chunk)
        n += len(chunk)
    s.shutdown(socket.SHUT_WR)
    while s.recv(1 << 16):
        pass
    s.close()
    print(f"SENT {n} {h.hexdigest()}", flush=True)


def main():
    a = sys.argv[1:]
    if a[0] == "recv":
        recv(a[1], a[2])
    elif a[0] == "send":
        socks = a[a.index("--socks") + 1] if "--socks" in a else None
        send(a[1], a[2], int(a[3]), socks)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
