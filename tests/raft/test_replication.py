"""Paper sentences about replication, commitment, ReadIndex and snapshots."""

from __future__ import annotations

from impl.raft.config import RaftConfig
from impl.raft.effects import (
    Accepted,
    Apply,
    ApplySnapshot,
    Effect,
    Persist,
    PersistSnapshot,
    ReadReady,
    Rejected,
    RejectReason,
    Send,
)
from impl.raft.events import CompactLog, Persisted, Propose, ReadIndex, Tick
from impl.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
)
from impl.raft.types import Entry, EntryKind, HardState, Index, NodeId, Role, Snapshot, Term

from .helpers import (
    N1,
    N2,
    N3,
    THREE,
    first_send_index,
    log_of,
    make_leader,
    make_node,
    persist_index,
    received,
    sends,
)
from .pump import Pump, ids


def append(
    term: int, prev: tuple[int, int], entries: tuple[Entry, ...], commit: int = 0
) -> AppendEntries:
    return AppendEntries(
        from_id=N2,
        to_id=N1,
        term=Term(term),
        prev_log_index=Index(prev[0]),
        prev_log_term=Term(prev[1]),
        entries=entries,
        leader_commit=Index(commit),
    )


def entries_from(start: int, *terms: int) -> tuple[Entry, ...]:
    return tuple(Entry(term=Term(t), index=Index(start + i)) for i, t in enumerate(terms))


def only_response(effects: list) -> AppendEntriesResponse:
    (response,) = [m for m in sends(effects) if isinstance(m, AppendEntriesResponse)]
    return response


def success(frm: NodeId, term: int, match: int) -> AppendEntriesResponse:
    return AppendEntriesResponse(
        from_id=frm, to_id=N1, term=Term(term), success=True, match_index=Index(match)
    )


def test_follower_acknowledges_entries_only_after_persist() -> None:
    """Raft Figure 2 / effects.py Rule 2: the Persist of new entries precedes the response."""
    node = make_node(term=1)
    effects = received(node, append(1, (0, 0), entries_from(1, 1, 1)))
    response = only_response(effects)
    assert response.success and response.match_index == 2
    persist = effects[persist_index(effects)]
    assert isinstance(persist, Persist) and [e.index for e in persist.entries] == [1, 2]
    assert persist_index(effects) < first_send_index(effects)


def test_follower_acknowledging_undurable_entries_emits_a_barrier() -> None:
    """A duplicate append whose entries are not yet durable is answered behind a barrier Persist."""
    node = make_node(term=1)
    received(node, append(1, (0, 0), entries_from(1, 1)))
    effects = received(node, append(1, (0, 0), entries_from(1, 1)))
    assert effects[0] == Persist(hard_state=None, entries=())
    node.step(Persisted(index=Index(1), term=Term(1)))
    assert not any(isinstance(e, Persist) for e in received(node, append(1, (0, 0), ())))


def heartbeat(term: int, read_context: int, commit: int = 0) -> AppendEntries:
    return AppendEntries(
        from_id=N2,
        to_id=N1,
        term=Term(term),
        prev_log_index=Index(0),
        prev_log_term=Term(0),
        entries=(),
        leader_commit=Index(commit),
        read_context=read_context,
    )


def test_only_a_heartbeat_answer_may_overtake_log_writes() -> None:
    """effects.py Rule 5: the answer to a heartbeat claims nothing about the log, so the core
    marks it ``overtakes_log_writes``; an answer that acknowledges entries is never marked,
    and a marked answer still comes after its own step's term write (Rule 2)."""
    node = make_node(term=1)
    appended = received(node, append(1, (0, 0), entries_from(1, 1)))  # its write is pending
    (ack,) = [e for e in appended if isinstance(e, Send)]
    assert ack.message.match_index == 1 and not ack.overtakes_log_writes
    beat = received(node, heartbeat(1, read_context=5))
    (answer,) = beat
    assert isinstance(answer, Send) and answer.overtakes_log_writes
    assert answer.message.success and answer.message.match_index == 0
    new_term = received(node, heartbeat(2, read_context=6))
    assert isinstance(new_term[0], Persist) and new_term[0].hard_state is not None
    (answer,) = [e for e in new_term if isinstance(e, Send)]
    assert answer.overtakes_log_writes and persist_index(new_term) < first_send_index(new_term)


