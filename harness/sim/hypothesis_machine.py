"""The rules of the Hypothesis Raft machine, shared by tests/stateful and harness/bench/sim.py.

Theory of operation: the machine's rules are the inputs a real network and
disk can produce: deliver, drop or duplicate any message in flight (so any
reordering), tick a node, finish a disk write (or crash before it
finishes), restart from durable state, partition and heal, and client
requests: propose, read, membership changes, compaction, leadership
transfer. A lockstep rule (tick everyone, finish every write, deliver
everything) lets leaders emerge within a few dozen steps. After every step
the invariants of spec/invariants.py (Raft Figure 3) are checked, and the
committed log must be a sequence of distinct client proposals. Hypothesis is
a test dependency: only tests and benchmarks import this module.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import register_random
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from harness.sim.cluster import SimCluster
from impl.raft.config import RaftConfig
from impl.raft.events import (
    CompactLog,
    ConfigChangeKind,
    Propose,
    ProposeConfigChange,
    ReadIndex,
    TransferLeadership,
)
from impl.raft.node import RaftNode
from impl.raft.types import EntryKind, Index, NodeId
from impl.statemachine import Command, decode_command, encode_command

NODE_IDS = [NodeId("n1"), NodeId("n2"), NodeId("n3")]
# Short timeouts so that a few dozen steps contain elections, commits and failovers.
FAST = RaftConfig(
    election_timeout_ticks_min=3, election_timeout_ticks_max=6, heartbeat_interval_ticks=1
)

# One RNG for the cluster's election-timeout draws; Hypothesis seeds it per example.
SIM_RANDOM = random.Random(0)
register_random(SIM_RANDOM)


class RaftClusterMachine(RuleBasedStateMachine):
    """Subclass and set ``node_factory`` to run the same rules against a modified RaftNode."""

    node_factory: Any = RaftNode

    @initialize()
    def start_cluster(self) -> None:
        self.cluster = SimCluster(
            voters=list(NODE_IDS),
            rng=SIM_RANDOM,
            raft_config=FAST,
            node_factory=type(self).node_factory,
        )
        self.proposals: set[bytes] = set()
        self.committed_data: dict[bytes, int] = {}
        self.checked_index = 0
        self.value = 0
        self.spares = 0
        # Start from an elected leader (bounded): the interesting interleavings are the
        # ones that disturb a working cluster, and electing one by random rules is slow.
        for _ in range(50):
            if self.cluster.leader() is not None:
                break
            self._lockstep_round()

    # -- the network ---------------------------------------------------------------------

    @precondition(lambda self: self.cluster.network.in_flight_count)
    @rule(data=st.data())
    def network_delivers_one(self, data: st.DataObject) -> None:
        network = self.cluster.network
        item = data.draw(st.sampled_from(network.in_flight), label="message")
        message = network.take(item)
        if message is not None:
            self.cluster.deliver(message)

    @precondition(lambda self: self.cluster.network.in_flight_count)
    @rule()
    def network_delivers_everything_in_flight(self) -> None:
        network = self.cluster.network
        for item in network.in_flight:
            message = network.take(item)
            if message is not None:
                self.cluster.deliver(message)

    @precondition(lambda self: self.cluster.network.in_flight_count)
    @rule(data=st.data())
    def network_drops_one(self, data: st.DataObject) -> None:
        network = self.cluster.network
        network.drop(data.draw(st.sampled_from(network.in_flight), label="drop"))

    @precondition(lambda self: self.cluster.network.in_flight_count)
    @rule(data=st.data())
    def network_duplicates_one(self, data: st.DataObject) -> None:
        network = self.cluster.network
        item = data.draw(st.sampled_from(network.in_flight), label="duplicate")
        network.send(item.message, self.cluster.now)

    @rule(data=st.data())
    def network_partitions(self, data: st.DataObject) -> None:
        everyone = set(self.cluster.slots)
        side = data.draw(st.sets(st.sampled_from(sorted(everyone)), max_size=2), label="side")
        self.cluster.network.isolate([side, everyone - side], everyone)

    @rule()
    def network_heals(self) -> None:
        self.cluster.network.heal()

    # -- time and the disk ---------------------------------------------------------------

    @precondition(lambda self: self.cluster.live)
    @rule(data=st.data(), times=st.integers(1, 8))
    def node_ticks(self, data: st.DataObject, times: int) -> None:
        node_id = data.draw(st.sampled_from(self.cluster.live), label="node")
        for _ in range(times):
            self.cluster.tick(node_id)

    @precondition(lambda self: self.cluster.live)
    @rule()
    def every_node_ticks(self) -> None:
        for node_id in self.cluster.live:
            self.cluster.tick(node_id)

    @rule(rounds=st.integers(1, 12))
    def cluster_runs_in_lockstep(self, rounds: int) -> None:
        """Synchronous rounds (tick all, finish all writes, deliver all): lets leaders emerge."""
        for _ in range(rounds):
            self._lockstep_round()

    @rule()
    def cluster_settles(self) -> None:
        """Lockstep rounds until nothing is in flight or on its way to a disk (at most 10)."""
        for _ in range(10):
            self._lockstep_round()
            busy = any(slot.storage.pending for slot in self.cluster.slots.values())
            if not self.cluster.network.in_flight_count and not busy:
                break

    def _lockstep_round(self) -> None:
        network = self.cluster.network
        for node_id in self.cluster.live:
            self.cluster.tick(node_id)
        self.cluster.complete_due_writes(self.cluster.now)
        for item in network.in_flight:
            message = network.take(item)
            if message is not None:
                self.cluster.deliver(message)
        self.cluster.complete_due_writes(self.cluster.now)

    def _nodes_with_pending_writes(self) -> list[NodeId]:
        return [n for n, slot in self.cluster.slots.items() if slot.storage.pending]

    @precondition(lambda self: self._nodes_with_pending_writes())
    @rule(data=st.data())
    def disk_finishes_a_write(self, data: st.DataObject) -> None:
        node_id = data.draw(st.sampled_from(self._nodes_with_pending_writes()), label="disk")
        self.cluster.complete_write(node_id)

    @precondition(lambda self: self._nodes_with_pending_writes())
    @rule()
    def every_disk_finishes(self) -> None:
        self.cluster.complete_due_writes(self.cluster.now)

    @precondition(lambda self: self.cluster.live)
    @rule(data=st.data())
    def node_crashes(self, data: st.DataObject) -> None:
        self.cluster.crash(data.draw(st.sampled_from(self.cluster.live), label="crash"))

    @precondition(lambda self: self.cluster.crashed)
    @rule(data=st.data())
    def node_restarts(self, data: st.DataObject) -> None:
        self.cluster.start(data.draw(st.sampled_from(self.cluster.crashed), label="restart"))

    # -- clients -------------------------------------------------------------------------

    def _leader(self) -> NodeId | None:
        return self.cluster.leader()

    @precondition(lambda self: self.cluster.live)
    @rule(data=st.data())
    def client_proposes(self, data: st.DataObject) -> None:
        target = self._leader() or data.draw(st.sampled_from(self.cluster.live), label="to")
        self.value += 1
        command = Command(
            service="kv", op={"f": "write", "key": "k", "value": self.value}, stamp_ms=0
        )
        payload = encode_command(command)
        self.proposals.add(payload)
        self.cluster.step(target, Propose(request_id=self.cluster.next_request_id(), data=payload))

    @precondition(lambda self: self.cluster.live)
    @rule(data=st.data())
    def client_reads(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(self.cluster.live), label="read-at")
        self.cluster.step(target, ReadIndex(request_id=self.cluster.next_request_id()))

    @precondition(lambda self: self._leader() is not None)
    @rule(data=st.data())
    def membership_changes(self, data: st.DataObject) -> None:
        leader = self._leader()
        assert leader is not None
        config = self.cluster.node(leader).config
        kind = data.draw(st.sampled_from(list(ConfigChangeKind)), label="change")
        if kind is ConfigChangeKind.ADD_LEARNER:
            if self.spares >= 2:
                return
            self.spares += 1
            target = NodeId(f"s{self.spares}")
            self.cluster.add_spare(target)
        else:
            target = data.draw(st.sampled_from(sorted(config.members)), label="member")
        request = ProposeConfigChange(
            request_id=self.cluster.next_request_id(), kind=kind, node=target
        )
        self.cluster.step(leader, request)

    @precondition(lambda self: self._leader() is not None)
    @rule(data=st.data())
    def leadership_transfers(self, data: st.DataObject) -> None:
        leader = self._leader()
        assert leader is not None
        target = data.draw(
            st.sampled_from(sorted(self.cluster.node(leader).config.voters)), label="to"
        )
        self.cluster.step(
            leader, TransferLeadership(request_id=self.cluster.next_request_id(), to=target)
        )

    def _compactable(self) -> list[NodeId]:
        out = []
        for node_id in self.cluster.live:
            slot = self.cluster.slots[node_id]
            snapshot = slot.raft.snapshot
            if slot.applied_index > (snapshot.index if snapshot else 0):
                out.append(node_id)
        return out

    @precondition(lambda self: self._compactable())
    @rule(data=st.data())
    def node_compacts_its_log(self, data: st.DataObject) -> None:
        node_id = data.draw(st.sampled_from(self._compactable()), label="compact")
        slot = self.cluster.slots[node_id]
        assert slot.machine is not None
        event = CompactLog(index=Index(slot.applied_index), data=slot.machine.snapshot())
        self.cluster.step(node_id, event)

    # -- the spec ------------------------------------------------------------------------

    @invariant()
    def raft_safety_properties_hold(self) -> None:
        """Election safety, log matching, leader append-only, leader completeness, SM safety."""
        self.cluster.check()

    @invariant()
    def committed_log_is_a_sequence_of_distinct_proposals(self) -> None:
        applied = self.cluster.observer.applied
        top = max(applied, default=0)
        for index in range(self.checked_index + 1, top + 1):
            if index not in applied:
                continue  # covered by a snapshot install: the entry never passed through Apply
            entry = applied[index][1]
            if entry.kind is not EntryKind.NORMAL:
                continue
            assert entry.data in self.proposals, (
                f"index {index} holds {decode_command(entry.data)}, never proposed"
            )
            first = self.committed_data.setdefault(entry.data, index)
            assert first == index, f"proposal committed twice, at {first} and {index}"
        self.checked_index = top
