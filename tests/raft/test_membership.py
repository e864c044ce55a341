"""Paper sentences about learners, single-server membership changes and leadership transfer."""

from __future__ import annotations

from impl.raft.effects import Accepted, Rejected, RejectReason
from impl.raft.events import (
    ConfigChangeKind,
    Propose,
    ProposeConfigChange,
    Received,
    TransferLeadership,
)
from impl.raft.messages import TimeoutNow
from impl.raft.types import ClusterConfig, EntryKind, NodeId, Role

from .helpers import N1, N2, N3, N4
from .pump import Pump, ids


def change(
    pump: Pump, leader: NodeId, kind: ConfigChangeKind, node: NodeId, request_id: int = 1
) -> list[Accepted | Rejected]:
    effects = pump.step(leader, ProposeConfigChange(request_id=request_id, kind=kind, node=node))
    return [e for e in effects if isinstance(e, (Accepted, Rejected))]


def test_learner_promotion() -> None:
    """Thesis §4.2.1: a new server joins as a learner, catches up, then is promoted to voter."""
    pump = Pump(ids(3), seed=20, joiners=(N4,))
    leader = pump.elect(N1)
    for request_id in range(10):
        pump.step(leader, Propose(request_id=request_id, data=b"d"))
    pump.deliver_all()
    (reply,) = change(pump, leader, ConfigChangeKind.ADD_LEARNER, N4)
    assert isinstance(reply, Accepted)
    assert pump.nodes[leader].config == ClusterConfig(
        voters=frozenset({N1, N2, N3}), learners=frozenset({N4})
    )  # in force on append, before commit (thesis §4.1)
    pump.tick_all(10)
    learner = pump.nodes[N4]
    assert learner.commit_index == pump.nodes[leader].commit_index == 12
    assert learner.role is Role.FOLLOWER and N4 in learner.config.learners
    (reply,) = change(pump, leader, ConfigChangeKind.PROMOTE, N4, request_id=2)
    assert isinstance(reply, Accepted)
    pump.tick_all(10)
    assert all(n.config.voters == {N1, N2, N3, N4} for n in pump.nodes.values())
    # As a voter, n4 can now win an election once the old leader is gone.
    pump.timeouts.update({N2: 20, N3: 20, N4: 10})
    for node_id in (N2, N3, N4):
        pump.start(node_id)  # restart so the fixed timeouts are drawn
    pump.isolate(N1)
    pump.tick_all(40)
    assert pump.leaders() == [N4]  # the isolated n1 stepped down by CheckQuorum


def test_learner_that_has_not_caught_up_is_not_promoted() -> None:
    """Thesis §4.2.1: a learner is promoted only once it holds everything committed.

    Promoting an unreachable learner would raise the quorum to 3 of 4 with one
    voter that cannot vote; the leader refuses and the caller retries later.
    """
    pump = Pump(ids(3), seed=23, joiners=(N4,))
    leader = pump.elect(N1)
    pump.isolate(N4)
    (reply,) = change(pump, leader, ConfigChangeKind.ADD_LEARNER, N4)
    assert isinstance(reply, Accepted)
    for request_id in range(2, 6):
        pump.step(leader, Propose(request_id=request_id, data=b"d"))
    pump.tick_all(10)
    (reply,) = change(pump, leader, ConfigChangeKind.PROMOTE, N4, request_id=9)
    assert reply == Rejected(
        request_id=9, reason=RejectReason.LEARNER_NOT_CAUGHT_UP, leader_hint=N1
    )
    assert pump.nodes[leader].config.voters == {N1, N2, N3}
    pump.heal()
    pump.tick_all(10)
    (reply,) = change(pump, leader, ConfigChangeKind.PROMOTE, N4, request_id=10)
    assert isinstance(reply, Accepted)


def test_config_change_is_refused_while_one_is_uncommitted() -> None:
    """Thesis §4.1: a leader proposes a new change only after the previous one committed."""
    pump = Pump(ids(3), seed=21)
    leader = pump.elect(N1)
    pump.isolate(N2)
    pump.isolate(N3)
    (first,) = change(pump, leader, ConfigChangeKind.ADD_LEARNER, N4)
    assert isinstance(first, Accepted)
    (second,) = change(pump, leader, ConfigChangeKind.REMOVE, N3, request_id=2)
    assert second == Rejected(
        request_id=2, reason=RejectReason.CONFIG_CHANGE_IN_PROGRESS, leader_hint=N1
    )


def test_invalid_config_changes_are_rejected() -> None:
    """Promoting a non-learner, adding a member twice, or removing a stranger is refused."""
    pump = Pump(ids(3), seed=22)
    leader = pump.elect(N1)
    for kind, node in (
        (ConfigChangeKind.PROMOTE, N2),
        (ConfigChangeKind.ADD_LEARNER, N3),
        (ConfigChangeKind.REMOVE, N4),
    ):
        (reply,) = change(pump, leader, kind, node)
        assert isinstance(reply, Rejected) and reply.reason is RejectReason.INVALID_CONFIG_CHANGE


