"""The runtime honours effects.py: nothing that depends on a write leaves before its fsync.

A scripted stand-in for RaftNode returns chosen effect lists; storage is a
fake whose commits finish only when the test says so; the transport records
what left. So each property is checked at the exact moment a write is, or is
not yet, durable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

from impl.raft.effects import Apply, Effect, Persist, ReadReady, Send
from impl.raft.events import Event, Persisted, Tick
from impl.raft.messages import AppendEntries, AppendEntriesResponse, RequestVoteResponse
from impl.raft.types import Entry, HardState, Index, NodeId, Role, Term
from impl.runtime.config import collect_raw, validate
from impl.runtime.node import Node
from impl.statemachine import Command, encode_command


class ScriptedRaft:
    """Returns the next scripted effect list for each step; records the events."""

    role = Role.FOLLOWER
    term = 1
    leader_id = None
    commit_index = 0

    def __init__(self, script: Iterator[list[Effect]]) -> None:
        self.script = script
        self.events: list[Event] = []

    def step(self, event: Event) -> list[Effect]:
        self.events.append(event)
        if isinstance(event, Persisted):
            return []
        return next(self.script, [])


class GatedStorage:
    """Each commit waits for ``release``; records what was written."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.batches: list[list[Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def write_batch(self, writes: list[Any]) -> float:
        self.batches.append(list(writes))
        await self.gate.wait()
        self.gate.clear()
        return 0.0

    def write_now(self, writes: list[Any]) -> float | None:
        return None  # every commit waits for the gate

    def submit(self, writes: list[Any], done: Callable[[float | Exception], None]) -> None:
        async def commit() -> None:
            done(await self.write_batch(writes))

        self._tasks.add(asyncio.get_running_loop().create_task(commit()))


class RecordingTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def send(self, peer: str, frame: Any) -> bytes:
        self.sent.append((peer, frame))
        return b"x"


def _entry(index: int) -> Entry:
    # A real command: the node stops on an entry that is not one (a damaged log).
    op = {"f": "write", "key": "k", "value": index}
    data = encode_command(Command(service="kv", op=op, stamp_ms=0))
    return Entry(term=Term(1), index=Index(index), data=data)


def _response(match: int) -> Send:
    message = AppendEntriesResponse(
        from_id=NodeId("n1"),
        to_id=NodeId("n2"),
        term=Term(1),
        success=True,
        match_index=Index(match),
    )
    return Send(to=NodeId("n2"), message=message)


def _append(index: int) -> Send:
    message = AppendEntries(
        from_id=NodeId("n1"),
        to_id=NodeId("n2"),
        term=Term(1),
        prev_log_index=Index(index - 1),
        prev_log_term=Term(1 if index > 1 else 0),
        entries=(_entry(index),),
        leader_commit=Index(0),
    )
    return Send(to=NodeId("n2"), message=message)


def _node(
    script: list[list[Effect]],
) -> tuple[Node, ScriptedRaft, GatedStorage, RecordingTransport]:
    raw = collect_raw(
        {},
        {
            "SINKRON_NODE_ID": "n1",
            "SINKRON_PEERS": "n1=127.0.0.1:1,n2=127.0.0.1:2",
            "SINKRON_CLUSTER_SECRET": "s",
        },
        None,
    )
    node = Node(validate(raw))
    raft, storage, transport = ScriptedRaft(iter(script)), GatedStorage(), RecordingTransport()
    node.raft = raft  # type: ignore[assignment]
    node.storage = storage  # type: ignore[assignment]
    node.transport = transport
    node.loop = asyncio.get_running_loop()  # what start() sets
    return node, raft, storage, transport


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def _kinds(transport: RecordingTransport) -> list[str]:
    return [type(m).__name__ for _, m in _messages(transport)]


def _messages(transport: RecordingTransport) -> list[tuple[str, Any]]:
    from impl.raft.codec import message_from_wire

    return [(peer, message_from_wire(frame[1])) for peer, frame in transport.sent]


def test_send_after_persist_waits_for_the_fsync() -> None:
    """Rule 2: a response listed after a Persist leaves only once that write is durable."""

    async def scenario() -> tuple[list[str], list[str], list[Event]]:
        node, raft, storage, transport = _node(
            [[Persist(hard_state=HardState(term=Term(1)), entries=(_entry(1),)), _response(1)]]
        )
        node._step(Tick())
        await _settle()
        before = _kinds(transport)
        storage.gate.set()
        await _settle()
        after = _kinds(transport)
        return before, after, raft.events

    before, after, events = asyncio.run(scenario())
    assert before == []
    assert after == ["AppendEntriesResponse"]
    assert Persisted(index=Index(1), term=Term(1)) in events


