"""A cluster of real ``RaftNode``s + ``KvStateMachine``s wired to simulated disks and network.

Theory of operation: ``SimCluster`` is the one place that carries out the
effects of ``RaftNode.step`` the way a runtime must (impl/raft/effects.py):
in list order; a Send or reply behind a Persist waits for that write to be
durable (``SimStorage`` holds it); Apply feeds the state machine in index
order. It has no policy: *what* happens next (which message is delivered,
which node ticks, when a disk finishes) is chosen by the caller, either the
seeded ``Simulator`` or the Hypothesis machine. Everything the spec
invariants need is fed to an ``Observer`` as it happens (roles after every
step, entries as they are applied) and ``check()`` runs the whole-snapshot
predicates.

Rules:
  Rule 1. An exception from node code becomes ``NodeFailed`` naming the node
          and the event; the caller classifies it (an AssertionError is a
          broken invariant: CORRECTNESS; anything else: CRASH).
  Rule 2. Removed nodes are stopped once they know they were removed and
          their ids are never reused, so no node ever restarts with amnesia.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from harness.sim.network import SimNetwork
from harness.sim.storage import PendingWrite, SimStorage
from impl.kv import KvStateMachine
from impl.raft.config import RaftConfig
from impl.raft.effects import (
    Accepted,
    Apply,
    ApplySnapshot,
    Persist,
    PersistSnapshot,
    ReadReady,
    Rejected,
    Send,
)
from impl.raft.events import Event, Persisted, Received, Tick
from impl.raft.messages import Message, RequestVoteResponse
from impl.raft.node import RaftNode
from impl.raft.types import (
    ClusterConfig,
    Entry,
    EntryKind,
    Index,
    NodeId,
    RestoredState,
    Role,
    Snapshot,
    Term,
)
from impl.statemachine import decode_command
from spec.invariants import IncrementalObserver, InvariantViolation, Observer
from spec.snapshot import ClusterSnapshot, NodeSnapshot

Reply = Accepted | ReadReady | Rejected
_TICK = Tick()  # an immutable event without fields: one instance serves every tick
NodeFactory = Callable[[NodeId, RaftConfig, RestoredState, Callable[[int, int], int]], Any]


class NodeFailed(Exception):
    """Node code raised while handling an event (Rule 1)."""

    def __init__(self, node_id: NodeId, event: object, error: BaseException) -> None:
        super().__init__(f"{node_id} raised {type(error).__name__}: {error} while handling {event}")
        self.node_id = node_id
        self.event = event
        self.error = error


class ClusterListener(Protocol):
    """What clients hear: replies, applied results, and nodes that vanished."""

    def on_reply(self, node_id: NodeId, reply: Reply) -> None: ...

    def on_apply(self, node_id: NodeId, entry: Entry, result: Any) -> None: ...

    def on_node_lost(self, node_id: NodeId) -> None: ...


class _NoListener:
    def on_reply(self, node_id: NodeId, reply: Reply) -> None:
        pass

    def on_apply(self, node_id: NodeId, entry: Entry, result: Any) -> None:
        pass

    def on_node_lost(self, node_id: NodeId) -> None:
        pass


@dataclass(slots=True)
class NodeSlot:
    """Everything the simulator keeps for one node id."""

    storage: SimStorage
    bootstrap: ClusterConfig | None
    raft: Any = None  # RaftNode, or None while crashed / not started
    machine: KvStateMachine | None = None
    applied_index: int = 0
    removed: bool = False  # stopped for good after leaving the configuration


class SimCluster:
    def __init__(
        self,
        *,
        voters: list[NodeId],
        rng: random.Random,
        network: SimNetwork | None = None,
        raft_config: RaftConfig | None = None,
        node_factory: NodeFactory = RaftNode,
        disk_delay: Callable[[], int] = lambda: 0,
    ) -> None:
        self.rng = rng
        self.network = network if network is not None else SimNetwork(rng=rng)
        self.raft_config = raft_config if raft_config is not None else RaftConfig()
        self.node_factory = node_factory
        self.disk_delay = disk_delay
        self.now = 0
        self.listener: ClusterListener = _NoListener()
        self.observer: Observer = IncrementalObserver()
        self._node_snapshots: dict[NodeId, tuple[NodeSnapshot, Snapshot | None]] = {}
        self._write_queues: list[deque[PendingWrite]] = []  # every slot's storage.pending
        self.steps = 0
        self._request_id = 0
        bootstrap = ClusterConfig(voters=frozenset(voters))
        self.committed_config = bootstrap
        self.committed_config_index = 0
        self.retire_pending: set[NodeId] = set()
        self.snapshot_states: dict[int, tuple[NodeId, bytes]] = {}
        self.command_index: dict[bytes, int] = {}  # each proposal's data is unique
        self.slots: dict[NodeId, NodeSlot] = {}
        for node_id in voters:
            self.slots[node_id] = NodeSlot(storage=SimStorage(), bootstrap=bootstrap)
            self.start(node_id)

    # -- membership of the simulation (not of Raft) -----------------------------------------

    @property
    def live(self) -> list[NodeId]:
        return [node_id for node_id, slot in self.slots.items() if slot.raft is not None]

    @property
    def crashed(self) -> list[NodeId]:
        return [
            node_id
            for node_id, slot in self.slots.items()
            if slot.raft is None and not slot.removed
        ]

    def next_request_id(self) -> int:
        self._request_id += 1
        return self._request_id

    def node(self, node_id: NodeId) -> Any:
        return self.slots[node_id].raft

    def add_spare(self, node_id: NodeId) -> None:
        """Start a brand-new, empty node that waits for a leader to contact it."""
        assert node_id not in self.slots, f"node id {node_id} is never reused"
        self.slots[node_id] = NodeSlot(storage=SimStorage(), bootstrap=None)
        self.start(node_id)

    def start(self, node_id: NodeId) -> None:
        """(Re)start a node from its durable storage."""
        slot = self.slots[node_id]
        assert slot.raft is None and not slot.removed
        restored = slot.storage.restored(slot.bootstrap)
        slot.machine = KvStateMachine()
        slot.applied_index = 0
        if restored.snapshot is not None:
            slot.machine.restore(restored.snapshot.data)
            slot.applied_index = restored.snapshot.index
        try:
            slot.raft = self.node_factory(node_id, self.raft_config, restored, self.rng.randint)
        except Exception as error:
            raise NodeFailed(node_id, "start", error) from error

    def crash(self, node_id: NodeId) -> None:
        """Stop a node and lose its non-durable writes (and the effects held behind them)."""
        slot = self.slots[node_id]
        slot.raft = None
        slot.machine = None
        slot.storage.crash()
        self.listener.on_node_lost(node_id)

    def retire(self, node_id: NodeId) -> None:
        """Stop a node removed from the configuration, for good (Rule 2)."""
        if self.slots[node_id].raft is not None:
            self.crash(node_id)
        self.slots[node_id].removed = True

    # -- driving -----------------------------------------------------------------------------

    def step(self, node_id: NodeId, event: Event) -> None:
        slot = self.slots[node_id]
        if slot.raft is not None:
            self._step(node_id, slot, event)

    def _step(self, node_id: NodeId, slot: NodeSlot, event: Event) -> None:
        raft = slot.raft
        self.steps += 1
        try:
            effects = raft.step(event)
        except Exception as error:
            raise NodeFailed(node_id, event, error) from error
        if raft.role is Role.LEADER:  # observe_role looks at leaders only
            self.observer.observe_role(node_id, Role.LEADER, raft.term)
        if effects:
            self._carry_out(node_id, slot, effects)
        while self.retire_pending:
            self.retire(self.retire_pending.pop())

    def tick(self, node_id: NodeId) -> None:
        self.step(node_id, _TICK)

    def deliver(self, message: Message) -> None:
        slot = self.slots.get(message.to_id)
        if slot is not None and slot.raft is not None:
            self._step(message.to_id, slot, Received(message=message))

    def complete_write(self, node_id: NodeId) -> None:
        """The oldest pending write of ``node_id`` becomes durable; release what waited for it."""
        slot = self.slots[node_id]
        write = slot.storage.complete_next()
        self._release(node_id, write)
        if slot.raft is None:
            return
        match write.effect:
            case Persist(entries=entries) if entries:
                last = entries[-1]
                self.step(node_id, Persisted(index=last.index, term=last.term))
            case PersistSnapshot(snapshot=snapshot):
                self.step(node_id, Persisted(index=snapshot.index, term=snapshot.term))
            case _:
                pass

    def complete_due_writes(self, now: int) -> None:
        for node_id, slot in list(self.slots.items()):
            pending = slot.storage.pending  # cleared in place by a crash, never replaced
            while pending and pending[0].done_at <= now:
                self.complete_write(node_id)

    def next_write_due(self) -> int | None:
        """When the earliest unfinished write of any node becomes durable (None: no writes)."""
        queues = self._write_queues
        if len(queues) != len(self.slots):  # slots are only ever added, storages never replaced
            queues = self._write_queues = [slot.storage.pending for slot in self.slots.values()]
        due = None
        for pending in queues:
            if pending:
                first = pending[0].done_at
                if due is None or first < due:
                    due = first
        return due

    def _carry_out(self, node_id: NodeId, slot: NodeSlot, effects: list[Any]) -> None:
        barrier: PendingWrite | None = None
        for effect in effects:
            kind = type(effect)
            if kind is Send:  # the common case first; same handling as _emit's Send branch
                if barrier is not None:
                    barrier.held.append(effect)
                    continue
                message = effect.message
                if isinstance(message, RequestVoteResponse) or message.from_id != node_id:
                    self._send(node_id, message)  # observe the vote; or fail the assert
                else:
                    self.network.send(message, self.now)
            elif kind is Apply:
                self._apply(node_id, slot, effect.entries)
            else:
                barrier = self._carry_out_other(node_id, slot, effect, barrier)

    def _carry_out_other(
        self, node_id: NodeId, slot: NodeSlot, effect: Any, barrier: PendingWrite | None
    ) -> PendingWrite | None:
        """Every effect but a Send or an Apply; returns the write later effects wait for."""
        match effect:
            case Persist() | PersistSnapshot():
                if isinstance(effect, PersistSnapshot):
                    self._record_snapshot_state(node_id, effect.snapshot)
                return slot.storage.submit(effect, self.now + self.disk_delay())
            case Accepted() | ReadReady() | Rejected():  # Send and Apply: see _carry_out
                if barrier is not None:
                    barrier.held.append(effect)
                else:
                    self._emit(node_id, effect)
            case ApplySnapshot(snapshot=snapshot):
                assert snapshot.index >= slot.applied_index, (
                    f"apply_order: {node_id} was told to install snapshot "
                    f"{snapshot.index} after applying {slot.applied_index}"
                )
                assert slot.machine is not None
                slot.machine.restore(snapshot.data)
                slot.applied_index = snapshot.index
            case _:
                raise AssertionError(f"unknown effect {effect!r} from {node_id}")
        return barrier

    def _release(self, node_id: NodeId, write: PendingWrite) -> None:
        for effect in write.held:
            self._emit(node_id, effect)

    def _emit(self, node_id: NodeId, effect: Any) -> None:
        if isinstance(effect, Send):
            self._send(node_id, effect.message)
        elif self.slots[node_id].raft is not None:
            self.listener.on_reply(node_id, effect)

    def _send(self, node_id: NodeId, message: Message) -> None:
        assert message.from_id == node_id, f"{node_id} sent {message}"
        if (
            isinstance(message, RequestVoteResponse)
            and message.vote_granted
            and not message.pre_vote
        ):
            self.observer.observe_vote(node_id, message.term, message.to_id)
        self.network.send(message, self.now)

    def _apply(self, node_id: NodeId, slot: NodeSlot, entries: tuple[Entry, ...]) -> None:
        machine = slot.machine
        assert machine is not None
        for entry in entries:
            assert entry.index == slot.applied_index + 1, (
                f"apply_order: {node_id} applied {entry} after index {slot.applied_index} "
                "(Rule 4: in order, never twice)"
            )
            result: Any = None
            if entry.kind is EntryKind.NORMAL:
                self._check_applied_once(node_id, entry)
                result = machine.apply(entry.index, decode_command(entry.data))
            slot.applied_index = entry.index
            self.observer.observe_applied(node_id, (entry,), slot.raft.term)
            if entry.index in self.snapshot_states:
                self._compare_with_snapshot(node_id, entry.index, machine)
            self.listener.on_apply(node_id, entry, result)
            if entry.kind is EntryKind.CONFIG and entry.config is not None:
                self._maybe_retire(entry.index, entry.config)

    def _maybe_retire(self, index: int, config: ClusterConfig) -> None:
        """Members dropped by a newer *committed* configuration are stopped (Rule 2)."""
        if index <= self.committed_config_index:
            return
        dropped = self.committed_config.members - config.members
        self.committed_config = config
        self.committed_config_index = index
        self.retire_pending.update(dropped)

    def _check_applied_once(self, node_id: NodeId, entry: Entry) -> None:
        """Every command is proposed once, so it may be committed at one index only."""
        first = self.command_index.setdefault(entry.data, entry.index)
        if first != entry.index:
            raise InvariantViolation(
                f"state_machine_safety: {node_id} applied the command of index {first} "
                f"again at index {entry.index}: {decode_command(entry.data).op}"
            )

    def _record_snapshot_state(self, node_id: NodeId, snapshot: Snapshot) -> None:
        """Remember the state machine image at ``snapshot.index`` (first one wins, others compared)."""
        known = self.snapshot_states.get(snapshot.index)
        if known is None:
            self.snapshot_states[snapshot.index] = (node_id, snapshot.data)
        elif known[1] != snapshot.data:
            mine, theirs = KvStateMachine(), KvStateMachine()
            mine.restore(snapshot.data)
            theirs.restore(known[1])
            if mine.data != theirs.data:
                raise InvariantViolation(
                    f"state_machine_safety: snapshots of {known[0]} and {node_id} at index "
                    f"{snapshot.index} differ: {theirs.data} vs {mine.data}"
                )

    def _compare_with_snapshot(self, node_id: NodeId, index: int, machine: KvStateMachine) -> None:
        """A node that applied up to ``index`` must hold the state some snapshot recorded there."""
        owner, data = self.snapshot_states[index]
        image = KvStateMachine()
        image.restore(data)
        if image.data != machine.data:
            raise InvariantViolation(
                f"state_machine_safety: {node_id} state after applying index {index} is "
                f"{machine.data}, but {owner}'s snapshot at {index} is {image.data}"
            )

    # -- checking ----------------------------------------------------------------------------

    def snapshot(self) -> ClusterSnapshot:
        """The live nodes' state; a node whose state did not change keeps its NodeSnapshot object.

        Reusing an equal immutable value is always correct, and it is what lets
        ``IncrementalObserver`` skip the nodes that did not change (``is``).
        """
        nodes = []
        cache = self._node_snapshots
        for node_id, slot in self.slots.items():
            raft = slot.raft
            if raft is None:
                continue
            entries = raft.log_entries()
            snap = raft.snapshot
            cached = cache.get(node_id)
            if cached is not None:
                node, cached_snap = cached
                if (
                    node.entries is entries
                    and cached_snap is snap
                    and node.term == raft.term
                    and node.role is raft.role
                    and node.commit_index == raft.commit_index
                    and node.applied_index == slot.applied_index
                    and node.voted_for == raft.voted_for
                ):
                    nodes.append(node)
                    continue
            node = NodeSnapshot(
                id=node_id,
                term=raft.term,
                role=raft.role,
                voted_for=raft.voted_for,
                commit_index=raft.commit_index,
                applied_index=Index(slot.applied_index),
                snapshot_index=snap.index if snap is not None else Index(0),
                snapshot_term=snap.term if snap is not None else Term(0),
                entries=tuple(entries),
            )
            cache[node_id] = (node, snap)
            nodes.append(node)
        return ClusterSnapshot(nodes=tuple(nodes))

    def check(self) -> None:
        """Run every spec invariant on the current state (raises InvariantViolation)."""
        self.observer.observe_snapshot(self.snapshot())

    def leader(self) -> NodeId | None:
        """The live leader with the highest term, if any."""
        best: tuple[int, NodeId] | None = None
        for node_id in self.live:
            raft = self.slots[node_id].raft
            if raft.role is Role.LEADER and (best is None or raft.term > best[0]):
                best = (raft.term, node_id)
        return best[1] if best is not None else None
