"""The simulator must find the classic Raft bugs the paper warns about.

Each test plugs a deliberately broken RaftNode (tests/known_bugs/buggy_nodes.py)
into the seeded simulator, searches seeds with fault options aimed at the
bug, and asserts that a CORRECTNESS failure is found within the CI budget.
It then replays the same seed with the real RaftNode and asserts it passes,
so the failure is the bug's and not the simulator's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from harness.sim.options import SimOptions
from harness.sim.simulator import Failure, SimResult, run_seed
from impl.raft.config import RaftConfig
from impl.raft.node import RaftNode

from .buggy_nodes import (
    CommitsEarlierTermsByCounting,
    ReadsWithoutReadIndex,
    VotesBeforePersisting,
    VotesWithoutLogCheck,
)

# Short election timeouts: more elections, more competing candidates per run.
FAST_ELECTIONS = RaftConfig(
    election_timeout_ticks_min=3, election_timeout_ticks_max=5, heartbeat_interval_ticks=1
)
SEEDS_MAX = 80


def _quiet(_line: str) -> None:
    pass


def _hunt(
    factory: type[RaftNode],
    *,
    nodes: int,
    raft_config: RaftConfig | None = None,
    options: Callable[[SimOptions], SimOptions] | None = None,
) -> SimResult:
    """Run seeds 1..SEEDS_MAX until one fails; assert it is a safety violation the real node avoids."""
    kwargs = {"nodes": nodes, "ticks": 400, "raft_config": raft_config, "options_override": options}
    for seed in range(1, SEEDS_MAX + 1):
        result = run_seed(seed, node_factory=factory, out=_quiet, **kwargs)
        if result.failure is not Failure.NONE:
            break
    else:
        raise AssertionError(f"{factory.__name__}: no violation in seeds 1..{SEEDS_MAX}")
    assert result.failure is Failure.CORRECTNESS, f"seed {seed}: {result.failure}: {result.reason}"
    control = run_seed(seed, out=_quiet, **kwargs)
    assert control.failure is Failure.NONE, f"real RaftNode fails seed {seed}: {control.reason}"
    return result


def _many_leader_changes(options: SimOptions) -> SimOptions:
    return dataclasses.replace(
        options,
        crash_probability=0.03,
        restart_ticks_max=10,
        disk_delay_us_max=3000,
        membership_probability=0.0,
        compact_every=0,
    )


def test_simulator_finds_figure_8_commit_of_an_earlier_term_by_counting_replicas() -> None:
    """Raft §5.4.2: only entries of the leader's own term may be committed by counting replicas.

    One entry per AppendEntries lets an old-term entry reach a majority before
    the new leader's no-op does. Besides the lost commit of Figure 8, the
    broken rule also lets a fresh leader answer ReadIndex before it has
    committed an entry of its own term (thesis §6.4), so the violation may be
    found as a stale read; either way the run must fail as CORRECTNESS.
    """
    config = dataclasses.replace(FAST_ELECTIONS, max_entries_per_append=1)
    _hunt(
        CommitsEarlierTermsByCounting,
        nodes=3,
        raft_config=config,
        options=_many_leader_changes,
    )


def test_simulator_finds_votes_granted_without_the_log_up_to_date_check() -> None:
    """Raft §5.4.1: a voter with a more up-to-date log must deny its vote."""
    result = _hunt(VotesWithoutLogCheck, nodes=3)
    # A leader elected without the committed entries loses them: the invariants or the
    # linearizability checker must say so (not just "some failure").
    symptoms = ("leader_completeness", "state_machine_safety", "log_matching", "not linearizable")
    assert any(symptom in result.reason for symptom in symptoms), result.reason


def _crash_while_voting(options: SimOptions) -> SimOptions:
    return dataclasses.replace(
        options,
        crash_probability=0.05,
        crash_during_writes=True,
        restart_ticks_max=3,
        disk_delay_us_max=3000,
        delay_us_max=12000,
        membership_probability=0.0,
        partition_probability=0.0,
    )


def test_simulator_finds_a_vote_sent_before_it_is_durable() -> None:
    """Raft Figure 2: a vote must be on stable storage before the reply, or a crash forgets it."""
    result = _hunt(
        VotesBeforePersisting, nodes=5, raft_config=FAST_ELECTIONS, options=_crash_while_voting
    )
    assert "one_vote_per_term" in result.reason or "election_safety" in result.reason


def test_linearizability_checker_finds_stale_reads_served_without_read_index() -> None:
    """Thesis §6.4: a leader that serves reads from its commit index alone can return stale data."""
    result = _hunt(ReadsWithoutReadIndex, nodes=3)
    assert "not linearizable" in result.reason
