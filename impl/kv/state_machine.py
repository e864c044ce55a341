"""A key-value map applied from committed Raft entries.

Theory of operation: writes and compare-and-set go through the log; reads are
served by ``query`` after a ReadIndex point is applied (thesis §6.4), so every
operation is linearizable. A cas against a missing key compares with None.

Operations (``Command.op``):
    {"f": "write", "key": k, "value": v}               -> {"ok": true, "value": v}
    {"f": "cas", "key": k, "expected": a, "value": b}   -> {"ok": true, "value": b}
                                                        | {"ok": false, "error": "cas-mismatch", "current": c}
Queries:
    {"f": "read", "key": k} -> {"ok": true, "value": v} | {"ok": false, "error": "not-found"}
"""

from __future__ import annotations

from typing import Any

from impl.statemachine import Command
from impl.values import pack_value, unpack_value

_MISSING = object()


def _error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": code, "message": message}


class KvStateMachine:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def apply(self, index: int, command: Command) -> Any:
        op = command.op
        f = op.get("f")
        key = op.get("key")
        if not isinstance(key, str):
            return _error("bad-request", "key must be a string")
        if f == "write":
            if "value" not in op:
                return _error("bad-request", "write needs a value")
            self.data[key] = op["value"]
            return {"ok": True, "value": op["value"]}
        if f == "cas":
            if "expected" not in op or "value" not in op:
                return _error("bad-request", "cas needs expected and value")
            current = self.data.get(key)
            if current != op["expected"]:
                return {"ok": False, "error": "cas-mismatch", "current": current}
            self.data[key] = op["value"]
            return {"ok": True, "value": op["value"]}
        return _error("bad-request", f"unknown kv operation {f!r}")

    def query(self, query: dict[str, Any]) -> Any:
        key = query.get("key")
        if query.get("f") != "read" or not isinstance(key, str):
            return _error("bad-request", "a kv query is {'f': 'read', 'key': str}")
        value = self.data.get(key, _MISSING)
        if value is _MISSING:
            return {"ok": False, "error": "not-found"}
        return {"ok": True, "value": value}

    def snapshot(self) -> bytes:
        return pack_value(self.data)

    def restore(self, data: bytes) -> None:
        self.data = unpack_value(data) if data else {}
