"""Hypothesis drives a cluster of real RaftNodes through any interleaving; the spec must hold.

The rules live in harness/sim/hypothesis_machine.py (the benchmark runs them
too): deliver, drop or duplicate any message, tick, finish or lose disk
writes, crash and restart, partition and heal, propose, read, change
membership, compact, transfer leadership. The invariants are Raft Figure 3
from spec/invariants.py plus "the committed log is a sequence of distinct
proposals".
"""

from __future__ import annotations

from hypothesis import settings

from harness.sim.hypothesis_machine import RaftClusterMachine


class RaftClusterMatchesSpec(RaftClusterMachine):
    """Any interleaving of network, disk, crash and client inputs keeps Raft's safety properties."""


RaftClusterMatchesSpec.TestCase.settings = settings(
    RaftClusterMatchesSpec.TestCase.settings, stateful_step_count=60
)
TestRaftClusterMatchesSpec = RaftClusterMatchesSpec.TestCase
