"""Paper sentences about terms, votes, PreVote, CheckQuorum and leader stickiness."""

from __future__ import annotations

from impl.raft.config import RaftConfig
from impl.raft.effects import Persist
from impl.raft.events import Persisted, Tick
from impl.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    RequestVote,
    RequestVoteResponse,
)
from impl.raft.types import ClusterConfig, Entry, Index, Role, Term

from .helpers import (
    N1,
    N2,
    N3,
    N4,
    first_send_index,
    log_of,
    make_leader,
    make_node,
    persist_index,
    received,
    sends,
)
from .pump import Pump, ids


def vote_request(term: int, last_index: int, last_term: int, **flags: bool) -> RequestVote:
    return RequestVote(
        from_id=N2,
        to_id=N1,
        term=Term(term),
        last_log_index=Index(last_index),
        last_log_term=Term(last_term),
        **flags,
    )


def only_vote(effects: list) -> RequestVoteResponse:
    (response,) = [m for m in sends(effects) if isinstance(m, RequestVoteResponse)]
    return response


def test_follower_rejects_append_with_stale_term() -> None:
    """Raft §5.1: "If a server receives a request with a stale term number, it rejects the request"."""
    node = make_node(term=3)
    effects = received(
        node,
        AppendEntries(
            from_id=N2,
            to_id=N1,
            term=Term(2),
            prev_log_index=Index(0),
            prev_log_term=Term(0),
            entries=(Entry(term=Term(2), index=Index(1)),),
            leader_commit=Index(1),
        ),
    )
    (response,) = sends(effects)
    assert isinstance(response, AppendEntriesResponse)
    assert not response.success and response.term == 3
    assert node.last_index == 0 and node.term == 3


def test_higher_term_turns_leader_into_follower() -> None:
    """Raft §5.1: a server that sees a larger term reverts to follower and adopts it."""
    node = make_node(config=RaftConfig(check_quorum=False))
    make_leader(node)
    effects = received(
        node,
        AppendEntriesResponse(from_id=N2, to_id=N1, term=Term(node.term + 5), success=False),
    )
    assert node.role is Role.FOLLOWER and node.term == 6
    assert any(isinstance(e, Persist) and e.hard_state is not None for e in effects)


def test_candidate_with_stale_log_is_denied_vote() -> None:
    """Raft §5.4.1: a voter denies its vote if its own log is more up-to-date than the candidate's."""
    node = make_node(term=2, log=log_of(1, 2))
    assert not only_vote(received(node, vote_request(3, 5, 1))).vote_granted
    assert not only_vote(received(node, vote_request(4, 1, 2))).vote_granted
    assert only_vote(received(node, vote_request(5, 2, 2))).vote_granted


def test_vote_is_persisted_before_reply() -> None:
    """Raft Figure 2: votedFor is on stable storage before the vote leaves the node."""
    node = make_node(term=1)
    effects = received(node, vote_request(2, 0, 0))
    response = only_vote(effects)
    assert response.vote_granted
    position = persist_index(effects)
    persist = effects[position]
    assert isinstance(persist, Persist) and persist.hard_state is not None
    assert (persist.hard_state.term, persist.hard_state.voted_for) == (2, N2)
    assert position < first_send_index(effects)


def test_at_most_one_vote_per_term() -> None:
    """Raft §5.2: each server votes for at most one candidate in a given term."""
    node = make_node(term=1)
    assert only_vote(received(node, vote_request(2, 0, 0))).vote_granted
    other = RequestVote(
        from_id=N3, to_id=N1, term=Term(2), last_log_index=Index(9), last_log_term=Term(1)
    )
    assert not only_vote(received(node, other)).vote_granted
    assert only_vote(received(node, vote_request(2, 0, 0))).vote_granted  # same candidate again


def test_prevote_changes_no_term() -> None:
    """Thesis §9.6: a PreVote is granted without the voter adopting the higher term or voting."""
    node = make_node(term=1)
    response = only_vote(received(node, vote_request(2, 0, 0, pre_vote=True)))
    assert response.vote_granted and response.pre_vote and response.term == 2
    assert node.term == 1 and node.voted_for is None