def test_remove_leader_steps_down() -> None:
    """Thesis §4.2.2: a removed leader keeps replicating until the change commits (without
    counting itself), then steps down; the remaining voters elect a new leader."""
    pump = Pump(ids(3), seed=23)
    leader = pump.elect(N1)
    (reply,) = change(pump, leader, ConfigChangeKind.REMOVE, N1)
    assert isinstance(reply, Accepted)
    assert pump.nodes[N1].role is Role.LEADER  # not yet committed
    pump.deliver_all()
    assert pump.nodes[N1].role is Role.FOLLOWER
    assert pump.nodes[N1].commit_index >= reply.index
    pump.tick_all(100)
    (new_leader,) = pump.leaders()
    assert new_leader in (N2, N3) and pump.nodes[new_leader].config.voters == {N2, N3}
    pump.step(new_leader, Propose(request_id=9, data=b"after"))
    pump.tick_all(4)
    assert pump.nodes[N2].applied_index == pump.nodes[N3].applied_index
    assert pump.applied[N2][-1].data == b"after"
    assert pump.nodes[N1].role is Role.FOLLOWER  # it never campaigns again


def test_removed_follower_stops_receiving() -> None:
    """A removed follower is no longer replicated to, and no longer counts toward quorums."""
    pump = Pump(ids(3), seed=24)
    leader = pump.elect(N1)
    (reply,) = change(pump, leader, ConfigChangeKind.REMOVE, N3)
    assert isinstance(reply, Accepted)
    pump.deliver_all()
    assert pump.nodes[leader].progress(N3) is None
    pump.isolate(N3)
    pump.step(leader, Propose(request_id=5, data=b"x"))
    pump.deliver_all()
    assert pump.nodes[leader].commit_index == reply.index + 1  # n1 + n2 is a majority of {n1, n2}


def test_leadership_transfer() -> None:
    """Thesis §3.10: the leader catches the target up and sends TimeoutNow; the target wins at
    once (skipping PreVote and stickiness); proposals are refused meanwhile."""
    pump = Pump(ids(3), seed=25)
    leader = pump.elect(N1)
    pump.cut.add((N1, N2))  # make n2 lag behind first
    for request_id in range(5):
        pump.step(leader, Propose(request_id=request_id, data=b"t"))
    pump.deliver_all()
    pump.cut.clear()
    effects = pump.step(leader, TransferLeadership(request_id=10, to=N2))
    assert not any(isinstance(e, Rejected) for e in effects)
    refused = pump.step(leader, Propose(request_id=11, data=b"no"))
    assert refused == [
        Rejected(request_id=11, reason=RejectReason.TRANSFER_IN_PROGRESS, leader_hint=N1)
    ]
    pump.tick_all(4)  # a heartbeat round unblocks the lagging target, then TimeoutNow goes out
    timeouts = [e.message for _, e, _ in pump.effects_log if isinstance(e, Received)]
    assert any(isinstance(m, TimeoutNow) and m.to_id == N2 for m in timeouts)
    assert pump.leaders() == [N2]
    assert pump.nodes[N2].term == pump.nodes[N1].term and pump.nodes[N1].role is Role.FOLLOWER
    assert pump.nodes[N2].log_entries()[-1].kind is EntryKind.NOOP


def test_leadership_transfer_aborts_after_election_timeout() -> None:
    """Thesis §3.10: if the target does not take over within an election timeout, the old
    leader resumes accepting proposals."""
    pump = Pump(ids(3), seed=26)
    leader = pump.elect(N1)
    pump.isolate(N2)
    pump.step(leader, TransferLeadership(request_id=1, to=N2))
    pump.tick(leader, pump.config.election_timeout_ticks_min)
    effects = pump.step(leader, Propose(request_id=2, data=b"ok"))
    assert any(isinstance(e, Accepted) for e in effects)


def test_transfer_to_non_voter_is_rejected() -> None:
    """Only a voter of the current configuration can take over."""
    pump = Pump(ids(3), seed=27)
    leader = pump.elect(N1)
    effects = pump.step(leader, TransferLeadership(request_id=4, to=N4))
    assert effects == [
        Rejected(request_id=4, reason=RejectReason.INVALID_TRANSFER_TARGET, leader_hint=N1)
    ]


def test_uncommitted_self_removal_does_not_deadlock() -> None:
    """A leader that removed itself but stepped down before the change committed still holds the
    newest log; it must be able to campaign (counting only the new configuration), or the
    remaining voter would wait forever for a vote it cannot get (found by the chaos driver)."""
    pump = Pump(ids(2), seed=28)
    leader = pump.elect(N1)
    pump.isolate(N1)
    (reply,) = change(pump, leader, ConfigChangeKind.REMOVE, N1)
    assert isinstance(reply, Accepted) and pump.nodes[N1].config.voters == {N2}
    pump.tick(N1, 2 * pump.config.election_timeout_ticks_min + 1)  # CheckQuorum: steps down
    assert pump.nodes[N1].role is Role.FOLLOWER
    pump.heal()
    pump.tick_all(200)
    assert pump.leaders() == [N2]
    assert all(n.config.voters == {N2} for n in pump.nodes.values())
    assert pump.nodes[N2].commit_index >= reply.index
