"""The fenced register: per-key values guarded by lock fencing tokens.

Theory of operation: a lock lease can run out while its holder is paused (a
GC pause, a SIGSTOP, a slow disk); the holder wakes believing it still holds
the lock and writes. Kleppmann ("How to do distributed locking", 2016)
answers this with fencing: the lock hands out strictly increasing tokens
(impl/lock, Rule 5) and the *storage* refuses any access carrying a token
lower than the highest it has seen for that key. Only the storage can do
this check, since only it sees the accesses in their real order.

Rules:
  Rule 1. A fenced access (``read`` or ``write``) with ``token >= highest[key]``
          is accepted and sets ``highest[key] = token``; a lower token gets
          ``{"error": "fenced", "highest": h}`` and changes nothing.
  Rule 2. An EQUAL token is accepted: tokens are unique per grant, so an equal
          token is the current holder accessing again (read, then write).
  Rule 3. A fenced read goes through the log and raises ``highest`` too.
          Without this, a read-modify-write is unsafe: the new holder reads,
          the stale holder's write (with the older token, still >= highest)
          lands, and the new holder's write then silently discards it. Once
          the new holder has read with its token, the stale write is refused.
  Rule 4. Plain ``query`` reads (GET /fenced/{key}) do not touch ``highest``.

Operations (``Command.op``):
    {"f": "read",  "key", "token"}          -> {"ok": true, "value", "token": highest} | not-found | fenced
    {"f": "write", "key", "value", "token"} -> {"ok": true, "token"} | {"ok": false, "error": "fenced", "highest"}
Queries:
    {"f": "read", "key"} -> {"ok": true, "value", "token"} | {"ok": false, "error": "not-found"}
"""

from __future__ import annotations

from typing import Any, TypeGuard

from impl.statemachine import Command
from impl.values import pack_value, unpack_value


def _bad(field: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": "bad-request", "field": field, "message": message}


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class FencedStateMachine:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.highest: dict[str, int] = {}

    def apply(self, index: int, command: Command) -> Any:
        op = command.op
        f, key, raw_token = op.get("f"), op.get("key"), op.get("token")
        if f not in ("read", "write"):
            return _bad("f", f"unknown fenced operation {f!r}")
        if not isinstance(key, str) or not key:
            return _bad("key", "key must be a non-empty string")
        if not _is_int(raw_token):
            return _bad("token", "token must be an integer (a lock's fencing token)")
        token = raw_token
        if f == "write" and "value" not in op:
            return _bad("value", "write needs a value")
        highest = self.highest.get(key)
        if highest is not None and token < highest:
            return {"ok": False, "error": "fenced", "highest": highest}
        self.highest[key] = token
        if f == "write":
            self.values[key] = op["value"]
            return {"ok": True, "token": token}
        if key not in self.values:
            return {"ok": False, "error": "not-found", "token": token}
        return {"ok": True, "value": self.values[key], "token": token}

    def query(self, query: dict[str, Any]) -> Any:
        key = query.get("key")
        if query.get("f") != "read" or not isinstance(key, str):
            return _bad("key", "a fenced query is {'f': 'read', 'key': str}")
        if key not in self.values:
            return {"ok": False, "error": "not-found"}
        return {"ok": True, "value": self.values[key], "token": self.highest.get(key)}

    def snapshot(self) -> bytes:
        return pack_value([self.values, self.highest])

    def restore(self, data: bytes) -> None:
        self.values, self.highest = unpack_value(data) if data else ({}, {})
