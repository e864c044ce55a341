"""``IncrementalObserver`` gives the same verdicts as the full ``Observer``, step by step.

The simulator checks the spec invariants after every tick with
``IncrementalObserver``, which skips the work whose inputs did not change.
Here both observers are fed the same calls from random simulations (a tee in
place of the cluster's observer), and at every check each of them must pass
or fail alike, with the same message. At every check we also inject
violations into copies of the snapshot (a second leader, a rewritten entry,
a shrunk leader log, a false commit, ...) and feed them to forks of both
observers: each fork must reach the same verdict, and the injections must
actually be caught often, so the skipping paths are tested against states
that break the invariants. Finally the known Raft bugs, run through the tee,
must fail both observers identically.
"""

from __future__ import annotations

import copy
import dataclasses
import random
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from harness.sim.cluster import NodeFailed
from harness.sim.options import SimOptions
from harness.sim.simulator import Simulator
from impl.raft.config import RaftConfig
from impl.raft.types import Entry, Index, NodeId, Role, Term
from spec.invariants import IncrementalObserver, Observer
from spec.snapshot import ClusterSnapshot, NodeSnapshot
from tests.known_bugs.buggy_nodes import (
    VotesBeforePersisting,
    VotesWithoutLogCheck,
)

Mutator = Callable[[ClusterSnapshot, Observer, random.Random], ClusterSnapshot | None]


def _outcome(call: Callable[[], object]) -> tuple[str, str] | None:
    try:
        call()
    except AssertionError as error:
        return type(error).__name__, str(error)
    return None


def _raised(call: Callable[[], object]) -> AssertionError | None:
    try:
        call()
    except AssertionError as error:
        return error
    return None


def _fork(observer: Observer) -> Observer:
    """A copy that can be fed a what-if snapshot without touching the original."""
    twin = copy.copy(observer)
    for cls in type(observer).__mro__:
        for name in getattr(cls, "__slots__", ()):
            value = getattr(observer, name)
            if isinstance(value, (dict, list, set)):
                setattr(twin, name, copy.copy(value))
    return twin


def _replace(snapshot: ClusterSnapshot, position: int, node: NodeSnapshot) -> ClusterSnapshot:
    nodes = list(snapshot.nodes)
    nodes[position] = node
    return ClusterSnapshot(nodes=tuple(nodes))


def _pick(snapshot: ClusterSnapshot, rng: random.Random, want: Callable[[NodeSnapshot], bool]):
    choices = [i for i, node in enumerate(snapshot.nodes) if want(node)]
    return rng.choice(choices) if choices else None


def second_leader(snapshot: ClusterSnapshot, observer: Observer, rng: random.Random):
    """A follower claims to lead a term someone else led (now or earlier in the run)."""
    position = _pick(snapshot, rng, lambda n: n.role is not Role.LEADER)
    if position is None or not observer.leaders_by_term:
        return None
    node = snapshot.nodes[position]
    term = rng.choice(sorted(observer.leaders_by_term))
    changed = dataclasses.replace(node, role=Role.LEADER, term=Term(term))
    return _replace(snapshot, position, changed)


def rewrite_entry(snapshot: ClusterSnapshot, observer: Observer, rng: random.Random):
    """One held entry gets other data under the same index and term."""
    position = _pick(snapshot, rng, lambda n: bool(n.entries))
    if position is None:
        return None
    node = snapshot.nodes[position]
    at = rng.randrange(len(node.entries))
    old = node.entries[at]
    entries = list(node.entries)
    entries[at] = dataclasses.replace(old, data=b"injected")
    return _replace(snapshot, position, dataclasses.replace(node, entries=tuple(entries)))


