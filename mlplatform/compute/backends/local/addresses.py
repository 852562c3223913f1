"""Where local replicas listen: each on a loopback port of its own, chosen when the run is made."""

from __future__ import annotations

import collections
import json
import socket

LOOPBACK = "127.0.0.1"


def address(replica: dict) -> str:
    """`127.0.0.1:port`: how peers reach the replica (as in MLPLATFORM_CLUSTER)."""
    return f"{LOOPBACK}:{replica['port']}"


def cluster(workload: dict) -> str:
    """MLPLATFORM_CLUSTER: {role: ["127.0.0.1:port", ...]}, every replica on its own port."""
    addresses: dict[str, list[str]] = collections.defaultdict(list)
    for replica in workload["replicas"]:
        addresses[replica["role"]].append(address(replica))
    return json.dumps(addresses, separators=(",", ":"))


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago (all held open while choosing)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
