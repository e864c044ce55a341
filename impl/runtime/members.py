"""A replicated address book: node id -> peer-transport address.

Theory of operation: Raft's CONFIG entries name members but not where they
listen. When a node is added, its address is committed here first, so every
replica (and every later replica, through snapshots) learns where to dial
it. Addresses from SINKRON_PEERS are the starting point; an entry here wins.

Operations (``Command.op``):
    {"f": "set-address", "id": str, "address": "host:port"} -> {"ok": true}
    {"f": "forget", "id": str}                               -> {"ok": true}
Queries:
    {"f": "addresses"} -> {"ok": true, "addresses": {id: "host:port"}}
"""

from __future__ import annotations

from typing import Any

import msgpack

from impl.statemachine import Command


def parse_address(text: object) -> tuple[str, int] | None:
    """``host:port`` -> (host, port), or None when malformed."""
    if not isinstance(text, str):
        return None
    host, colon, port = text.rpartition(":")
    if (
        not colon
        or not host
        or not (port.isascii() and port.isdigit())
        or not 0 < int(port) < 65536
    ):
        return None
    return host.strip("[]"), int(port)


class MembersStateMachine:
    def __init__(self) -> None:
        self.addresses: dict[str, str] = {}

    def apply(self, index: int, command: Command) -> Any:
        op = command.op
        node = op.get("id")
        if not isinstance(node, str) or not node:
            return {"ok": False, "error": "bad-request", "message": "id must be a non-empty string"}
        if op.get("f") == "set-address":
            if parse_address(op.get("address")) is None:
                return {"ok": False, "error": "bad-request", "message": "address must be host:port"}
            self.addresses[node] = op["address"]
            return {"ok": True}
        if op.get("f") == "forget":
            self.addresses.pop(node, None)
            return {"ok": True}
        return {"ok": False, "error": "bad-request", "message": f"unknown op {op.get('f')!r}"}

    def query(self, query: dict[str, Any]) -> Any:
        return {"ok": True, "addresses": dict(self.addresses)}

    def snapshot(self) -> bytes:
        return msgpack.packb(self.addresses, use_bin_type=True)

    def restore(self, data: bytes) -> None:
        self.addresses = msgpack.unpackb(data, raw=False) if data else {}