def retag_entry(snapshot: ClusterSnapshot, observer: Observer, rng: random.Random):
    """One held entry gets another term (and so is another entry)."""
    position = _pick(snapshot, rng, lambda n: bool(n.entries))
    if position is None:
        return None
    node = snapshot.nodes[position]
    at = rng.randrange(len(node.entries))
    old = node.entries[at]
    entries = list(node.entries)
    entries[at] = dataclasses.replace(old, term=Term(old.term + rng.choice([-1, 1])))
    return _replace(snapshot, position, dataclasses.replace(node, entries=tuple(entries)))


def shrink_leader(snapshot: ClusterSnapshot, observer: Observer, rng: random.Random):
    """A leader loses the tail of its log."""
    position = _pick(snapshot, rng, lambda n: n.role is Role.LEADER and bool(n.entries))
    if position is None:
        return None
    node = snapshot.nodes[position]
    keep = rng.randrange(len(node.entries))
    return _replace(snapshot, position, dataclasses.replace(node, entries=node.entries[:keep]))


def append_foreign(snapshot: ClusterSnapshot, observer: Observer, rng: random.Random):
    """A node appends an entry nobody else has, at an index others may hold."""
    position = _pick(snapshot, rng, lambda n: True)
    if position is None:
        return None
    node = snapshot.nodes[position]
    cut = rng.randint(0, len(node.entries))
    index = Index(node.snapshot_index + cut + 1)
    entry = Entry(index=index, term=node.term, data=b"foreign")
    changed = dataclasses.replace(node, entries=(*node.entries[:cut], entry))
    return _replace(snapshot, position, changed)


def leader_overwrites(snapshot: ClusterSnapshot, observer: Observer, rng: random.Random):
    """A leader replaces the tail of its log, committed entries included, with one of its own."""
    position = _pick(snapshot, rng, lambda n: n.role is Role.LEADER and bool(n.entries))
    if position is None:
        return None
    node = snapshot.nodes[position]
    cut = rng.randrange(len(node.entries))
    entry = Entry(index=node.entries[cut].index, term=node.term, data=b"overwrite")
    changed = dataclasses.replace(node, entries=(*node.entries[:cut], entry))
    return _replace(snapshot, position, changed)


def divergent_commit(snapshot: ClusterSnapshot, observer: Observer, rng: random.Random):
    """A follower of an older term commits its own entry where the leader holds another.

    The leader's snapshot stays the same object, so the incremental observer
    must find the violation through the committed record that changed.
    """
    leaders = [n for n in snapshot.nodes if n.role is Role.LEADER and n.term >= 2]
    if not leaders:
        return None
    leader = leaders[0]
    index = observer.committed_index_max + 1
    held = leader.entry_at(index)
    position = _pick(
        snapshot,
        rng,
        lambda n: n.role is not Role.LEADER and n.snapshot_index < index <= n.last_index + 1,
    )
    if held is None or position is None:
        return None
    node = snapshot.nodes[position]
    term = Term(held.term - 1 if held.term > 1 else leader.term - 1)
    entry = Entry(index=Index(index), term=term, data=b"divergent")
    kept = node.entries[: index - node.snapshot_index - 1]
    changed = dataclasses.replace(
        node, entries=(*kept, entry), commit_index=Index(index), term=Term(leader.term - 1)
    )
    return _replace(snapshot, position, changed)


def false_commit(snapshot: ClusterSnapshot, observer: Observer, rng: random.Random):
    """A node claims its whole log is committed, possibly with a lower term than it has."""
    position = _pick(snapshot, rng, lambda n: n.commit_index < n.last_index)
    if position is None:
        return None
    node = snapshot.nodes[position]
    term = node.term if rng.random() < 0.5 else Term(max(0, node.term - rng.randint(1, 3)))
    changed = dataclasses.replace(node, commit_index=Index(node.last_index), term=term)
    return _replace(snapshot, position, changed)


MUTATORS: tuple[Mutator, ...] = (
    second_leader,
    rewrite_entry,
    retag_entry,
    shrink_leader,
    append_foreign,
    leader_overwrites,
    divergent_commit,
    false_commit,
)