def test_log_matching_rejects_missing_prev_and_truncates_conflicts() -> None:
    """Raft §5.3: reject if prev does not match; delete a conflicting entry and all that follow."""
    node = make_node(term=3, log=log_of(1, 1, 2, 2))
    rejected = only_response(received(node, append(3, (4, 3), entries_from(5, 3))))
    assert not rejected.success and rejected.conflict_term == 2 and rejected.conflict_index == 3
    accepted = only_response(received(node, append(3, (2, 1), entries_from(3, 3, 3, 3))))
    assert accepted.success and accepted.match_index == 5
    assert [e.term for e in node.log_entries()] == [1, 1, 3, 3, 3]


def test_follower_commit_is_min_of_leader_commit_and_last_new_entry() -> None:
    """Raft Figure 2: commitIndex = min(leaderCommit, index of last new entry)."""
    node = make_node(term=1, log=log_of(1, 1, 1, 1))
    effects = received(node, append(1, (1, 1), entries_from(2, 1), commit=4))
    assert node.commit_index == 2
    applied = [e for e in effects if isinstance(e, Apply)]
    assert [x.index for x in applied[0].entries] == [1, 2]


def test_leader_does_not_commit_earlier_term_entry_by_counting() -> None:
    """Raft §5.4.2 / Figure 8: an entry of an older term is not committed by counting replicas;
    it becomes committed only together with an entry of the leader's own term."""
    node = make_node(term=3, log=log_of(1, 2))
    make_leader(node)  # term 4, NOOP at index 3
    assert node.term == 4 and node.last_index == 3
    node.step(Persisted(index=Index(3), term=Term(4)))
    received(node, success(N2, 4, 2))  # a majority (n1, n2) now holds 2@2
    assert node.commit_index == 0
    received(node, success(N2, 4, 3))
    assert node.commit_index == 3


def test_leader_counts_itself_only_up_to_durable_index() -> None:
    """The leader's own log counts toward a quorum only once storage acknowledged it."""
    node = make_node(config=RaftConfig(check_quorum=False))
    make_leader(node)
    received(node, success(N2, 1, 1))
    assert node.durable_index == 0 and node.commit_index == 0  # n2 alone is not a majority
    node.step(Persisted(index=Index(1), term=Term(1)))
    assert node.commit_index == 1  # n1 (durable) + n2


def test_new_leader_appends_noop_and_bootstrap_is_not_in_log() -> None:
    """Raft §8: a new leader appends a NOOP; the static bootstrap config is never a log entry."""
    pump = Pump(ids(3), seed=5)
    leader = pump.wait_leader()
    kinds = [e.kind for e in pump.nodes[leader].log_entries()]
    assert kinds == [EntryKind.NOOP]


def test_propose_on_follower_is_rejected_with_leader_hint() -> None:
    """A follower refuses proposals and names the leader it believes in."""
    pump = Pump(ids(3), seed=6)
    leader = pump.wait_leader()
    follower = next(i for i in pump.nodes if i != leader)
    effects = pump.step(follower, Propose(request_id=7, data=b"x"))
    assert effects == [Rejected(request_id=7, reason=RejectReason.NOT_LEADER, leader_hint=leader)]
    accepted = pump.step(leader, Propose(request_id=8, data=b"y"))
    (reply,) = [e for e in accepted if isinstance(e, Accepted)]
    assert reply.index == 2 and reply.term == pump.nodes[leader].term


def test_fast_backoff() -> None:
    """Raft §5.3 optimisation: the conflict-term hint skips a whole term per round trip, so a
    follower with 40 conflicting entries of a stale term is repaired after one rejection."""
    pump = Pump(ids(3), seed=7, config=RaftConfig(max_entries_per_append=100))
    for node_id, term, tail in ((N1, 3, [3] * 10), (N2, 3, [3] * 10), (N3, 2, [2] * 40)):
        disk = pump.disks[node_id]
        disk.hard_state = HardState(term=Term(term))
        disk.entries = list(entries_from(1, 1, *tail))
        pump.start(node_id)
    pump.elect(N1)
    rejections = [
        m
        for _, _, effects in pump.effects_log
        for m in sends(effects)
        if isinstance(m, AppendEntriesResponse) and m.from_id == N3 and not m.success
    ]
    assert len(rejections) == 1 and rejections[0].conflict_term == 2
    assert pump.nodes[N3].log_entries() == pump.nodes[N1].log_entries()
    assert pump.nodes[N3].last_index == 12


def test_inflight_window_is_bounded() -> None:
    """Pipelining stops after max_inflight_appends unacknowledged batches per follower."""
    config = RaftConfig(max_inflight_appends=3, max_entries_per_append=1, check_quorum=False)
    pump = Pump(ids(3), seed=8, config=config)
    leader = pump.elect(N1)
    for request_id in range(10):
        pump.step(leader, Propose(request_id=request_id, data=b"p"))
    outstanding = [m for m in pump.in_flight if isinstance(m, AppendEntries) and m.to_id == N2]
    assert len(outstanding) == 3
    pump.deliver_all()
    pump.tick_all(6)
    assert pump.nodes[N2].last_index == pump.nodes[N1].last_index == 11


