"""The contract between Raft and the services that run on it (kv, lock, queue, cache).

Theory of operation: a service is a deterministic state machine fed with
committed commands in log order. Every replica applies the same commands in
the same order and so reaches the same state; nothing in ``apply`` may look
at a clock, a random source or the node's identity.

Time-dependent services (lock leases) get time from the log: the leader's
runtime stamps each command with its clock (``Command.stamp_ms``) when it
proposes it, and the service uses the maximum stamp it has applied so far
(``log_time_ms``), never a local clock. Replicas therefore agree on when a
lease expired even when their own clocks are skewed.

Rules:
  Rule 1. ``apply`` is a pure function of (state, command); it never raises
          on a client's bad input: it returns an error result instead.
  Rule 2. ``query`` reads state without changing it; the runtime calls it only
          after a ReadIndex point has been applied (linearizable reads).
  Rule 3. ``snapshot`` / ``restore`` round-trip the whole state exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from impl.errors import RemoteProtocolError
from impl.raft.fastinit import fast_init
from impl.values import pack_value, unpack_value


@fast_init  # one is built per applied entry on every replica
@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """One service command as carried in a NORMAL Raft entry."""

    service: str  # "kv", "lock", ...
    op: dict[str, Any]  # the service's own operation, JSON-like
    stamp_ms: int  # the proposing leader's clock; log time never goes backwards (max is kept)


def encode_command(command: Command) -> bytes:
    return pack_value([command.service, command.op, command.stamp_ms])


def decode_command(data: bytes) -> Command:
    """Decode an entry's payload.

    Raises:
        RemoteProtocolError: the bytes are not a command this version wrote.
    """
    try:
        service, op, stamp_ms = unpack_value(data)
    except Exception as error:  # msgpack raises several unrelated classes
        raise RemoteProtocolError(f"undecodable command payload: {error}") from error
    if not isinstance(service, str) or not isinstance(op, dict) or not isinstance(stamp_ms, int):
        raise RemoteProtocolError("command payload has the wrong shape")
    return Command(service=service, op=op, stamp_ms=stamp_ms)


class StateMachine(Protocol):
    """A replicated service. Results and queries are JSON-like values."""

    def apply(self, index: int, command: Command) -> Any:
        """Apply one committed command; return its result (an error result, never an exception)."""
        ...

    def query(self, query: dict[str, Any]) -> Any:
        """Answer a read-only query from current state."""
        ...

    def snapshot(self) -> bytes: ...

    def restore(self, data: bytes) -> None: ...