class Tee:
    """Stands in for the cluster's observer: feeds both, and asserts they agree each time."""

    def __init__(self, rng: random.Random, *, inject: bool) -> None:
        self.full = Observer()
        self.incremental = IncrementalObserver()
        self.rng = rng
        self.inject = inject
        self.checks = 0
        self.injected = 0
        self.caught: dict[str, int] = {}
        self.violations: list[str] = []

    @property
    def applied(self) -> dict[int, tuple[NodeId, Entry]]:
        return self.full.applied

    def _both(self, name: str, *args: Any) -> None:
        full = _raised(lambda: getattr(self.full, name)(*args))
        incremental = _raised(lambda: getattr(self.incremental, name)(*args))
        said = [None if e is None else (type(e).__name__, str(e)) for e in (full, incremental)]
        assert said[0] == said[1], f"{name}: full says {said[0]}, incremental says {said[1]}"
        if full is not None:
            self.violations.append(str(full))
            raise full  # for the simulator to classify, as without the tee

    def observe_role(self, node_id: NodeId, role: Role, term: int) -> None:
        self._both("observe_role", node_id, role, term)

    def observe_vote(self, voter: NodeId, term: int, candidate: NodeId) -> None:
        self._both("observe_vote", voter, term, candidate)

    def observe_applied(self, node_id: NodeId, entries: Iterable[Entry], term: int) -> None:
        self._both("observe_applied", node_id, tuple(entries), term)

    def observe_snapshot(self, snapshot: ClusterSnapshot) -> None:
        self.checks += 1
        if self.inject:
            for mutate in MUTATORS:
                self._try(mutate, snapshot)
        self._both("observe_snapshot", snapshot)

    def _try(self, mutate: Mutator, snapshot: ClusterSnapshot) -> None:
        mutated = mutate(snapshot, self.full, self.rng)
        if mutated is None:
            return
        self.injected += 1
        full, incremental = _fork(self.full), _fork(self.incremental)
        seen_full = _outcome(lambda: full.observe_snapshot(mutated))
        seen_incremental = _outcome(lambda: incremental.observe_snapshot(mutated))
        assert seen_full == seen_incremental, (
            f"{mutate.__name__}: full says {seen_full}, incremental says {seen_incremental}"
        )
        if seen_full is not None:
            prop = seen_full[1].split(":")[0]
            self.caught[prop] = self.caught.get(prop, 0) + 1


def _simulate(seed: int, nodes: int, ticks: int, tee: Tee, **kwargs: Any) -> Simulator:
    rng = random.Random(seed)
    options = SimOptions.swarm(rng, nodes=nodes, ticks=ticks)
    options = dataclasses.replace(options, liveness_ticks=50, **kwargs)
    simulator = Simulator(options, rng)
    simulator.cluster.observer = tee  # type: ignore[assignment]
    return simulator


@pytest.mark.parametrize(("nodes", "seeds"), [(3, range(1, 9)), (5, range(9, 17))])
def test_incremental_and_full_observers_agree_on_random_runs(nodes: int, seeds: range) -> None:
    """Healthy runs: both pass every check; injected violations: both fail alike."""
    caught: dict[str, int] = {}
    injected = 0
    for seed in seeds:
        tee = Tee(random.Random(seed * 7919), inject=True)
        simulator = _simulate(seed, nodes, 200, tee)
        simulator.run()
        assert tee.checks > 100
        assert tee.full.committed == tee.incremental.committed
        assert tee.full.leaders_by_term == tee.incremental.leaders_by_term
        injected += tee.injected
        for prop, count in tee.caught.items():
            caught[prop] = caught.get(prop, 0) + count
    # The injections must exercise every property the incremental observer skips work for.
    for prop in ("election_safety", "log_matching", "leader_completeness", "leader_append_only"):
        assert caught.get(prop, 0) >= 20, (
            f"{prop} caught only {caught.get(prop, 0)} times: {caught}"
        )
    assert sum(caught.values()) > injected // 4, (injected, caught)


