"""A seeded fault-injecting driver that checks Raft's safety properties after every step.

Theory of operation: unlike pump.py, this driver models storage the way the
persistence rule allows a real runtime to behave (effects.py): a write is
not durable until a later random "fsync"; any Send or reply that follows a
Persist in the same effect list is held until that write is durable; a crash
loses unflushed writes and held messages. The network delivers in random
order, drops and duplicates; clients propose, read, compact and transfer
leadership at random nodes. One ``random.Random(seed)`` drives everything,
so a failing seed replays exactly. After every step the driver asserts:

  election safety      at most one leader per term, ever (Raft §5.2)
  state machine safety every node applies the same entry at each index (§5.4.3)
  leader completeness  a new leader holds every entry anyone applied (§5.4)
  read safety          ReadReady's index >= every index applied anywhere
                       before the ReadIndex was asked (thesis §6.4)
  client contract      an entry applied at an Accepted (index, term) is that proposal
  log matching         (every 200 steps) two logs holding an entry with the same
                       index and term hold the same entries up to it (Raft §5.3)
  persistence          a granted vote is durable before it leaves the node

The SIM helper's harness/sim is the full simulator; this one exists so the
Raft core's own tests can find bugs without depending on it.
"""

from __future__ import annotations

import random
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
from impl.raft.events import (
    CompactLog,
    ConfigChangeKind,
    Event,
    Persisted,
    Propose,
    ProposeConfigChange,
    ReadIndex,
    Received,
    Tick,
    TransferLeadership,
)
from impl.raft.messages import Message, RequestVoteResponse
from impl.raft.node import RaftNode
from impl.raft.types import ClusterConfig, Entry, Index, NodeId, RestoredState, Role, Term

from .pump import Disk, ids


@dataclass(slots=True)
class Host:
    """One node process: its RaftNode, its disk and what is not yet durable."""

    node: RaftNode
    disk: Disk
    unflushed: list[Persist | PersistSnapshot] = field(default_factory=list)
    held: list[tuple[int, Effect]] = field(default_factory=list)  # (writes needed, effect)
    flushed_writes: int = 0  # writes made durable since this incarnation started
    issued_writes: int = 0