def test_read_index_waits_for_quorum_heartbeat() -> None:
    """Thesis §6.4: a read is served at the commit index only after a majority answered a
    heartbeat sent after the read arrived; an isolated leader never answers."""
    pump = Pump(ids(3), seed=9)
    leader = pump.elect(N1)
    effects = pump.step(leader, ReadIndex(request_id=1))
    assert not any(isinstance(e, ReadReady) for e in effects)
    heartbeats = [m for m in sends(effects) if isinstance(m, AppendEntries) and m.is_heartbeat]
    assert {m.to_id for m in heartbeats} == {N2, N3}
    pump.deliver_all()
    assert ReadReady(request_id=1, index=pump.nodes[leader].commit_index) in pump.replies[leader]
    pump.isolate(leader)
    pump.step(leader, ReadIndex(request_id=2))
    pump.tick(leader, 3)
    pump.deliver_all()
    assert not any(isinstance(r, ReadReady) and r.request_id == 2 for r in pump.replies[leader])
    pump.tick(leader, 2 * pump.config.election_timeout_ticks_min)  # CheckQuorum: steps down
    assert (
        Rejected(request_id=2, reason=RejectReason.STEPPED_DOWN, leader_hint=None)
        in pump.replies[leader]
    )


def test_read_index_waits_for_commit_in_current_term() -> None:
    """Thesis §6.4: a new leader answers reads only after committing an entry of its term."""
    node = make_node(config=RaftConfig(check_quorum=False))
    make_leader(node)
    effects = node.step(ReadIndex(request_id=5))
    (heartbeat, *_) = [m for m in sends(effects) if isinstance(m, AppendEntries) and m.is_heartbeat]
    ack = AppendEntriesResponse(
        from_id=N2, to_id=N1, term=node.term, success=True, read_context=heartbeat.read_context
    )
    assert not any(isinstance(e, ReadReady) for e in received(node, ack))
    node.step(Persisted(index=Index(1), term=node.term))
    effects = received(node, success(N2, node.term, 1))
    assert ReadReady(request_id=5, index=Index(1)) in effects


def test_single_voter_answers_reads_at_once() -> None:
    """With one voter the leader's own acknowledgement is a quorum."""
    pump = Pump(ids(1))
    pump.tick(N1, 25)
    effects = pump.step(N1, ReadIndex(request_id=3))
    assert ReadReady(request_id=3, index=Index(1)) in effects


def test_snapshot_brings_lagging_follower_up_to_date() -> None:
    """Thesis §5.1: a follower whose next entries were compacted receives the snapshot."""
    pump = Pump(ids(3), seed=10)
    leader = pump.elect(N1)
    pump.isolate(N3)
    for request_id in range(20):
        pump.step(leader, Propose(request_id=request_id, data=b"%d" % request_id))
    pump.deliver_all()
    node = pump.nodes[leader]
    effects = pump.step(leader, CompactLog(index=node.applied_index, data=b"image"))
    (persist,) = [e for e in effects if isinstance(e, PersistSnapshot)]
    assert not persist.discard_log and persist.snapshot.index == 21
    assert node.term_at(20) is None and node.term_at(21) == node.term
    pump.heal()
    pump.tick_all(6)
    lagging = pump.nodes[N3]
    assert [s.index for s in pump.snapshots_applied[N3]] == [21]
    assert lagging.commit_index == node.commit_index and lagging.snapshot is not None
    assert lagging.snapshot.data == b"image" and lagging.snapshot.config == THREE


def test_install_snapshot_never_moves_follower_backwards() -> None:
    """A snapshot older than what the follower holds only advances commit; nothing is discarded."""
    node = make_node(term=2, log=log_of(1, 1, 2, 2, 2))
    snapshot = Snapshot(index=Index(3), term=Term(2), config=THREE, data=b"s")
    effects = received(node, InstallSnapshot(from_id=N2, to_id=N1, term=Term(2), snapshot=snapshot))
    assert not any(isinstance(e, (PersistSnapshot, ApplySnapshot)) for e in effects)
    assert node.last_index == 5 and node.commit_index == 3
    (response,) = sends(effects)
    assert isinstance(response, InstallSnapshotResponse) and response.match_index == 3
    older = Snapshot(index=Index(2), term=Term(1), config=THREE, data=b"old")
    effects = received(node, InstallSnapshot(from_id=N2, to_id=N1, term=Term(2), snapshot=older))
    assert node.last_index == 5 and node.commit_index == 3
    assert not any(isinstance(e, (PersistSnapshot, ApplySnapshot)) for e in effects)


