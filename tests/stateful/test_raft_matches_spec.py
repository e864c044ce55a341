"""Hypothesis drives a cluster of real RaftNodes through any interleaving; the spec must hold.

The rules live in harness/sim/hypothesis_machine.py (the benchmark runs them
too): deliver, drop or duplicate any message, tick, finish or lose disk
writes, crash and restart, partition and heal, propose, read, change
membership, compact, transfer leadership; this file adds batched proposals
(``ProposeBatch``). The invariants are Raft Figure 3
from spec/invariants.py plus "the committed log is a sequence of distinct
proposals".
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from harness.sim.hypothesis_machine import RaftClusterMachine
from impl.raft.events import Propose, ProposeBatch
from impl.statemachine import Command, encode_command


class RaftClusterMatchesSpec(RaftClusterMachine):
    """Any interleaving of network, disk, crash and client inputs keeps Raft's safety properties."""

    @precondition(lambda self: self.cluster.live)
    @rule(data=st.data(), count=st.integers(min_value=1, max_value=5))
    def client_proposes_a_batch(self, data: st.DataObject, count: int) -> None:
        """Several proposals in one step (the runtime's ``ProposeBatch``), to any live node."""
        target = self._leader() or data.draw(st.sampled_from(self.cluster.live), label="to")
        proposals = []
        for _ in range(count):
            self.value += 1
            op = {"f": "write", "key": "k", "value": self.value}
            payload = encode_command(Command(service="kv", op=op, stamp_ms=0))
            self.proposals.add(payload)
            proposals.append(Propose(request_id=self.cluster.next_request_id(), data=payload))
        self.cluster.step(target, ProposeBatch(proposals=tuple(proposals)))


RaftClusterMatchesSpec.TestCase.settings = settings(
    RaftClusterMatchesSpec.TestCase.settings, stateful_step_count=60
)
TestRaftClusterMatchesSpec = RaftClusterMatchesSpec.TestCase
