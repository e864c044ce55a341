"""``ProposeBatch``: the same as its proposals stepped one by one, with one append per follower."""

from __future__ import annotations

import pytest

from impl.errors import LocalProtocolError
from impl.raft.effects import Accepted, Persist, Rejected, RejectReason
from impl.raft.events import Persisted, Propose, ProposeBatch
from impl.raft.messages import AppendEntries, AppendEntriesResponse
from impl.raft.node import RaftNode
from impl.raft.types import Index, Term

from .helpers import (
    N1,
    N2,
    N3,
    first_send_index,
    make_leader,
    make_node,
    persist_index,
    received,
    sends,
)


def _leader() -> RaftNode:
    """n1 leads term 1 with its NOOP durable and acknowledged by n2 and n3 (window empty)."""
    node = make_node(N1)
    make_leader(node)
    node.step(Persisted(index=Index(1), term=node.term))
    for peer in (N2, N3):
        received(
            node,
            AppendEntriesResponse(
                from_id=peer, to_id=N1, term=node.term, success=True, match_index=Index(1)
            ),
        )
    assert node.commit_index == 1
    return node


def _proposals(count: int) -> tuple[Propose, ...]:
    return tuple(Propose(request_id=100 + i, data=f"cmd{i}".encode()) for i in range(count))


def test_a_batch_appends_and_accepts_like_its_proposals_one_by_one() -> None:
    """Same log, same Accepted replies in the same order, one Persist of all entries."""
    one_by_one, batched = _leader(), _leader()
    proposals = _proposals(40)
    accepted_each = [e for p in proposals for e in one_by_one.step(p) if isinstance(e, Accepted)]
    effects = batched.step(ProposeBatch(proposals=proposals))
    assert [e for e in effects if isinstance(e, Accepted)] == accepted_each
    assert batched.log_entries() == one_by_one.log_entries()
    (persist,) = [e for e in effects if isinstance(e, Persist)]
    assert [e.index for e in persist.entries] == list(range(2, 42))


def test_a_batch_sends_each_follower_one_append_before_its_write() -> None:
    """One AppendEntries per follower carries every entry (Rule 3: listed before the Persist)."""
    node = _leader()
    effects = node.step(ProposeBatch(proposals=_proposals(40)))
    appends = [m for m in sends(effects) if isinstance(m, AppendEntries)]
    assert sorted(m.to_id for m in appends) == [N2, N3]
    assert all([e.index for e in m.entries] == list(range(2, 42)) for m in appends)
    assert first_send_index(effects) < persist_index(effects)
    one_by_one = _leader()
    each = [m for p in _proposals(40) for m in sends(one_by_one.step(p))]
    assert len(each) > len(appends)  # what the batch saves


def test_a_batch_on_a_follower_is_refused_proposal_by_proposal() -> None:
    """Not the leader: every proposal gets its own Rejected, in order, and nothing is appended."""
    node = make_node(N2, term=1)
    effects = node.step(ProposeBatch(proposals=_proposals(3)))
    assert effects == [
        Rejected(request_id=100 + i, reason=RejectReason.NOT_LEADER, leader_hint=None)
        for i in range(3)
    ]
    assert node.log_entries() == ()


def test_a_batch_with_a_bad_proposal_raises_before_anything_changes() -> None:
    """Rule 2 of node.py: caller misuse raises before any state changes."""
    node = _leader()
    before = node.log_entries()
    bad = (*_proposals(2), Propose(request_id=9, data="text"))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="bytes"):
        node.step(ProposeBatch(proposals=bad))
    assert node.log_entries() == before and node.term == Term(1)
