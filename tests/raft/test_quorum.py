"""Quorum arithmetic: table tests plus comparison with brute-force versions (etcd quick_test)."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from impl.raft.quorum import (
    VoteResult,
    committed_index,
    has_quorum,
    majority,
    quorum_value,
    vote_result,
)
from impl.raft.types import NodeId

VOTERS = [NodeId(f"n{i}") for i in range(1, 8)]


def naive_committed_index(voters: list[NodeId], match: dict[NodeId, int]) -> int:
    """The largest index that at least a majority of voters have reached, by trying them all."""
    best = 0
    for candidate in {match.get(v, 0) for v in voters}:
        if sum(1 for v in voters if match.get(v, 0) >= candidate) * 2 > len(voters):
            best = max(best, candidate)
    return best


def naive_vote_result(voters: list[NodeId], votes: dict[NodeId, bool]) -> VoteResult:
    granted = sum(1 for v in voters if votes.get(v) is True)
    undecided = sum(1 for v in voters if v not in votes)
    if granted * 2 > len(voters):
        return VoteResult.WON
    if (granted + undecided) * 2 > len(voters):
        return VoteResult.PENDING
    return VoteResult.LOST


def match_lookup(match: dict[NodeId, int]) -> Callable[[NodeId], int]:
    return lambda voter: match.get(voter, 0)


def test_majority_table() -> None:
    """A majority is strictly more than half."""
    assert [majority(n) for n in range(1, 8)] == [1, 2, 2, 3, 3, 4, 4]


def test_committed_index_table() -> None:
    """The commit point is the highest index a majority holds; absent voters count as 0."""
    n1, n2, n3, n4 = VOTERS[:4]
    cases = [
        ([n1], {n1: 7}, 7),
        ([n1, n2, n3], {n1: 5, n2: 3, n3: 1}, 3),
        ([n1, n2, n3], {n1: 5, n2: 5, n3: 1}, 5),
        ([n1, n2, n3], {n1: 5}, 0),
        ([n1, n2, n3, n4], {n1: 4, n2: 3, n3: 2, n4: 1}, 2),
        ([n1, n2, n3, n4], {n1: 4, n2: 4, n3: 4, n4: 1}, 4),
        ([], {n1: 9}, 0),
    ]
    for voters, match, expected in cases:
        assert committed_index(voters, match_lookup(match)) == expected, (voters, match)


@given(
    st.lists(st.sampled_from(VOTERS), min_size=1, max_size=7, unique=True),
    st.dictionaries(st.sampled_from(VOTERS), st.integers(0, 20)),
)
def test_committed_index_matches_naive(voters: list[NodeId], match: dict[NodeId, int]) -> None:
    """The sort-based commit index equals the brute-force majority search."""
    assert committed_index(voters, lambda v: match.get(v, 0)) == naive_committed_index(
        voters, match
    )


@given(st.lists(st.integers(0, 20), max_size=7))
def test_quorum_value_matches_naive(values: list[int]) -> None:
    """The list form the leader's commit rule uses equals the brute-force majority search."""
    voters = VOTERS[: len(values)]
    assert quorum_value(list(values)) == naive_committed_index(
        voters, dict(zip(voters, values, strict=True))
    )


@given(
    st.lists(st.sampled_from(VOTERS), min_size=1, max_size=7, unique=True),
    st.dictionaries(st.sampled_from(VOTERS), st.booleans()),
)
def test_vote_result_matches_naive(voters: list[NodeId], votes: dict[NodeId, bool]) -> None:
    """Counting votes (ignoring non-voters) agrees with the brute-force definition."""
    assert vote_result(voters, votes) == naive_vote_result(voters, votes)


def test_vote_result_ignores_non_voters() -> None:
    """Votes of learners or strangers never decide an election (Raft §5.2: a majority of voters)."""
    n1, n2, n3, n4, n5 = VOTERS[:5]
    assert vote_result([n1, n2, n3], {n1: True, n4: True, n5: True}) is VoteResult.PENDING
    assert vote_result([n1, n2, n3], {n1: True, n2: True}) is VoteResult.WON
    assert vote_result([n1, n2, n3], {n1: True, n2: False, n3: False}) is VoteResult.LOST


def test_has_quorum_table() -> None:
    """CheckQuorum needs a majority of voters active; an empty configuration has none."""
    n1, n2, n3 = VOTERS[:3]
    assert has_quorum([n1, n2, n3], lambda v: v in {n1, n2})
    assert not has_quorum([n1, n2, n3], lambda v: v == n1)
    assert not has_quorum([], lambda v: True)