def test_candidate_persists_term_and_self_vote_before_requesting_votes() -> None:
    """A candidate's term bump and self-vote are durable before any RequestVote leaves."""
    node = make_node(config=RaftConfig(pre_vote=False))
    effects = []
    while node.role is Role.FOLLOWER:
        effects = node.step(Tick())
    requests = [m for m in sends(effects) if isinstance(m, RequestVote)]
    assert {m.to_id for m in requests} == {N2, N3}
    persist = effects[persist_index(effects)]
    assert isinstance(persist, Persist) and persist.hard_state is not None
    assert persist.hard_state.voted_for == N1 and persist.hard_state.term == 1
    assert persist_index(effects) < first_send_index(effects)


def test_prevote_does_not_disrupt_stable_leader() -> None:
    """Thesis §9.6: a partitioned node rejoining cannot depose a leader that still has a quorum."""
    pump = Pump(ids(3), seed=3)
    leader = pump.wait_leader()
    term = pump.nodes[leader].term
    lonely = next(i for i in pump.nodes if i != leader)
    pump.isolate(lonely)
    pump.tick_all(100)
    assert pump.nodes[lonely].term == term  # PreVote never succeeded, so no term inflation
    pump.heal()
    pump.tick_all(60)
    assert pump.leaders() == [leader] and pump.nodes[leader].term == term


def test_prevote_alone_protects_a_live_leader() -> None:
    """Thesis §9.6: even without CheckQuorum, PreVote is refused while a leader is heard from."""
    pump = Pump(ids(3), seed=3, config=RaftConfig(check_quorum=False))
    leader = pump.wait_leader()
    term = pump.nodes[leader].term
    lonely = next(i for i in pump.nodes if i != leader)
    pump.isolate(lonely)
    pump.tick_all(100)
    pump.heal()
    pump.tick_all(60)
    assert pump.leaders() == [leader] and pump.nodes[leader].term == term


def test_without_prevote_a_rejoining_node_disrupts() -> None:
    """The contrast that motivates PreVote: without it the isolated node's term keeps growing."""
    pump = Pump(ids(3), seed=3, config=RaftConfig(pre_vote=False, check_quorum=False))
    leader = pump.wait_leader()
    term = pump.nodes[leader].term
    lonely = next(i for i in pump.nodes if i != leader)
    pump.isolate(lonely)
    pump.tick_all(100)
    assert pump.nodes[lonely].term > term


def test_check_quorum_leader_steps_down_when_isolated() -> None:
    """Thesis §6.2: a leader that has not heard from a majority for an election timeout steps down."""
    pump = Pump(ids(3), seed=4)
    leader = pump.wait_leader()
    pump.isolate(leader)
    pump.tick(leader, 2 * pump.config.election_timeout_ticks_min + 1)
    assert pump.nodes[leader].role is Role.FOLLOWER


def test_leader_stickiness_ignores_disruptive_votes() -> None:
    """Thesis §4.2.3: a follower that heard from its leader recently ignores higher-term votes."""
    node = make_node(term=1)
    received(
        node,
        AppendEntries(
            from_id=N3,
            to_id=N1,
            term=Term(1),
            prev_log_index=Index(0),
            prev_log_term=Term(0),
            entries=(),
            leader_commit=Index(0),
        ),
    )
    assert received(node, vote_request(5, 9, 1)) == [] and node.term == 1
    transfer = only_vote(received(node, vote_request(5, 9, 1, leadership_transfer=True)))
    assert transfer.vote_granted and node.term == 5


def test_non_voter_never_campaigns() -> None:
    """Learners and nodes outside the configuration never start an election (thesis §4.2.1)."""
    learner = make_node(
        N4, bootstrap=ClusterConfig(voters=frozenset({N1, N2, N3}), learners=frozenset({N4}))
    )
    joiner = make_node(N4, bootstrap=ClusterConfig(voters=frozenset()))
    for node in (learner, joiner):
        for _ in range(200):
            assert sends(node.step(Tick())) == []
        assert node.role is Role.FOLLOWER and node.term == 0


def test_single_voter_elects_itself_and_commits_after_persisted() -> None:
    """A one-node cluster leads alone, but counts its own entry only once storage acknowledged it."""
    pump = Pump(ids(1), auto_persist=False)
    node = pump.nodes[N1]
    pump.tick(N1, 25)
    assert node.role is Role.LEADER and node.last_index == 1 and node.commit_index == 0
    pump.step(N1, Persisted(index=Index(1), term=node.term))
    assert node.commit_index == 1
