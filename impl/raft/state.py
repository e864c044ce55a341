"""The fields of a RaftNode and the few helpers every role uses.

Theory of operation: ``RaftNode`` is assembled from mixins split by concern
(election.py, replication.py, node.py), all working on the fields declared
here. A step never produces effects directly: handlers record *what
happened* (hard state changed, entries appended from index i, a message to
send, a reply) and ``_flush`` turns that record into the effect list in the
one order the persistence rule allows (effects.py):

    leader Sends            (Rule 3: they do not depend on this step's writes)
    PersistSnapshot, Persist
    other Sends and replies (Rule 2: held by the runtime until durable)
    ApplySnapshot, Apply    (committed data only, Rule 4)

Rules:
  Rule 1. Only ``_flush`` builds the effect list.
  Rule 2. A message is "early" only when the node is leader, its hard state
          did not change in this step, and its term is known durable;
          anything a candidate or a follower sends depends on its term, vote
          or log being durable.
  Rule 3. ``commit_index`` and ``applied_index`` never decrease.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from impl.raft.config import RaftConfig
from impl.raft.effects import (
    Apply,
    ApplySnapshot,
    Effect,
    Persist,
    PersistSnapshot,
    Rejected,
    RejectReason,
    Send,
)
from impl.raft.log import RaftLog
from impl.raft.progress import Progress
from impl.raft.types import FOLLOWER, LEADER, Entry, HardState, Index, NodeId, Role, Term

if TYPE_CHECKING:
    from impl.raft.messages import Message


class PendingRead:
    """A ReadIndex request waiting for its heartbeat round (thesis §6.4)."""

    __slots__ = ("index", "request_id", "round")

    def __init__(self, request_id: int, round: int, index: Index | None) -> None:
        self.request_id = request_id
        self.round = round
        self.index = index  # None until the leader commits an entry of its own term


class NodeState:
    """Fields and shared helpers; see the module docstring."""

    __slots__ = (
        "_applied_index",
        "_apply_snapshot",
        "_barrier_needed",
        "_commit_index",
        "_committed_in_term",
        "_draw_election_timeout",
        "_durable_index",
        "_early",
        "_election_elapsed",
        "_hard_state_dirty",
        "_heartbeat_elapsed",
        "_id",
        "_late",
        "_leader_id",
        "_leader_term_durable",
        "_log",
        "_pending_reads",
        "_persist_from",
        "_persist_snapshot",
        "_progress",
        "_raft_config",
        "_randomized_election_timeout",
        "_read_round",
        "_role",
        "_term",
        "_timeout_now_sent",
        "_transfer_elapsed",
        "_transfer_target",
        "_voted_for",
        "_votes",
    )

    _id: NodeId
    _raft_config: RaftConfig
    _draw_election_timeout: Callable[[int, int], int]
    _log: RaftLog
    _term: Term
    _voted_for: NodeId | None
    _role: Role
    _leader_id: NodeId | None
    _leader_term_durable: bool  # our term and vote are known durable (see _send)
    _commit_index: Index
    _applied_index: Index
    _durable_index: Index
    _election_elapsed: int
    _randomized_election_timeout: int
    _heartbeat_elapsed: int
    _votes: dict[NodeId, bool]
    _progress: dict[NodeId, Progress]
    _committed_in_term: bool
    _read_round: int
    _pending_reads: deque[PendingRead]
    _transfer_target: NodeId | None
    _transfer_elapsed: int
    _timeout_now_sent: bool
    # per-step output record
    _early: list[Effect]
    _late: list[Effect]
    _hard_state_dirty: bool
    _persist_from: Index | None
    _barrier_needed: bool
    _persist_snapshot: PersistSnapshot | None
    _apply_snapshot: ApplySnapshot | None

    # ------------------------------------------------------------------ step record

    def _begin_step(self) -> None:
        self._early = []
        self._late = []
        self._hard_state_dirty = False
        self._persist_from = None
        self._barrier_needed = False
        self._persist_snapshot = None
        self._apply_snapshot = None

    def _flush(self) -> list[Effect]:
        effects = self._early
        if self._persist_snapshot is not None:
            effects.append(self._persist_snapshot)
        persist_from, hard_state_dirty = self._persist_from, self._hard_state_dirty
        if hard_state_dirty or persist_from is not None:
            hard_state = (
                HardState(term=self._term, voted_for=self._voted_for) if hard_state_dirty else None
            )
            entries: tuple[Entry, ...] = ()
            if persist_from is not None:
                last_index = self._log.last_index
                assert persist_from <= last_index, "persisting a truncated tail"
                entries = self._log.between(persist_from, last_index)
            effects.append(Persist(hard_state=hard_state, entries=entries))
        elif self._barrier_needed:
            effects.append(Persist(hard_state=None, entries=()))
        if self._late:
            effects.extend(self._late)
        if self._apply_snapshot is not None:
            effects.append(self._apply_snapshot)
        commit_index = self._commit_index
        if commit_index > self._applied_index:
            committed = self._log.between(self._applied_index + 1, commit_index)
            self._applied_index = commit_index
            effects.append(Apply(entries=committed))
        return effects

    def _send(self, message: Message, *, overtakes_log_writes: bool = False) -> None:
        send = Send(to=message.to_id, message=message, overtakes_log_writes=overtakes_log_writes)
        if self._role is not LEADER or self._hard_state_dirty:
            self._late.append(send)
        elif self._leader_term_durable:
            self._early.append(send)
        else:
            # A single voter elects itself without anyone's vote, so its new term may not
            # be durable yet: were it to crash now, it could lead the same term again with
            # a different log. Its messages wait behind a barrier until that write is done.
            self._late.append(send)
            self._barrier_needed = True

    def _reply(self, effect: Effect) -> None:
        self._late.append(effect)

    def _append_local(self, entries: tuple[Entry, ...]) -> None:
        if not entries:
            return
        self._log.append(entries)
        first = entries[0].index
        if self._persist_from is None or first < self._persist_from:
            self._persist_from = first

    def _truncate_local(self, index: Index) -> None:
        assert index > self._commit_index, (
            f"{self._id} would truncate committed entry {index} (commit={self._commit_index})"
        )
        self._log.truncate_from(index)
        self._durable_index = Index(min(self._durable_index, index - 1))

    # ------------------------------------------------------------------ shared transitions

    def _reset_election_timer(self) -> None:
        self._election_elapsed = 0
        low = self._raft_config.election_timeout_ticks_min
        high = self._raft_config.election_timeout_ticks_max
        drawn = self._draw_election_timeout(low, high)
        assert low <= drawn <= high, f"election timeout {drawn} outside [{low}, {high}]"
        self._randomized_election_timeout = drawn

    def _become_follower(self, term: Term, leader_id: NodeId | None) -> None:
        assert term >= self._term, f"term went back from {self._term} to {term}"
        if term > self._term:
            self._term = term
            self._voted_for = None
            self._hard_state_dirty = True
        if self._role is LEADER:
            self._abandon_leadership()
        self._role = FOLLOWER
        self._leader_id = leader_id
        self._votes = {}
        self._reset_election_timer()

    def _abandon_leadership(self) -> None:
        """Leader state dies with leadership; pending reads learn it (thesis §6.4)."""
        while self._pending_reads:
            read = self._pending_reads.popleft()
            self._reply(
                Rejected(
                    request_id=read.request_id, reason=RejectReason.STEPPED_DOWN, leader_hint=None
                )
            )
        self._progress = {}
        self._transfer_target = None
        self._committed_in_term = False

    def _promotable(self) -> bool:
        """Voters of the configuration in force campaign; learners and removed nodes do not.

        One exception keeps a removal from deadlocking: while the CONFIG entry
        that removed us is uncommitted, we still campaign if the previous
        configuration had us as a voter. Otherwise a removed ex-leader holding
        the newest log could refuse its vote to every remaining voter (their
        logs are behind) while never campaigning itself. As a candidate it
        counts only the new configuration's votes, and as leader it only
        commits that configuration and steps down (thesis §4.2.2).
        """
        log = self._log
        if self._id in log.config.voters:
            return True
        return (
            log.config_index > self._commit_index
            and self._id in log.config_at(log.config_index - 1).voters
        )

    # Implemented by the mixins; declared here so each mixin can call the others.
    def _become_leader(self) -> None:
        raise NotImplementedError

    def _commit_to(self, index: Index) -> None:
        raise NotImplementedError
