"""A tiny deterministic message pump for RaftNode tests.

Theory of operation: the pump owns a few RaftNodes, an in-memory "disk" per
node and one FIFO of in-flight messages. Stepping a node carries out its
effects the way the runtime must (effects.py): Persist/PersistSnapshot are
written to that node's disk and, when ``auto_persist`` is on, acknowledged
with ``Persisted`` right away; Sends go into the FIFO; Apply entries and
client replies are recorded for assertions. Links can be cut per direction.
Nothing is random except the election timeouts, drawn from a seeded RNG (the
seed is an argument, so every test is reproducible). The SIM helper's
simulator is the full-featured one; this pump is for paper-sentence tests.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from impl.raft.config import RaftConfig
from impl.raft.effects import (
    Accepted,
    Apply,
    ApplySnapshot,
    Effect,
    Persist,
    PersistSnapshot,
    ReadReady,
    Rejected,
    Send,
)
from impl.raft.events import Event, Persisted, Received, Tick
from impl.raft.messages import Message
from impl.raft.node import RaftNode
from impl.raft.types import (
    ClusterConfig,
    Entry,
    HardState,
    NodeId,
    RestoredState,
    Role,
    Snapshot,
)


@dataclass(slots=True)
class Disk:
    """What survives a crash: exactly what Persist/PersistSnapshot wrote."""

    hard_state: HardState = field(default_factory=HardState)
    snapshot: Snapshot | None = None
    entries: list[Entry] = field(default_factory=list)

    def write(self, effect: Persist | PersistSnapshot) -> None:
        if isinstance(effect, PersistSnapshot):
            self.snapshot = effect.snapshot
            if effect.discard_log:
                self.entries = []
            else:
                self.entries = [e for e in self.entries if e.index > effect.snapshot.index]
            return
        if effect.hard_state is not None:
            self.hard_state = effect.hard_state
        if effect.entries:
            first = effect.entries[0].index
            base = self.snapshot.index + 1 if self.snapshot is not None else 1
            del self.entries[max(0, first - base) :]  # entries are contiguous from base
            self.entries.extend(effect.entries)


def ids(count: int) -> list[NodeId]:
    return [NodeId(f"n{i}") for i in range(1, count + 1)]


class Pump:
    """Nodes + disks + a FIFO network; see the module docstring."""

    def __init__(
        self,
        node_ids: list[NodeId],
        *,
        learners: tuple[NodeId, ...] = (),
        config: RaftConfig | None = None,
        seed: int = 0,
        auto_persist: bool = True,
        joiners: tuple[NodeId, ...] = (),
    ) -> None:
        self.config = config or RaftConfig()
        self.bootstrap = ClusterConfig(voters=frozenset(node_ids), learners=frozenset(learners))
        self.rng = random.Random(seed)
        self.auto_persist = auto_persist
        self.timeouts: dict[NodeId, int] = {}
        self.disks: dict[NodeId, Disk] = {}
        self.nodes: dict[NodeId, RaftNode] = {}
        self.in_flight: deque[Message] = deque()
        self.cut: set[tuple[NodeId, NodeId]] = set()
        self.applied: dict[NodeId, list[Entry]] = {}
        self.snapshots_applied: dict[NodeId, list[Snapshot]] = {}
        self.replies: dict[NodeId, list[Effect]] = {}
        self.effects_log: list[tuple[NodeId, Event, list[Effect]]] = []
        self.sent_count = 0
        self.joiners = frozenset(joiners)
        for node_id in [*node_ids, *learners]:
            self.disks[node_id] = Disk()
            self.start(node_id)
        for node_id in joiners:
            self.disks[node_id] = Disk()
            self.start(node_id)

    # ------------------------------------------------------------------ nodes

    def _draw(self, node_id: NodeId) -> Callable[[int, int], int]:
        def draw(low: int, high: int) -> int:
            fixed = self.timeouts.get(node_id)
            return fixed if fixed is not None else self.rng.randint(low, high)

        return draw

    def start(self, node_id: NodeId, *, bootstrap: ClusterConfig | None = None) -> RaftNode:
        """(Re)start ``node_id`` from its disk, as the runtime does after a crash."""
        disk = self.disks[node_id]
        if bootstrap is None:
            joining = node_id in self.joiners
            bootstrap = ClusterConfig(voters=frozenset()) if joining else self.bootstrap
        restored = RestoredState(
            hard_state=disk.hard_state,
            snapshot=disk.snapshot,
            entries=tuple(disk.entries),
            bootstrap=bootstrap,
        )
        node = RaftNode(node_id, self.config, restored, self._draw(node_id))
        self.nodes[node_id] = node
        self.applied[node_id] = []
        self.snapshots_applied[node_id] = []
        self.replies.setdefault(node_id, [])
        return node

    def step(self, node_id: NodeId, event: Event) -> list[Effect]:
        effects = self.nodes[node_id].step(event)
        self.effects_log.append((node_id, event, effects))
        persisted: Entry | None = None
        for effect in effects:
            match effect:
                case Persist() | PersistSnapshot():
                    self.disks[node_id].write(effect)
                    if isinstance(effect, Persist) and effect.entries:
                        persisted = effect.entries[-1]
                case Send():
                    if (effect.message.from_id, effect.to) not in self.cut:
                        self.in_flight.append(effect.message)
                        self.sent_count += 1
                case Apply():
                    self.applied[node_id].extend(effect.entries)
                case ApplySnapshot():
                    self.snapshots_applied[node_id].append(effect.snapshot)
                case Accepted() | ReadReady() | Rejected():
                    self.replies[node_id].append(effect)
        if persisted is not None and self.auto_persist:
            self.step(node_id, Persisted(index=persisted.index, term=persisted.term))
        return effects

    # ------------------------------------------------------------------ time and network

    def deliver_one(self) -> Message | None:
        if not self.in_flight:
            return None
        message = self.in_flight.popleft()
        if (message.from_id, message.to_id) not in self.cut and message.to_id in self.nodes:
            self.step(message.to_id, Received(message=message))
        return message

    def deliver_all(self, limit: int = 100_000) -> int:
        delivered = 0
        while self.in_flight and delivered < limit:
            self.deliver_one()
            delivered += 1
        assert not self.in_flight, f"message storm: {limit} deliveries did not drain the network"
        return delivered

    def tick(self, node_id: NodeId, times: int = 1) -> None:
        for _ in range(times):
            self.step(node_id, Tick())

    def tick_all(self, times: int = 1, *, deliver: bool = True) -> None:
        for _ in range(times):
            for node_id in list(self.nodes):
                self.step(node_id, Tick())
            if deliver:
                self.deliver_all()

    def isolate(self, node_id: NodeId) -> None:
        for other in self.nodes:
            if other != node_id:
                self.cut.add((node_id, other))
                self.cut.add((other, node_id))

    def heal(self) -> None:
        self.cut.clear()

    # ------------------------------------------------------------------ helpers

    def leaders(self) -> list[NodeId]:
        return [i for i, n in self.nodes.items() if n.role is Role.LEADER]

    def elect(self, node_id: NodeId) -> NodeId:
        """Make ``node_id`` time out first and win; deliver everything."""
        node = self.nodes[node_id]
        for _ in range(self.config.election_timeout_ticks_max * 4):
            self.tick(node_id)
            self.deliver_all()
            if node.role is Role.LEADER:
                # let the NOOP commit everywhere reachable
                self.tick_all(self.config.heartbeat_interval_ticks)
                return node_id
        raise AssertionError(f"{node_id} did not become leader: {node!r}")

    def wait_leader(self, ticks_max: int = 500) -> NodeId:
        for _ in range(ticks_max):
            self.tick_all()
            leaders = self.leaders()
            if len(leaders) == 1:
                return leaders[0]
        raise AssertionError(f"no single leader after {ticks_max} ticks: {self.nodes}")

    def sends(self, effects: list[Effect]) -> list[Message]:
        return [e.message for e in effects if isinstance(e, Send)]