FAST_ELECTIONS = RaftConfig(
    election_timeout_ticks_min=3, election_timeout_ticks_max=5, heartbeat_interval_ticks=1
)
CRASH_WHILE_VOTING = {
    "crash_probability": 0.05,
    "crash_during_writes": True,
    "restart_ticks_max": 3,
    "disk_delay_us_max": 3000,
    "delay_us_max": 12000,
    "membership_probability": 0.0,
    "partition_probability": 0.0,
}


@pytest.mark.parametrize(
    ("factory", "nodes", "raft_config", "options"),
    [
        (VotesWithoutLogCheck, 3, None, {}),
        (VotesBeforePersisting, 5, FAST_ELECTIONS, CRASH_WHILE_VOTING),
    ],
)
def test_both_observers_fail_alike_on_known_bugs(
    factory: type, nodes: int, raft_config: RaftConfig | None, options: dict[str, Any]
) -> None:
    """Real violations from broken nodes: both observers raise the same, at the same call.

    (The Figure 8 and ReadIndex bugs show up in the history, not in these
    invariants, so they are left to tests/known_bugs.)
    """
    found = []
    for seed in range(1, 41):
        rng = random.Random(seed)
        swarm = dataclasses.replace(SimOptions.swarm(rng, nodes=nodes, ticks=300), **options)
        simulator = Simulator(swarm, rng, node_factory=factory, raft_config=raft_config)
        tee = Tee(random.Random(seed), inject=False)
        simulator.cluster.observer = tee  # type: ignore[assignment]
        try:
            simulator.run()
        except AssertionError as error:
            assert "full says" not in str(error), error
        except NodeFailed:
            pass  # an assert inside node code: not the observers' business
        found += tee.violations
    assert found, f"{factory.__name__}: no invariant violation in 40 seeds"


def _node(name: str, terms: list[int], *, term: int, commit: int, leader: bool = False):
    entries = tuple(Entry(index=Index(i + 1), term=Term(t)) for i, t in enumerate(terms))
    return NodeSnapshot(
        id=NodeId(name),
        term=Term(term),
        role=Role.LEADER if leader else Role.FOLLOWER,
        voted_for=None,
        commit_index=Index(commit),
        applied_index=Index(commit),
        snapshot_index=Index(0),
        snapshot_term=Term(0),
        entries=entries,
    )


def test_a_commit_known_by_a_lower_term_rechecks_an_unchanged_leader() -> None:
    """A stale leader lacks an entry committed in a later term: no violation, until a node
    of an older term reports that entry committed; the leader's snapshot is the same object,
    so only the lowered committed record can make the incremental observer look again."""
    stale_leader = _node("a", [1, 2], term=2, commit=1, leader=True)
    newer = _node("b", [1, 3], term=3, commit=2)
    first = ClusterSnapshot(nodes=(stale_leader, newer))
    older = _node("c", [1, 3], term=1, commit=2)
    second = ClusterSnapshot(nodes=(stale_leader, newer, older))
    verdicts = []
    for observer in (Observer(), IncrementalObserver()):
        observer.observe_snapshot(first)
        verdicts.append(_outcome(lambda observer=observer: observer.observe_snapshot(second)))
    assert verdicts[0] is not None and verdicts[0][1].startswith("leader_completeness")
    assert verdicts[0] == verdicts[1]


def test_a_commit_learned_between_identical_snapshots_is_checked() -> None:
    """The same snapshot object twice, but an applied entry lowered a committed record's
    term in between: the leader must be checked again, as the full observer does."""
    stale_leader = _node("a", [1, 2], term=2, commit=1, leader=True)
    newer = _node("b", [1, 3], term=3, commit=2)
    snapshot = ClusterSnapshot(nodes=(stale_leader, newer))
    verdicts = []
    for observer in (Observer(), IncrementalObserver()):
        observer.observe_snapshot(snapshot)
        observer.observe_applied(NodeId("c"), newer.entries, 1)
        verdicts.append(_outcome(lambda observer=observer: observer.observe_snapshot(snapshot)))
    assert verdicts[0] is not None and verdicts[0][1].startswith("leader_completeness")
    assert verdicts[0] == verdicts[1]


