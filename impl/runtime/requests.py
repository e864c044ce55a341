"""The client-facing half of a node: propose, read, membership changes, status.

Theory of operation: a request becomes one event for the Raft core
(``Propose``, ``ReadIndex``, ``ProposeConfigChange``) submitted through
``Node._submit`` and a future that the node's effect handling resolves:
``Accepted`` then the entry's ``Apply`` for a proposal (the result is the
state machine's answer, or ``Unavailable`` when another term's entry took the
index), ``ReadReady`` then "applied up to that index" for a read, and
``Rejected`` for either. Every wait is bounded by the request timeout and
ends in ``OutcomeUnknown`` (outcomes.py). A follower forwards to the leader
(forwarding.py); the leader stamps proposals with its clock (log time).

Backpressure: the leader admits a proposal only while fewer than
``SINKRON_MAX_INFLIGHT_PROPOSALS`` entries are proposed but not yet applied
(counted from the log, so entries whose client gave up still count) and the
commands awaiting an outcome hold fewer than ``SINKRON_MAX_INFLIGHT_BYTES``.
Beyond that it answers ``Overloaded`` at once (a 503: certainly not
appended, retry later) instead of queueing without limit: an unbounded queue
only turns overload into timeouts, and a leader whose event loop is saturated
stops serving heartbeats and loses its leadership.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from impl.raft.events import ConfigChangeKind, Event, Propose, ProposeConfigChange, ReadIndex
from impl.raft.types import NodeId, Role
from impl.runtime.outcomes import OutcomeUnknown, Unavailable
from impl.statemachine import Command, StateMachine, encode_command

if TYPE_CHECKING:
    from impl.raft.node import RaftNode
    from impl.runtime.clock import Clock
    from impl.runtime.config import Settings
    from impl.runtime.forwarding import Forwarder
    from impl.runtime.metrics import Metrics

LEADER_WAIT_S_MAX = 1.0


class Overloaded(Unavailable):
    """The leader refused a proposal: too many are in flight. It did not take effect; retry.

    Its HTTP code stays ``unavailable`` (503), like every refusal before appending.
    """


@dataclass(slots=True)
class Waiting:
    future: asyncio.Future[Any]
    term: int = 0


class ClientRequests:
    """Mixed into ``Node``; uses the fields declared here."""

    node_id: str
    loop: asyncio.AbstractEventLoop
    settings: Settings
    clock: Clock
    metrics: Metrics
    raft: RaftNode
    services: dict[str, StateMachine]
    forwarder: Forwarder
    request_timeout_s: float
    applied_index: int
    _inflight_bytes: int
    _request_ids: itertools.count[int]
    _proposals: dict[int, Waiting]
    _reads: dict[int, Waiting]
    _read_points: list[tuple[int, asyncio.Future[None]]]
    _state_waiters: list[asyncio.Future[None]]

    def _submit(self, event: Event) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ the service API

    def is_leader(self) -> bool:
        return self.raft.role is Role.LEADER

    def leader_hint(self) -> str | None:
        """The leader this node knows of (None during an election), for a refusal to name."""
        return self.raft.leader_id

    async def wait_state_changed(self, timeout_s: float) -> bool:
        """Wait for the next applied batch (or snapshot install); False on timeout."""
        waiter: asyncio.Future[None] = self.loop.create_future()
        self._state_waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            return False
        finally:
            if not waiter.done() or waiter.cancelled():  # timed out: not left to pile up
                with contextlib.suppress(ValueError):
                    self._state_waiters.remove(waiter)
        return True

    async def _wait_leader(self) -> str | None:
        """The leader's id, waiting up to about one election for one to appear."""
        deadline = self.clock.monotonic() + min(LEADER_WAIT_S_MAX, self.request_timeout_s)
        while self.raft.leader_id is None and self.clock.monotonic() < deadline:
            await asyncio.sleep(self.settings.tick_ms / 1000)
        return self.raft.leader_id

    async def propose(self, service: str, op: dict[str, Any]) -> Any:
        """See ``ServiceHost.propose``."""
        leader: str | None = self.raft.leader_id
        if leader is None:  # a coroutine only when there is something to wait for
            leader = await self._wait_leader()
            if leader is None:
                raise Unavailable("no leader is known")
        if leader == self.node_id:
            return await self.propose_local(service, op)
        return await self.forwarder.forward(leader, "propose", service, op)

    async def read(self, service: str, query: dict[str, Any]) -> Any:
        """See ``ServiceHost.read``."""
        leader: str | None = self.raft.leader_id
        if leader is None:  # a coroutine only when there is something to wait for
            leader = await self._wait_leader()
            if leader is None:
                raise Unavailable("no leader is known")
        if leader == self.node_id:
            return await self.read_local(service, query)
        return await self.forwarder.forward(leader, "read", service, query)

    async def propose_local(
        self, service: str, op: dict[str, Any], *, timeout_s: float | None = None
    ) -> Any:
        if not self.is_leader():
            raise Unavailable("not the leader", leader=self.raft.leader_id)
        if service not in self.services:
            raise Unavailable(f"no service {service!r} on this node")
        self._admit_count()  # first: a refusal must cost next to nothing
        data = encode_command(Command(service=service, op=op, stamp_ms=self.clock.wall_ms()))
        self._admit_bytes(len(data))
        rid = next(self._request_ids)
        waiting = Waiting(future=self.loop.create_future())
        self._proposals[rid] = waiting
        self.metrics.proposals.labels(service=service).inc()  # a cached child (Children)
        self._submit(Propose(request_id=rid, data=data))
        self._inflight_bytes += len(data)
        try:
            return await self._await_outcome(waiting.future, rid, self._proposals, timeout_s)
        finally:
            self._inflight_bytes -= len(data)

    def _admit_count(self) -> None:
        """Raise ``Overloaded`` when the log holds the most unapplied entries allowed."""
        bound = self.settings.max_inflight_proposals
        # Not yet stepped, plus appended but not applied (whoever still waits for them).
        entries = len(self._proposals) + self.raft.last_index - self.applied_index
        if entries >= bound:
            raise Overloaded(
                f"overloaded: {entries} proposals in flight "
                f"(SINKRON_MAX_INFLIGHT_PROPOSALS={bound}); retry later",
                leader=self.node_id,
            )

    def _admit_bytes(self, size: int) -> None:
        """Raise ``Overloaded`` when ``size`` more bytes would exceed the in-flight byte bound.

        A lone command larger than the bound is still admitted when nothing else
        is in flight, so every command the frame size allows can be written.
        """
        settings = self.settings
        if self._inflight_bytes and self._inflight_bytes + size > settings.max_inflight_bytes:
            raise Overloaded(
                f"overloaded: {self._inflight_bytes} bytes of commands in flight "
                f"(SINKRON_MAX_INFLIGHT_BYTES={settings.max_inflight_bytes}); retry later",
                leader=self.node_id,
            )

    async def change_membership(self, kind: ConfigChangeKind, node: str) -> Any:
        if not self.is_leader():
            raise Unavailable("not the leader", leader=self.raft.leader_id)
        rid = next(self._request_ids)
        waiting = Waiting(future=self.loop.create_future())
        self._proposals[rid] = waiting
        self._submit(ProposeConfigChange(request_id=rid, kind=kind, node=NodeId(node)))
        return await self._await_outcome(waiting.future, rid, self._proposals)

    async def read_local(
        self, service: str, query: dict[str, Any], *, timeout_s: float | None = None
    ) -> Any:
        if not self.is_leader():
            raise Unavailable("not the leader", leader=self.raft.leader_id)
        machine = self.services.get(service)
        if machine is None:
            raise Unavailable(f"no service {service!r} on this node")
        rid = next(self._request_ids)
        waiting = Waiting(future=self.loop.create_future())
        self._reads[rid] = waiting
        self._submit(ReadIndex(request_id=rid))
        index = await self._await_outcome(waiting.future, rid, self._reads, timeout_s)
        if index > self.applied_index:
            point: asyncio.Future[None] = self.loop.create_future()
            self._read_points.append((index, point))
            await self._await_outcome(point, None, {}, timeout_s)
        return machine.query(query)

    async def _await_outcome(
        self,
        future: asyncio.Future[Any],
        rid: int | None,
        table: dict[int, Any],
        timeout_s: float | None = None,
    ) -> Any:
        """The future's result, or OutcomeUnknown after the request timeout.

        A timer handle instead of ``asyncio.wait_for`` keeps the per-request cost to
        one callback: this sits on every client request's path.
        """
        timer = self.loop.call_later(
            self.request_timeout_s if timeout_s is None else timeout_s, _time_out, future
        )
        try:
            return await future
        finally:
            timer.cancel()
            if rid is not None and (future.cancelled() or not future.done() or future.exception()):
                table.pop(rid, None)

    def _fail_reads(self, why: str) -> None:
        for waiting in self._reads.values():
            fail(waiting.future, Unavailable(why))
        self._reads.clear()

    def status(self) -> dict[str, Any]:
        raft = self.raft
        config = raft.config
        return {
            "id": self.node_id,
            "role": raft.role.value,
            "term": raft.term,
            "leader": raft.leader_id,
            "commit_index": raft.commit_index,
            "applied_index": self.applied_index,
            "members": sorted(config.voters) if config else [],
            "learners": sorted(config.learners) if config else [],
        }


def _time_out(future: asyncio.Future[Any]) -> None:
    # Appended (or maybe appended) and no result: the outcome is unknown. The error
    # is made only when the timer fires, not for every request that never needs it.
    fail(future, OutcomeUnknown("no result within the request timeout"))


def resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
