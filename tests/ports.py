"""Ports for the servers the tests start (one home for `free_port`).

A port found by binding port 0 comes from the kernel's ephemeral range, the
same range every outgoing connection's local port is drawn from: between the
check and the server's own bind, a client socket of any process on the
machine (wrk, httpx, another suite) may take it ("address already in use").
These ports are drawn at random below that range instead, checked free, and
never handed out twice by one process.
"""
from __future__ import annotations

import random
import socket
from pathlib import Path

_given: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    top = min(_ephemeral_start(), 65536) - 1
    for _ in range(1000):
        port = random.randint(20000, top)
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError("no free port found between 20000 and the ephemeral range")
