"""Pure majority-quorum arithmetic (etcd's ``quorum`` package, majority only).

Theory of operation: a quorum is any majority of the voters of one
configuration (Raft §5.2; single-server changes, thesis §4.1, guarantee two
consecutive configurations' majorities overlap, so joint consensus is never
needed). Everything here is a pure function of the voter set and a mapping,
so the table tests can compare it with a naive brute-force version.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Mapping

from impl.raft.types import Index, NodeId


class VoteResult(enum.Enum):
    PENDING = "pending"
    WON = "won"
    LOST = "lost"


def majority(voter_count: int) -> int:
    """The smallest number of voters that forms a quorum."""
    return voter_count // 2 + 1


def committed_index(voters: Collection[NodeId], match_index: Callable[[NodeId], int]) -> Index:
    """The highest index acknowledged by a majority of ``voters`` (0 with no voters).

    ``quorum_value`` of the voters' match indexes, which says why that is a majority.
    """
    return quorum_value([match_index(v) for v in voters])


def quorum_value(values: list[int]) -> Index:
    """The highest value at least a majority of ``values`` reach (0 for none); sorts ``values``.

    Ascending, the value at position ``(len - 1) // 2`` is reached by itself and every
    value after it: ``len - (len - 1) // 2`` of them, a majority. The leader calls this
    with its voters' match indexes on every acknowledgement, so it takes a list it may
    sort in place rather than a lookup per voter.
    """
    if not values:
        return Index(0)
    values.sort()
    return Index(values[(len(values) - 1) // 2])


def vote_result(voters: Collection[NodeId], votes: Mapping[NodeId, bool]) -> VoteResult:
    """WON once a majority granted, LOST once a majority is out of reach, else PENDING."""
    granted = rejected = 0
    for voter in voters:
        vote = votes.get(voter)
        if vote is True:
            granted += 1
        elif vote is False:
            rejected += 1
    need = majority(len(voters))
    if granted >= need:
        return VoteResult.WON
    if len(voters) - rejected < need:
        return VoteResult.LOST
    return VoteResult.PENDING


def has_quorum(voters: Collection[NodeId], present: Callable[[NodeId], bool]) -> bool:
    """True when a majority of ``voters`` satisfy ``present`` (CheckQuorum, thesis §6.2)."""
    if not voters:
        return False
    return sum(1 for v in voters if present(v)) >= majority(len(voters))