def test_step_without_writes_waits_for_earlier_pending_writes() -> None:
    """A later step's answer may reveal state still in flight, so it waits for every pending write."""

    async def scenario() -> tuple[list[str], list[str]]:
        vote = RequestVoteResponse(
            from_id=NodeId("n1"), to_id=NodeId("n2"), term=Term(1), vote_granted=False
        )
        node, _, storage, transport = _node(
            [
                [Persist(hard_state=HardState(term=Term(1)), entries=())],
                [Send(to=NodeId("n2"), message=vote)],
            ]
        )
        node._step(Tick())
        node._step(Tick())
        await _settle()
        before = _kinds(transport)
        storage.gate.set()
        await _settle()
        after = _kinds(transport)
        return before, after

    assert asyncio.run(scenario()) == ([], ["RequestVoteResponse"])


def test_leader_appends_listed_before_the_write_leave_at_once() -> None:
    """Rule 3: a leader's AppendEntries placed before its own Persist does not wait for it,
    while the reply after the Persist does."""

    async def scenario() -> tuple[list[str], list[str]]:
        node, _, storage, transport = _node(
            [[_append(1), Persist(hard_state=None, entries=(_entry(1),)), _response(0)]]
        )
        node._step(Tick())
        await _settle()
        before = _kinds(transport)
        storage.gate.set()
        await _settle()
        after = _kinds(transport)
        return before, after

    before, after = asyncio.run(scenario())
    assert before == ["AppendEntries"]
    assert after == ["AppendEntries", "AppendEntriesResponse"]


def test_writes_of_many_steps_share_one_commit() -> None:
    """Group commit: persists issued while a commit is in flight go together in the next one."""

    async def scenario() -> list[int]:
        script = [
            [
                Persist(hard_state=None, entries=(_entry(i),)),
                ReadReady(request_id=i, index=Index(0)),
            ]
            for i in range(1, 7)
        ]
        node, _, storage, _ = _node(script)
        node._step(Tick())
        await _settle()  # the first commit starts with one write
        for _ in range(5):
            node._step(Tick())
        storage.gate.set()
        await _settle()
        storage.gate.set()
        await _settle()
        return [len(batch) for batch in storage.batches]

    assert asyncio.run(scenario()) == [1, 5]


def test_applies_keep_log_order_behind_held_effects() -> None:
    """Rule 4: an Apply never overtakes an earlier Apply still held behind a write."""

    async def scenario() -> int:
        node, _, storage, _ = _node(
            [
                [Persist(hard_state=None, entries=(_entry(1),)), Apply(entries=(_entry(1),))],
                [Apply(entries=(_entry(2),))],
            ]
        )
        node._step(Tick())
        node._step(Tick())  # would fail the apply-gap assertion if it ran first
        await _settle()
        assert node.applied_index == 0
        storage.gate.set()
        await _settle()
        return node.applied_index

    assert asyncio.run(scenario()) == 2


def _heartbeat_ack(*, marked: bool = True) -> Send:
    message = AppendEntriesResponse(
        from_id=NodeId("n1"), to_id=NodeId("n2"), term=Term(1), success=True, read_context=7
    )
    return Send(to=NodeId("n2"), message=message, overtakes_log_writes=marked)


def test_send_marked_overtakes_log_writes_does_not_wait_for_log_writes() -> None:
    """effects.py Rule 5: a Send the core marked (a heartbeat answer claims only the term)
    leaves at once with the term durable, though a log write is pending (a stalled disk
    must not cost the leader its quorum)."""

    async def scenario() -> tuple[list[str], list[str]]:
        node, _, storage, transport = _node(
            [[Persist(hard_state=None, entries=(_entry(1),))], [_heartbeat_ack()]]
        )
        node._step(Tick())
        node._step(Tick())
        await _settle()
        before = _kinds(transport)
        storage.gate.set()
        await _settle()
        return before, _kinds(transport)

    assert asyncio.run(scenario()) == (["AppendEntriesResponse"], ["AppendEntriesResponse"])


def test_send_marked_overtakes_log_writes_waits_while_the_term_is_in_flight() -> None:
    """With a term or vote write pending, even a marked Send waits for it (Rule 5)."""

    async def scenario() -> tuple[list[str], list[str]]:
        node, _, storage, transport = _node(
            [[Persist(hard_state=HardState(term=Term(1)), entries=())], [_heartbeat_ack()]]
        )
        node._step(Tick())
        node._step(Tick())
        await _settle()
        before = _kinds(transport)
        storage.gate.set()
        await _settle()
        return before, _kinds(transport)

    assert asyncio.run(scenario()) == ([], ["AppendEntriesResponse"])


def test_unmarked_heartbeat_answer_waits_for_log_writes() -> None:
    """The shell does not judge messages itself: only the core's mark lets a Send overtake."""

    async def scenario() -> tuple[list[str], list[str]]:
        node, _, storage, transport = _node(
            [[Persist(hard_state=None, entries=(_entry(1),))], [_heartbeat_ack(marked=False)]]
        )
        node._step(Tick())
        node._step(Tick())
        await _settle()
        before = _kinds(transport)
        storage.gate.set()
        await _settle()
        return before, _kinds(transport)

    assert asyncio.run(scenario()) == ([], ["AppendEntriesResponse"])