def test_install_snapshot_replaces_a_conflicting_log() -> None:
    """A snapshot past (or conflicting with) our log replaces it: PersistSnapshot then ApplySnapshot."""
    node = make_node(term=2, log=log_of(1, 1))
    snapshot = Snapshot(index=Index(7), term=Term(2), config=THREE, data=b"s")
    effects = received(node, InstallSnapshot(from_id=N2, to_id=N1, term=Term(2), snapshot=snapshot))
    kinds = [type(e).__name__ for e in effects]
    assert kinds == ["PersistSnapshot", "Send", "ApplySnapshot"]
    assert effects[0] == PersistSnapshot(snapshot=snapshot, discard_log=True)
    assert (node.last_index, node.commit_index, node.applied_index) == (7, 7, 7)


def test_restart_recovers_term_vote_and_log() -> None:
    """After a crash the node comes back with exactly what it persisted."""
    pump = Pump(ids(3), seed=11)
    leader = pump.wait_leader()
    for request_id in range(5):
        pump.step(leader, Propose(request_id=request_id, data=b"r"))
    pump.deliver_all()
    before = pump.nodes[leader]
    after = pump.start(leader)
    assert (after.term, after.voted_for, after.log_entries()) == (
        before.term,
        before.voted_for,
        before.log_entries(),
    )
    assert after.role is Role.FOLLOWER and after.commit_index == 0
    pump.tick_all(80)
    assert len(pump.leaders()) == 1
    assert all(n.commit_index == 6 or n.commit_index == 7 for n in pump.nodes.values())


def test_self_elected_leader_holds_messages_until_its_term_is_durable() -> None:
    """A single voter wins without anyone's vote, so until storage acknowledges its new term its
    AppendEntries (to a learner) must wait behind its writes; otherwise a crash could let it lead
    the same term twice with different entries (found by the chaos driver, seed 1097)."""
    pump = Pump(ids(1), learners=(N2,), auto_persist=False)
    pump.tick(N1, 25)
    leader = pump.nodes[N1]
    assert leader.role is Role.LEADER and leader.durable_index == 0
    heartbeat_tick: list[Effect] = []
    while not sends(heartbeat_tick):
        heartbeat_tick = pump.step(N1, Tick())
    assert heartbeat_tick[0] == Persist(hard_state=None, entries=())  # a barrier first
    pump.step(N1, Persisted(index=Index(1), term=leader.term))
    heartbeat_tick = []
    while not sends(heartbeat_tick):
        heartbeat_tick = pump.step(N1, Tick())
    assert not any(isinstance(e, Persist) for e in heartbeat_tick)


def test_lost_pipelined_appends_are_resent_after_a_quiet_heartbeat_round() -> None:
    """In REPLICATE the leader advances next_index optimistically; if those appends are lost, a
    heartbeat round without progress sends it back to probing from match_index + 1."""
    pump = Pump(ids(3), seed=30)
    leader = pump.elect(N1)
    progress = pump.nodes[leader].progress(N2)
    assert progress is not None and progress.state.value == "replicate"
    pump.cut.add((N1, N2))
    for request_id in range(5):
        pump.step(leader, Propose(request_id=request_id, data=b"lost"))
    pump.deliver_all()
    assert progress.next_index == 7 and progress.match_index == 1
    pump.heal()
    pump.tick_all(6)
    assert pump.nodes[N2].last_index == 6 and progress.match_index == 6


def test_batches_respect_max_append_bytes() -> None:
    """No AppendEntries carries more than max_append_bytes of payload (unless one entry alone)."""
    config = RaftConfig(max_append_bytes=100, check_quorum=False)
    pump = Pump(ids(3), seed=31, config=config)
    leader = pump.elect(N1)
    pump.cut.add((N1, N2))
    for request_id in range(10):
        pump.step(leader, Propose(request_id=request_id, data=b"x" * 40))
    pump.deliver_all()
    pump.heal()
    pump.in_flight.clear()
    pump.tick(leader, 2)
    pump.deliver_all()
    sizes = [
        sum(len(e.data) for e in effect.message.entries)
        for node_id, _, effects in pump.effects_log
        if node_id == leader
        for effect in effects
        if isinstance(effect, Send)
        and isinstance(effect.message, AppendEntries)
        and effect.message.to_id == N2
    ]
    assert max(sizes) <= 100 and sum(sizes) >= 400
    assert pump.nodes[N2].last_index == 11