def test_the_simulator_checks_every_tick_with_the_incremental_observer() -> None:
    """The rule stays: every tick runs the spec invariants (here, through IncrementalObserver)."""
    rng = random.Random(3)
    simulator = Simulator(SimOptions.swarm(rng, nodes=5, ticks=100), rng)
    observer = simulator.cluster.observer
    assert type(observer) is IncrementalObserver
    simulator.run()
    assert observer.snapshots_seen == simulator.tick_count + 1  # plus the final check


@pytest.mark.parametrize("position", [0, 1, 2])
def test_a_leader_that_rewrote_an_entry_is_checked_in_full(position: int) -> None:
    """Same term, same length, one committed entry replaced: not "only appended", so the
    incremental observer must look at every index, and report leader_completeness first."""
    leader = _node("a", [1, 2, 3], term=3, commit=1, leader=True)
    follower = _node("b", [1, 2, 3], term=2, commit=3)  # commits 1..3, known by term 2
    first = ClusterSnapshot(nodes=(leader, follower))
    rewritten = list(leader.entries)
    rewritten[position] = dataclasses.replace(rewritten[position], data=b"rewritten")
    second = ClusterSnapshot(nodes=(dataclasses.replace(leader, entries=tuple(rewritten)),))
    verdicts = []
    for observer in (Observer(), IncrementalObserver()):
        observer.observe_snapshot(first)
        verdicts.append(_outcome(lambda observer=observer: observer.observe_snapshot(second)))
    assert verdicts[0] is not None and verdicts[0][1].startswith("leader_completeness")
    assert verdicts[0] == verdicts[1]


def _verdicts(*snapshots: ClusterSnapshot) -> list[tuple[str, str] | None]:
    """Feed the snapshots to both observers; the outcome of the last one for each."""
    verdicts = []
    for observer in (Observer(), IncrementalObserver()):
        for snapshot in snapshots[:-1]:
            observer.observe_snapshot(snapshot)
        verdicts.append(
            _outcome(lambda observer=observer: observer.observe_snapshot(snapshots[-1]))
        )
    return verdicts


def test_a_restarted_node_that_reports_commits_again_under_a_lower_term_is_heard() -> None:
    """A node whose commit index went back (restart) is rescanned with its new, lower term,
    which may lower a committed record's term below a stale leader's."""
    stale_leader = _node("a", [1, 2], term=2, commit=1, leader=True)
    newer = _node("b", [1, 3, 3], term=3, commit=3)
    restarted = _node("b", [1, 3, 3], term=1, commit=2)
    full, incremental = _verdicts(
        ClusterSnapshot(nodes=(stale_leader, newer)),
        ClusterSnapshot(nodes=(stale_leader, restarted)),
    )
    assert full is not None and full[1].startswith("leader_completeness")
    assert full == incremental


def test_empty_logs_are_told_apart_by_their_snapshot_point() -> None:
    """Every empty entries tuple is the same object, so ``is`` alone cannot tell two empty
    logs apart: a leader whose snapshot point moved back must be checked again."""
    follower = _node("b", [1, 2, 2], term=2, commit=3)  # commits 1..3 by term 2
    leader = dataclasses.replace(
        _node("a", [], term=3, commit=3, leader=True),
        snapshot_index=Index(3),
        snapshot_term=Term(2),
    )
    moved_back = dataclasses.replace(leader, snapshot_index=Index(1))
    full, incremental = _verdicts(
        ClusterSnapshot(nodes=(leader, follower)), ClusterSnapshot(nodes=(moved_back,))
    )
    assert full is not None and full[1].startswith("leader_completeness")
    assert full == incremental
