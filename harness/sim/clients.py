"""Simulated clients: issue KV ops through the node they believe leads, record a history.

Theory of operation: each client is one process at a time with at most one
operation outstanding, as in Jepsen. A write or cas is a ``Propose`` to the
target node; its outcome is decided by that node's own state machine:
``Accepted(index, term)`` then the entry at ``index`` is applied: same term
-> our command took effect (ok, or fail for a cas mismatch, which changed
nothing); another term -> our entry was overwritten, and since each command
is proposed exactly once it can never commit (fail). A read is a
``ReadIndex``; once ``ReadReady(index)`` arrives and the node has applied
``index`` the state machine is queried (thesis §6.4). A timeout, a crash of
the node, or anything else that leaves the outcome unknown completes the op
as ``info`` and the client continues as a fresh process (ids are never
reused after an info). Writes use unique values, so histories are easy to
check. Time in the history is simulated nanoseconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from harness.history.ops import Op, OpType
from harness.sim.cluster import Reply, SimCluster
from impl.raft.effects import Accepted, ReadReady, Rejected
from impl.raft.events import Propose, ReadIndex
from impl.raft.types import Entry, NodeId
from impl.statemachine import Command, encode_command


@dataclass(slots=True)
class _Pending:
    process: int
    f: str
    key: str
    value: Any
    node: NodeId
    request_id: int
    deadline: int
    accepted: tuple[int, int] | None = None  # (index, term) of our entry
    read_index: int | None = None


@dataclass(slots=True)
class _Client:
    process: int
    target: NodeId
    next_at: int = 0
    pending: _Pending | None = None


class SimClients:
    """The workload and the history recorder; it is the cluster's listener."""

    def __init__(
        self,
        *,
        cluster: SimCluster,
        rng: random.Random,
        count: int,
        keys: int,
        timeout_us: int,
        think_us_max: int = 3000,
    ) -> None:
        self.cluster = cluster
        self.rng = rng
        self.keys = [f"k{i}" for i in range(keys)]
        self.timeout_us = timeout_us
        self.think_us_max = think_us_max
        self.history: list[Op] = []
        self.enabled = True
        self._next_process = 0
        self._next_value = 0
        self._last_time = -1
        self._by_request: dict[int, _Client] = {}
        nodes = cluster.live
        self.clients = [
            _Client(process=self._new_process(), target=rng.choice(nodes)) for _ in range(count)
        ]
        self.ok_count = 0
        self._applied_recent: dict[NodeId, dict[int, tuple[int, Any]]] = {}
        cluster.listener = self

    # -- history --------------------------------------------------------------------------

    def _new_process(self) -> int:
        self._next_process += 1
        return self._next_process - 1

    def _record(self, pending: _Pending, kind: OpType, value: Any, error: Any = None) -> None:
        time = max(self.cluster.now * 1000, self._last_time + 1)
        self._last_time = time
        self.history.append(
            Op(
                index=len(self.history),
                time=time,
                process=pending.process,
                type=kind,
                f=pending.f,
                key=pending.key,
                value=value,
                error=error,
            )
        )

    def _complete(self, client: _Client, kind: OpType, value: Any, error: Any = None) -> None:
        pending = client.pending
        assert pending is not None
        self._record(pending, kind, value, error)
        self._by_request.pop(pending.request_id, None)
        client.pending = None
        client.next_at = self.cluster.now + self.rng.randint(0, self.think_us_max)
        if kind is OpType.OK:
            self.ok_count += 1
        if kind is OpType.INFO:
            client.process = self._new_process()
            client.target = self.rng.choice(self._candidates())

    # -- issuing --------------------------------------------------------------------------

    def _candidates(self) -> list[NodeId]:
        return self.cluster.live or list(self.cluster.slots)

    def act(self) -> None:
        """Expire overdue ops, serve ready reads, and start new ops for idle clients."""
        now = self.cluster.now
        for client in self.clients:
            pending = client.pending
            if pending is not None:
                if pending.read_index is not None:
                    self._maybe_serve_read(client)
                if client.pending is not None and now >= pending.deadline:
                    self._complete(client, OpType.INFO, pending.value, "timeout")
            elif self.enabled and now >= client.next_at:
                self._invoke(client)

    def _invoke(self, client: _Client) -> None:
        if self.cluster.node(client.target) is None:
            client.target = self.rng.choice(self._candidates())
            client.next_at = self.cluster.now + self.rng.randint(0, self.think_us_max)
            return  # connection refused: nothing happened, nothing to record
        key = self.rng.choice(self.keys)
        roll = self.rng.random()
        request_id = self.cluster.next_request_id()
        self._next_value += 1
        value: Any
        op: dict[str, Any] | None
        if roll < 0.4:
            f, value, op = "read", None, None
        elif roll < 0.8:
            f, value = "write", self._next_value
            op = {"f": "write", "key": key, "value": value}
        else:
            expected = self.rng.choice([None, *self._recent_values()])
            f, value = "cas", [expected, self._next_value]
            op = {"f": "cas", "key": key, "expected": expected, "value": self._next_value}
        pending = _Pending(
            process=client.process,
            f=f,
            key=key,
            value=value,
            node=client.target,
            request_id=request_id,
            deadline=self.cluster.now + self.timeout_us,
        )
        client.pending = pending
        self._by_request[request_id] = client
        self._record(pending, OpType.INVOKE, value)
        if op is None:
            self.cluster.step(client.target, ReadIndex(request_id=request_id))
        else:
            command = Command(service="kv", op=op, stamp_ms=self.cluster.now // 1000)
            self.cluster.step(
                client.target, Propose(request_id=request_id, data=encode_command(command))
            )

    def _recent_values(self) -> list[int]:
        return [v for v in range(max(1, self._next_value - 6), self._next_value)]

    def finish(self) -> None:
        """Complete every outstanding op as info (its outcome is unknown at the end)."""
        for client in self.clients:
            if client.pending is not None:
                self._complete(client, OpType.INFO, client.pending.value, "run-ended")

    # -- ClusterListener ------------------------------------------------------------------

    def on_reply(self, node_id: NodeId, reply: Reply) -> None:
        client = self._by_request.get(reply.request_id)
        if client is None or client.pending is None or client.pending.node != node_id:
            return
        pending = client.pending
        match reply:
            case Accepted(index=index, term=term):
                pending.accepted = (index, term)
                # The entry may already be applied (followers formed the quorum first).
                seen = self._applied_recent.get(node_id, {}).get(index)
                if seen is not None:
                    self._decide_write(client, term, *seen)
            case ReadReady(index=index):
                pending.read_index = index
                self._maybe_serve_read(client)
            case Rejected(leader_hint=hint):
                # Not appended / no read point: the op did not happen (fail is definite).
                self._complete(client, OpType.FAIL, pending.value, reply.reason.value)
                client.target = hint if hint is not None else self.rng.choice(self._candidates())

    def _maybe_serve_read(self, client: _Client) -> None:
        pending = client.pending
        assert pending is not None and pending.read_index is not None
        slot = self.cluster.slots[pending.node]
        if slot.machine is None or slot.applied_index < pending.read_index:
            return
        result = slot.machine.query({"f": "read", "key": pending.key})
        self._complete(client, OpType.OK, result.get("value"))

    def _decide_write(self, client: _Client, term: int, entry_term: int, result: Any) -> None:
        pending = client.pending
        assert pending is not None
        if term != entry_term:
            self._complete(client, OpType.FAIL, pending.value, "overwritten")
        elif result.get("ok"):
            self._complete(client, OpType.OK, pending.value)
        else:
            self._complete(client, OpType.FAIL, pending.value, result.get("error"))

    def on_apply(self, node_id: NodeId, entry: Entry, result: Any) -> None:
        recent = self._applied_recent.setdefault(node_id, {})
        recent[entry.index] = (entry.term, result)
        recent.pop(entry.index - 256, None)
        for client in self.clients:
            pending = client.pending
            if pending is None or pending.node != node_id:
                continue
            if pending.read_index is not None:
                self._maybe_serve_read(client)
            elif pending.accepted is not None and pending.accepted[0] == entry.index:
                self._decide_write(client, pending.accepted[1], entry.term, result)

    def on_node_lost(self, node_id: NodeId) -> None:
        self._applied_recent.pop(node_id, None)
        for client in self.clients:
            if client.pending is not None and client.pending.node == node_id:
                self._complete(client, OpType.INFO, client.pending.value, "node-crashed")
