"""Free TCP ports on 127.0.0.1 for services that a test, a benchmark or a second stack starts."""

from __future__ import annotations

import random
import socket
from pathlib import Path

_HANDED_OUT: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free listening port *below* the ephemeral range, never handed out twice.

    A port the kernel picks for `bind(0)` comes from the ephemeral range, which outgoing
    connections (every Kafka client) also draw from: between picking it and the service
    binding it, a client could take it. Ports below that range are only ever taken on purpose.
    """
    low = min(_ephemeral_low(), 32768)
    for _ in range(1000):
        port = random.randrange(20000, low)
        if port in _HANDED_OUT or not _bindable(port):
            continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free port found below the ephemeral range")


def free_port_block(size: int) -> int:
    """The first of `size` consecutive free ports (a local Kafka cluster's), as `free_port`."""
    low = min(_ephemeral_low(), 32768)
    for _ in range(1000):
        first = random.randrange(20000, low - size)
        block = range(first, first + size)
        if any(port in _HANDED_OUT for port in block):
            continue
        if all(_bindable(port) for port in block):
            _HANDED_OUT.update(block)
            return first
    raise RuntimeError(f"no {size} consecutive free ports found below the ephemeral range")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
