"""Each spec invariant accepts a healthy cluster and rejects a hand-built violation of its property."""

from __future__ import annotations

import dataclasses

import pytest

from impl.raft.types import Entry, EntryKind, Index, NodeId, Role, Term
from spec.invariants import (
    CommittedEntry,
    InvariantViolation,
    Observer,
    election_safety,
    leader_append_only,
    leader_completeness,
    log_matching,
    one_vote_per_term,
    state_machine_safety,
)
from spec.snapshot import ClusterSnapshot, NodeSnapshot


def entry(index: int, term: int, data: bytes = b"") -> Entry:
    return Entry(index=Index(index), term=Term(term), kind=EntryKind.NORMAL, data=data)


def node(
    name: str,
    terms: list[int],
    *,
    role: Role = Role.FOLLOWER,
    term: int | None = None,
    commit: int = 0,
    snapshot_index: int = 0,
    snapshot_term: int = 0,
) -> NodeSnapshot:
    entries = tuple(entry(snapshot_index + 1 + i, t, f"{t}".encode()) for i, t in enumerate(terms))
    return NodeSnapshot(
        id=NodeId(name),
        term=Term(term if term is not None else max(terms, default=0)),
        role=role,
        voted_for=None,
        commit_index=Index(commit),
        applied_index=Index(commit),
        snapshot_index=Index(snapshot_index),
        snapshot_term=Term(snapshot_term),
        entries=entries,
    )


def cluster(*nodes: NodeSnapshot) -> ClusterSnapshot:
    return ClusterSnapshot(nodes=nodes)


def test_election_safety_rejects_two_leaders_in_one_term() -> None:
    """Raft §5.2: at most one leader can be elected in a given term."""
    assert election_safety(cluster(node("a", [1], role=Role.LEADER), node("b", [1], term=2)))
    with pytest.raises(InvariantViolation, match="election_safety"):
        election_safety(cluster(node("a", [1], role=Role.LEADER), node("b", [1], role=Role.LEADER)))


def test_observer_rejects_two_leaders_of_one_term_at_different_instants() -> None:
    """A snapshot shows one instant, so the Observer remembers the leader of every term."""
    observer = Observer()
    observer.observe_role(NodeId("a"), Role.LEADER, 3)
    observer.observe_role(NodeId("a"), Role.FOLLOWER, 4)
    with pytest.raises(InvariantViolation, match="both leader in term 3"):
        observer.observe_role(NodeId("b"), Role.LEADER, 3)


def test_log_matching_rejects_same_index_and_term_with_different_prefixes() -> None:
    """Raft §5.3: logs that agree on (index, term) agree on everything before it."""
    assert log_matching(cluster(node("a", [1, 1, 2]), node("b", [1, 1, 3]), node("c", [1])))
    same_top = node("b", [1, 1, 2])
    bad_prefix = dataclasses.replace(same_top, entries=(entry(1, 1, b"x"), *same_top.entries[1:]))
    with pytest.raises(InvariantViolation, match="log_matching"):
        log_matching(cluster(node("a", [1, 1, 2]), bad_prefix))


def test_log_matching_skips_entries_compacted_into_a_snapshot() -> None:
    """Entries a node no longer holds are not compared (Rule 3: no false alarms)."""
    assert log_matching(
        cluster(node("a", [2, 2], snapshot_index=3, snapshot_term=1), node("b", [1, 1, 1, 2, 2]))
    )


def test_leader_append_only_rejects_a_leader_that_rewrites_its_log() -> None:
    """Raft §5.3: a leader never overwrites or deletes entries in its log."""
    before = cluster(node("a", [1, 2], role=Role.LEADER))
    assert leader_append_only(before, cluster(node("a", [1, 2, 2], role=Role.LEADER)))
    with pytest.raises(InvariantViolation, match="shrank"):
        leader_append_only(before, cluster(node("a", [1], role=Role.LEADER, term=2)))
    with pytest.raises(InvariantViolation, match="replaced"):
        leader_append_only(
            cluster(node("a", [1, 1], role=Role.LEADER, term=2)),
            cluster(node("a", [1, 2], role=Role.LEADER, term=2)),
        )


def test_leader_completeness_rejects_a_later_leader_missing_a_committed_entry() -> None:
    """Raft §5.4: an entry committed in a term is in the log of every leader of a higher term."""
    committed = {2: CommittedEntry(entry=entry(2, 1, b"1"), known_in_term=1)}
    assert leader_completeness(cluster(node("a", [1, 1, 2], role=Role.LEADER)), committed)
    with pytest.raises(InvariantViolation, match="leader_completeness"):
        leader_completeness(cluster(node("b", [1, 3], role=Role.LEADER)), committed)
    # A stale leader of the same (or an older) term may lack it without violating the property.
    assert leader_completeness(cluster(node("c", [1], role=Role.LEADER, term=1)), committed)


def test_state_machine_safety_rejects_two_entries_applied_at_one_index() -> None:
    """Raft §5.4.3: no two servers apply different entries at the same index."""
    assert state_machine_safety({NodeId("a"): [entry(1, 1)], NodeId("b"): [entry(1, 1)]})
    with pytest.raises(InvariantViolation, match="state_machine_safety"):
        state_machine_safety({NodeId("a"): [entry(1, 1)], NodeId("b"): [entry(1, 2)]})
    observer = Observer()
    observer.observe_applied(NodeId("a"), [entry(1, 1)], 1)
    with pytest.raises(InvariantViolation, match="state_machine_safety"):
        observer.observe_applied(NodeId("b"), [entry(1, 2)], 2)


def test_one_vote_per_term_rejects_a_voter_that_votes_twice() -> None:
    """Raft §5.2: each server votes for at most one candidate in a given term."""
    a, b, c = NodeId("a"), NodeId("b"), NodeId("c")
    assert one_vote_per_term([(a, 1, b), (a, 1, b), (a, 2, c)])
    with pytest.raises(InvariantViolation, match="one_vote_per_term"):
        one_vote_per_term([(a, 1, b), (a, 1, c)])