class Chaos:
    def __init__(self, seed: int, *, nodes: int = 3, spares: int = 1) -> None:
        self.rng = random.Random(seed)
        self.config = RaftConfig(
            election_timeout_ticks_min=10,
            election_timeout_ticks_max=self.rng.choice([12, 20, 40]),
            heartbeat_interval_ticks=self.rng.choice([1, 2, 4]),
            max_append_bytes=self.rng.choice([8, 1 << 20]),
            max_entries_per_append=self.rng.choice([1, 4, 64]),
            max_inflight_appends=self.rng.choice([1, 2, 16]),
            pre_vote=self.rng.random() < 0.8,
            check_quorum=self.rng.random() < 0.8,
        )
        self.voters = ids(nodes)
        self.spares = [f"n{i}" for i in range(nodes + 1, nodes + spares + 1)]
        self.bootstrap = ClusterConfig(voters=frozenset(self.voters))
        self.hosts: dict[NodeId, Host] = {}
        for node_id in [*self.voters, *self.spares]:
            joiner = node_id in self.spares
            self.hosts[NodeId(node_id)] = Host(
                node=self._boot(NodeId(node_id), Disk(), joiner), disk=Disk()
            )
        self.network: list[Message] = []
        self.leader_of_term: dict[Term, NodeId] = {}
        self.applied_at: dict[int, tuple[Term, bytes]] = {}
        self.max_applied = 0
        self.read_floor: dict[tuple[NodeId, int], int] = {}
        self.next_request = 0
        self.proposals: dict[int, bytes] = {}
        self.accepted: dict[tuple[int, int], bytes] = {}
        self.down: set[NodeId] = set()
        self.partitioned: set[NodeId] = set()
        self.stats = {"messages": 0, "reads": 0, "accepted": 0, "crashes": 0, "snapshots": 0}

    def _boot(self, node_id: NodeId, disk: Disk, joiner: bool) -> RaftNode:
        restored = RestoredState(
            hard_state=disk.hard_state,
            snapshot=disk.snapshot,
            entries=tuple(disk.entries),
            bootstrap=ClusterConfig(voters=frozenset()) if joiner else self.bootstrap,
        )
        return RaftNode(node_id, self.config, restored, self.rng.randint)

    # ------------------------------------------------------------------ effects

    def step(self, node_id: NodeId, event: Event) -> None:
        host = self.hosts[node_id]
        was_leader = host.node.role is Role.LEADER
        effects = host.node.step(event)
        barrier = None  # writes that must be durable before later effects leave
        hard_state = None
        for effect in effects:
            if isinstance(effect, Send) and isinstance(effect.message, RequestVoteResponse):
                vote = effect.message
                if vote.vote_granted and not vote.pre_vote:
                    # persistence: a Persist of this very vote precedes the response
                    assert hard_state is not None, f"vote {vote} without a Persist before it"
                    assert (hard_state.term, hard_state.voted_for) == (vote.term, vote.to_id)
            if isinstance(effect, Persist) and effect.hard_state is not None:
                hard_state = effect.hard_state
            if isinstance(effect, (Persist, PersistSnapshot)):
                host.unflushed.append(effect)
                host.issued_writes += 1
                barrier = host.issued_writes
            elif isinstance(effect, (Send, Accepted, ReadReady, Rejected)):
                if barrier is not None and barrier > host.flushed_writes:
                    host.held.append((barrier, effect))
                else:
                    self._release(node_id, effect)
            elif isinstance(effect, Apply):
                self._check_apply(node_id, effect.entries)
            elif isinstance(effect, ApplySnapshot):
                self.max_applied = max(self.max_applied, effect.snapshot.index)
        self._check_node(node_id, was_leader)

    def _release(self, node_id: NodeId, effect: Effect) -> None:
        if isinstance(effect, Send):
            self.network.append(effect.message)
            self.stats["messages"] += 1
        elif isinstance(effect, ReadReady):
            floor = self.read_floor.pop((node_id, effect.request_id))
            assert effect.index >= floor, f"stale read: index {effect.index} < applied {floor}"
            self.stats["reads"] += 1
        elif isinstance(effect, Accepted):
            self.stats["accepted"] += 1
            key = (effect.index, effect.term)
            proposed = self.proposals.get(effect.request_id)
            if proposed is not None:
                assert self.accepted.setdefault(key, proposed) == proposed, (
                    f"two proposals accepted at {key}"
                )

    def flush(self, node_id: NodeId) -> None:
        """Storage makes some pending writes durable, then acknowledges the last entry."""
        host = self.hosts[node_id]
        if not host.unflushed:
            return
        count = self.rng.randint(1, len(host.unflushed))
        last_entry: Entry | None = None
        for write in host.unflushed[:count]:
            host.disk.write(write)
            if isinstance(write, Persist) and write.entries:
                last_entry = write.entries[-1]
        del host.unflushed[:count]
        host.flushed_writes += count
        ready = [e for need, e in host.held if need <= host.flushed_writes]
        host.held = [(need, e) for need, e in host.held if need > host.flushed_writes]
        for effect in ready:
            self._release(node_id, effect)
        if last_entry is not None:
            self.step(node_id, Persisted(index=last_entry.index, term=last_entry.term))

    def crash(self, node_id: NodeId) -> None:
        host = self.hosts[node_id]
        joiner = node_id in self.spares and not host.disk.entries and host.disk.snapshot is None
        host.node = self._boot(node_id, host.disk, joiner)
        host.unflushed.clear()
        host.held.clear()
        host.flushed_writes = host.issued_writes = 0
        self.read_floor = {k: v for k, v in self.read_floor.items() if k[0] != node_id}
        self.stats["crashes"] += 1

    # ------------------------------------------------------------------ invariants

    def _check_apply(self, node_id: NodeId, entries: tuple[Entry, ...]) -> None:
        for entry in entries:
            seen = self.applied_at.setdefault(entry.index, (entry.term, entry.data))
            assert seen == (entry.term, entry.data), (
                f"state machine safety: {node_id} applied {entry} but index {entry.index} "
                f"was applied as term {seen[0]} elsewhere"
            )
            self.max_applied = max(self.max_applied, entry.index)
            accepted = self.accepted.get((entry.index, entry.term))
            if accepted is not None:
                # The client contract: an applied (index, term) is exactly what was accepted there.
                assert entry.data == accepted, f"{entry} applied, but {accepted!r} was accepted"

    def _check_node(self, node_id: NodeId, was_leader: bool) -> None:
        node = self.hosts[node_id].node
        if node.role is not Role.LEADER:
            return
        holder = self.leader_of_term.setdefault(node.term, node_id)
        assert holder == node_id, f"election safety: {holder} and {node_id} lead term {node.term}"
        if not was_leader:
            # Leader completeness: everything applied anywhere is in the new leader's log.
            for index, (term, _) in self.applied_at.items():
                if index > (node.snapshot.index if node.snapshot else 0):
                    assert node.term_at(index) == term, (
                        f"leader completeness: {node_id} (term {node.term}) lacks {index}@{term}"
                    )

    def check_log_matching(self) -> None:
        nodes = [h.node for h in self.hosts.values()]
        for position, a in enumerate(nodes):
            entries_a = {e.index: e for e in a.log_entries()}
            for b in nodes[position + 1 :]:
                common = [e for e in b.log_entries() if e.index in entries_a]
                matched = False
                for entry in reversed(common):  # from the highest shared index down
                    mine = entries_a[entry.index]
                    if not matched and mine.term == entry.term:
                        matched = True
                    if matched:
                        assert mine == entry, (
                            f"log matching: {a.id} and {b.id} agree on a later index but "
                            f"differ at {entry.index}: {mine} vs {entry}"
                        )

    # ------------------------------------------------------------------ the loop

    def _client(self, node_id: NodeId) -> None:
        node = self.hosts[node_id].node
        self.next_request += 1
        request_id = self.next_request
        roll = self.rng.random()
        if roll < 0.6:
            self.proposals[request_id] = b"%d" % request_id
            self.step(node_id, Propose(request_id=request_id, data=b"%d" % request_id))
        elif roll < 0.8:
            self.read_floor[(node_id, request_id)] = self.max_applied
            self.step(node_id, ReadIndex(request_id=request_id))
        elif roll < 0.88 and node.applied_index > (node.snapshot.index if node.snapshot else 0):
            index = self.rng.randint(node.applied_index // 2, node.applied_index)
            self.stats["snapshots"] += 1
            self.step(node_id, CompactLog(index=Index(index), data=b"snap%d" % index))
        elif roll < 0.94:
            target = NodeId(self.rng.choice(self.voters))
            self.step(node_id, TransferLeadership(request_id=request_id, to=target))
        else:
            kind = self.rng.choice(list(ConfigChangeKind))
            target = NodeId(self.rng.choice([*self.voters, *self.spares]))
            self.step(node_id, ProposeConfigChange(request_id=request_id, kind=kind, node=target))

    def _deliver(self) -> None:
        position = self.rng.randrange(len(self.network))
        message = self.network[position]
        if self.rng.random() < 0.05:
            duplicate = True
        else:
            duplicate = False
            self.network[position] = self.network[-1]
            self.network.pop()
        if self.rng.random() < 0.05:
            return  # dropped
        cut = message.from_id in self.partitioned or message.to_id in self.partitioned
        if message.to_id in self.down or cut:
            return
        if duplicate and self.rng.random() < 0.5:
            return
        self.step(message.to_id, Received(message=message))

    def run(self, steps: int, *, faults: bool = True) -> None:
        names = list(self.hosts)
        for step in range(steps):
            if step % 200 == 0:
                self.check_log_matching()
            roll = self.rng.random()
            node_id = self.rng.choice(names)
            if node_id in self.down:
                if not faults or roll < 0.02:
                    self.down.discard(node_id)
                continue
            if roll < 0.35 and self.network:
                self._deliver()
            elif roll < 0.55:
                self.step(node_id, Tick())
            elif roll < 0.75:
                self.flush(node_id)
            elif roll < 0.85:
                self._client(node_id)
            elif faults and roll < 0.855:
                self.crash(node_id)
                self.down.add(node_id)
            elif faults and roll < 0.86:
                self.partitioned = {node_id} if not self.partitioned else set()
            if len(self.network) > 2000:
                del self.network[:1000]

    def heal_and_converge(self, rounds: int = 3000) -> None:
        """Liveness: with faults off, one leader emerges and a fresh proposal gets applied."""
        self.down.clear()
        self.partitioned.clear()
        for _ in range(rounds):
            for node_id in self.hosts:
                self.step(node_id, Tick())
                self.flush(node_id)
            for _ in range(len(self.network)):
                if self.network:
                    self._deliver_reliably()
            leaders = [h.node for h in self.hosts.values() if h.node.role is Role.LEADER]
            if len(leaders) == 1 and leaders[0].commit_index >= leaders[0].last_index:
                voters = leaders[0].config.voters
                commits = {self.hosts[v].node.applied_index for v in voters}
                if commits == {leaders[0].commit_index} and leaders[0].commit_index > 0:
                    return
        states = {n: repr(h.node) for n, h in self.hosts.items()}
        raise AssertionError(f"liveness: no convergence after {rounds} rounds: {states}")

    def _deliver_reliably(self) -> None:
        message = self.network.pop(0)
        self.step(message.to_id, Received(message=message))
