"""RaftNode: the sans-I/O Raft state machine; ``step(event) -> list[Effect]``.

Theory of operation: a node is driven only through ``step``. Time arrives as
``Tick``, the network as ``Received``, clients as ``Propose`` (several at
once as ``ProposeBatch``) / ``ProposeConfigChange`` / ``ReadIndex`` /
``TransferLeadership``, the disk as ``Persisted`` and the service as
``CompactLog``. Every step returns the
effects to carry out, in the order the persistence rule of effects.py
demands (state.py builds that list). The node holds no clocks, sockets,
threads or random sources: the election timeout is drawn by the injected
``draw_election_timeout(min, max)``.

The work is split by concern: election.py (timeouts, PreVote, votes,
TimeoutNow), replication.py (AppendEntries, commitment, heartbeats,
ReadIndex, InstallSnapshot), and this file (construction, the term rules of
Raft §5.1 that every message passes first, and client requests: proposals,
membership changes, leadership transfer, compaction).

Rules:
  Rule 1. Every message is first checked against our term (Raft §5.1): a
          higher term turns us into a follower of that term (except PreVote
          traffic, thesis §9.6, and disruptive votes during a leader lease);
          a lower term is answered with our term so a stale leader or
          candidate steps down, and otherwise ignored.
  Rule 2. Bad caller input raises before any state changes; peer messages
          are trusted here because the codec already validated them.
  Rule 3. The bootstrap configuration is never written to the log; the
          membership in force is the latest CONFIG entry, else the
          snapshot's, else the bootstrap.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import cast

from impl.errors import ConfigurationError, LocalProtocolError
from impl.raft.config import RaftConfig
from impl.raft.effects import Accepted, Effect, PersistSnapshot, Rejected, RejectReason
from impl.raft.election import Election
from impl.raft.events import (
    CompactLog,
    ConfigChangeKind,
    Event,
    Persisted,
    Propose,
    ProposeBatch,
    ProposeConfigChange,
    ReadIndex,
    Received,
    Tick,
    TransferLeadership,
)
from impl.raft.log import RaftLog
from impl.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
)
from impl.raft.progress import Progress
from impl.raft.replication import Replication
from impl.raft.state import PendingRead
from impl.raft.types import (
    CONFIG,
    FOLLOWER,
    LEADER,
    ClusterConfig,
    Entry,
    Index,
    NodeId,
    RestoredState,
    Role,
    Snapshot,
    Term,
)


def _validated_config(config: ClusterConfig | None, what: str) -> ClusterConfig | None:
    """Normalise a membership to frozensets; raise ConfigurationError naming the problem."""
    if config is None:
        return None
    groups = []
    for name in ("voters", "learners"):
        members = getattr(config, name)
        if not isinstance(members, (set, frozenset, list, tuple)):
            raise ConfigurationError(f"{what}.{name} must be a set of node ids, got {members!r}")
        for member in members:
            if not isinstance(member, str) or not member:
                raise ConfigurationError(f"{what}.{name} holds an invalid node id {member!r}")
        if len(set(members)) != len(members):
            raise ConfigurationError(f"{what}.{name} lists a node twice: {sorted(members)}")
        groups.append(frozenset(members))
    voters, learners = groups
    if voters & learners:
        raise ConfigurationError(
            f"{what}: {sorted(voters & learners)} cannot be both voter and learner"
        )
    if learners and not voters:
        raise ConfigurationError(f"{what} has learners but no voters; list at least one voter")
    return ClusterConfig(voters=voters, learners=learners)


def _check_request_id(request_id: object) -> None:
    if not isinstance(request_id, int) or isinstance(request_id, bool):
        raise LocalProtocolError(f"request_id must be an int, got {request_id!r}")


class RaftNode(Election, Replication):
    """One Raft peer. See the module docstring; ``step`` is the only mutator."""

    __slots__ = ()

    def __init__(
        self,
        node_id: NodeId,
        config: RaftConfig,
        restored: RestoredState,
        draw_election_timeout: Callable[[int, int], int],
    ) -> None:
        """Build a node from what storage restored.

        Raises:
            ConfigurationError: bad node id, config, or bootstrap membership.
            LocalProtocolError: the restored log is not contiguous after its snapshot.
        """
        if not isinstance(node_id, str) or not node_id:
            raise ConfigurationError(f"node_id must be a non-empty string, got {node_id!r}")
        if not isinstance(config, RaftConfig):
            raise ConfigurationError(f"config must be a RaftConfig, got {type(config).__name__}")
        if not callable(draw_election_timeout):
            raise ConfigurationError("draw_election_timeout must be callable as f(min, max)")
        bootstrap = _validated_config(restored.bootstrap, "bootstrap")
        snapshot = restored.snapshot
        first = 1 if snapshot is None else snapshot.index + 1
        for offset, entry in enumerate(restored.entries):
            if entry.index != first + offset:
                raise LocalProtocolError(
                    f"restored entries must be contiguous from {first}; got {entry.index} "
                    f"at position {offset}"
                )
        self._id = node_id
        self._raft_config = config
        self._draw_election_timeout = draw_election_timeout
        self._log = RaftLog(snapshot=snapshot, entries=restored.entries, bootstrap=bootstrap)
        self._term = restored.hard_state.term
        self._voted_for = restored.hard_state.voted_for
        if self._log.last_term > self._term:
            raise LocalProtocolError(
                f"restored hard state term {self._term} is below the log's {self._log.last_term}"
            )
        self._role = FOLLOWER
        self._leader_id = None
        self._leader_term_durable = False
        self._commit_index = self._log.snapshot_index
        self._applied_index = self._log.snapshot_index
        self._durable_index = self._log.last_index  # everything restored is durable
        self._heartbeat_elapsed = 0
        self._votes = {}
        self._progress = {}
        self._committed_in_term = False
        self._read_round = 0
        self._pending_reads = deque()
        self._transfer_target = None
        self._transfer_elapsed = 0
        self._timeout_now_sent = False
        self._begin_step()
        self._reset_election_timer()

    # ------------------------------------------------------------------ read-only view

    @property
    def id(self) -> NodeId:
        return self._id

    @property
    def role(self) -> Role:
        return self._role

    @property
    def term(self) -> Term:
        return self._term

    @property
    def voted_for(self) -> NodeId | None:
        return self._voted_for

    @property
    def leader_id(self) -> NodeId | None:
        return self._leader_id

    @property
    def commit_index(self) -> Index:
        return self._commit_index

    @property
    def applied_index(self) -> Index:
        """The last index handed out in Apply or ApplySnapshot."""
        return self._applied_index

    @property
    def last_index(self) -> Index:
        return self._log.last_index

    @property
    def last_term(self) -> Term:
        return self._log.last_term

    @property
    def config(self) -> ClusterConfig:
        """The membership in force (the latest appended CONFIG entry, thesis §4.1)."""
        return self._log.config

    @property
    def snapshot(self) -> Snapshot | None:
        return self._log.snapshot

    @property
    def durable_index(self) -> Index:
        return self._durable_index

    @property
    def raft_config(self) -> RaftConfig:
        return self._raft_config

    def log_entries(self) -> tuple[Entry, ...]:
        """Entries after the snapshot, including those not yet durable."""
        return self._log.entries()

    def term_at(self, index: int) -> Term | None:
        return self._log.term_at(index)

    def progress(self, peer: NodeId) -> Progress | None:
        """The leader's replication state for ``peer`` (None when not leader). Do not mutate."""
        return self._progress.get(peer)

    def __repr__(self) -> str:
        return (
            f"RaftNode({self._id} {self._role.value} term={self._term} "
            f"last={self._log.last_index}/{self._log.last_term} commit={self._commit_index})"
        )

    # ------------------------------------------------------------------ the one mutator

    def step(self, event: Event) -> list[Effect]:
        """Feed one event; return the effects to carry out, in order (effects.py).

        Returns a list of ``Persist``, ``PersistSnapshot``, ``Send``, ``Apply``,
        ``ApplySnapshot``, ``Accepted``, ``ReadReady`` and ``Rejected`` effects.

        Raises:
            LocalProtocolError: the event is malformed (wrong type, non-bytes data,
                non-int request_id, compaction past the applied index).
        """
        self._begin_step()
        # The most frequent by type identity first: cheaper than the ``match`` of
        # ``_step_other``, which takes everything else (subclasses included).
        if type(event) is Received:
            self._receive(event.message)
        elif type(event) is Persisted:
            self._persisted(event)
        elif type(event) is Propose:
            self._propose(event)
        else:
            self._step_other(event)
        return self._flush()

    def _step_other(self, event: Event) -> None:
        match event:  # most frequent first: this is the hot path of every simulation
            case Received(message=message):
                self._receive(message)
            case Persisted():
                self._persisted(event)
            case Tick():
                if self._role is LEADER:
                    self._tick_leader()
                else:
                    self._tick_election()
            case Propose():
                self._propose(event)
            case ProposeBatch():
                self._propose_batch(event)
            case ReadIndex():
                self._read_index(event)
            case ProposeConfigChange():
                self._propose_config_change(event)
            case TransferLeadership():
                self._transfer_leadership(event)
            case CompactLog():
                self._compact_log(event)
            case _:
                raise LocalProtocolError(f"not a Raft event: {event!r}")

    # ------------------------------------------------------------------ messages

    def _receive(self, message: Message) -> None:
        if message.to_id != self._id or message.from_id == self._id:
            return  # misrouted; the transport should not deliver these
        if message.term > self._term:
            if not self._accept_higher_term(message):
                return
        elif message.term < self._term:
            self._answer_stale(message)
            return
        match message:  # the message classes are disjoint; the most frequent go first
            case AppendEntries():
                self._handle_append_entries(message)
            case AppendEntriesResponse():
                self._handle_append_response(message)
            case RequestVote():
                self._handle_request_vote(message)
            case RequestVoteResponse():
                self._handle_vote_response(message)
            case InstallSnapshot():
                self._handle_install_snapshot(message)
            case InstallSnapshotResponse():
                self._handle_snapshot_response(message)
            case TimeoutNow():
                self._handle_timeout_now(message)

    def _accept_higher_term(self, message: Message) -> bool:
        """Rule 1 for a higher term; returns False when the message must be dropped."""
        if isinstance(message, RequestVote):
            if self._ignores_vote(message):
                return False  # leader stickiness (thesis §4.2.3, §9.6)
            if not message.pre_vote:
                self._become_follower(message.term, None)
            return True
        if isinstance(message, RequestVoteResponse) and message.pre_vote and message.vote_granted:
            return True  # a granted PreVote echoes term + 1; nobody's term changes
        leader = (
            message.from_id
            if isinstance(message, (AppendEntries, InstallSnapshot, TimeoutNow))
            else None
        )
        self._become_follower(message.term, leader)
        return True

    def _answer_stale(self, message: Message) -> None:
        """Raft §5.1: reject a stale request, telling its sender our term."""
        match message:
            case AppendEntries():
                self._send(
                    AppendEntriesResponse(
                        from_id=self._id,
                        to_id=message.from_id,
                        term=self._term,
                        success=False,
                        reject_index=message.prev_log_index,
                    )
                )
            case InstallSnapshot():
                self._send(
                    InstallSnapshotResponse(
                        from_id=self._id,
                        to_id=message.from_id,
                        term=self._term,
                        match_index=Index(0),
                    )
                )
            case RequestVote():
                self._send_vote_response(message, term=self._term, granted=False)
            case _:
                pass

    # ------------------------------------------------------------------ storage

    def _persisted(self, event: Persisted) -> None:
        if not isinstance(event.index, int) or not isinstance(event.term, int):
            raise LocalProtocolError(f"Persisted needs int index and term, got {event!r}")
        if event.index <= self._durable_index or self._log.term_at(event.index) != event.term:
            return  # older news, or an ack for entries that were since replaced
        self._durable_index = event.index
        if self._role is LEADER and event.term == self._term:
            self._leader_term_durable = True  # the ack covers the hard state written before
        if self._role is LEADER and event.index > self._commit_index:
            self._maybe_commit()

    def _compact_log(self, event: CompactLog) -> None:
        if not isinstance(event.data, bytes):
            raise LocalProtocolError("CompactLog.data must be bytes (the service snapshot)")
        if not isinstance(event.index, int) or event.index > self._applied_index:
            raise LocalProtocolError(
                f"CompactLog.index {event.index!r} must be an int <= applied index "
                f"{self._applied_index}; snapshot only what the service applied"
            )
        if event.index <= self._log.snapshot_index:
            return
        term = self._log.term_at(event.index)
        assert term is not None
        snapshot = Snapshot(
            index=event.index, term=term, config=self._log.config_at(event.index), data=event.data
        )
        self._log.compact(snapshot)
        self._persist_snapshot = PersistSnapshot(snapshot=snapshot, discard_log=False)

    # ------------------------------------------------------------------ clients

    def _not_leader(self, request_id: int) -> Rejected:
        return Rejected(
            request_id=request_id, reason=RejectReason.NOT_LEADER, leader_hint=self._leader_id
        )

    def _reject(self, request_id: int, reason: RejectReason) -> None:
        self._reply(Rejected(request_id=request_id, reason=reason, leader_hint=self._leader_id))

    def _propose(self, event: Propose) -> None:
        if type(event.request_id) is not int:  # the common case passes without a call
            _check_request_id(event.request_id)
        if not isinstance(event.data, bytes):
            raise LocalProtocolError(
                f"Propose.data must be bytes, got {type(event.data).__name__}; encode the command"
            )
        if self._role is not LEADER:
            self._reply(self._not_leader(event.request_id))
            return
        if self._transfer_target is not None:
            self._reject(event.request_id, RejectReason.TRANSFER_IN_PROGRESS)
            return
        self._append_as_leader(
            event.request_id,
            Entry(term=self._term, index=Index(self._log.last_index + 1), data=event.data),
        )

    def _propose_batch(self, event: ProposeBatch) -> None:
        """Like each ``Propose`` in order; one append broadcast for all (events.py)."""
        proposals = event.proposals
        if not isinstance(proposals, tuple):
            raise LocalProtocolError("ProposeBatch.proposals must be a tuple of Propose events")
        for proposal in proposals:
            if not isinstance(proposal, Propose):
                raise LocalProtocolError("ProposeBatch.proposals must be a tuple of Propose events")
        for proposal in proposals:  # Rule 2: bad input raises before any state changes
            # Exact types pass without a call; anything else gets the full check.
            if type(proposal.request_id) is not int:
                _check_request_id(proposal.request_id)
            if type(proposal.data) is not bytes and not isinstance(proposal.data, bytes):
                raise LocalProtocolError(
                    f"Propose.data must be bytes, got {type(proposal.data).__name__}; "
                    "encode the command"
                )
        if self._role is not LEADER or self._transfer_target is not None:
            for proposal in proposals:
                self._propose(proposal)  # each refused as on its own
            return
        if not proposals:
            return
        term, first = self._term, self._log.last_index + 1
        indexes = cast("Iterable[Index]", range(first, first + len(proposals)))
        entries = tuple(
            [
                Entry(term=term, index=index, data=proposal.data)
                for index, proposal in zip(indexes, proposals, strict=True)
            ]
        )
        self._append_local(entries)
        self._broadcast_append()
        self._maybe_commit()  # a single voter whose log is already durable
        self._late.extend(  # self._reply for each, in one call
            [
                Accepted(request_id=proposal.request_id, index=entry.index, term=term)
                for proposal, entry in zip(proposals, entries, strict=True)
            ]
        )

    def _append_as_leader(self, request_id: int, entry: Entry) -> None:
        self._append_local((entry,))
        if entry.kind is CONFIG:
            self._sync_progress()  # thesis §4.1: a configuration takes effect when appended
        self._broadcast_append()
        self._maybe_commit()  # a single voter whose log is already durable
        self._reply(Accepted(request_id=request_id, index=entry.index, term=entry.term))

    def _read_index(self, event: ReadIndex) -> None:
        _check_request_id(event.request_id)
        if self._role is not LEADER:
            self._reply(self._not_leader(event.request_id))
            return
        index = self._commit_index if self._committed_in_term else None
        self._pending_reads.append(PendingRead(event.request_id, self._read_round + 1, index))
        self._broadcast_heartbeat()  # starts round _read_round + 1 and answers single voters

    def _propose_config_change(self, event: ProposeConfigChange) -> None:
        _check_request_id(event.request_id)
        if not isinstance(event.kind, ConfigChangeKind):
            raise LocalProtocolError("ProposeConfigChange.kind must be a ConfigChangeKind")
        if not isinstance(event.node, str) or not event.node:
            raise LocalProtocolError(
                f"ProposeConfigChange.node must be a node id, got {event.node!r}"
            )
        if self._role is not LEADER:
            self._reply(self._not_leader(event.request_id))
            return
        if self._transfer_target is not None:
            self._reject(event.request_id, RejectReason.TRANSFER_IN_PROGRESS)
            return
        # Thesis §4.1 (and the 2015 raft-dev fix): one change at a time, and only after the
        # leader committed an entry of its own term.
        if self._log.config_index > self._commit_index or not self._committed_in_term:
            self._reject(event.request_id, RejectReason.CONFIG_CHANGE_IN_PROGRESS)
            return
        if event.kind is ConfigChangeKind.PROMOTE and not self._learner_caught_up(
            NodeId(event.node)
        ):
            self._reject(event.request_id, RejectReason.LEARNER_NOT_CAUGHT_UP)
            return
        new_config = self._changed_config(event.kind, NodeId(event.node))
        if new_config is None:
            self._reject(event.request_id, RejectReason.INVALID_CONFIG_CHANGE)
            return
        entry = Entry(
            term=self._term,
            index=Index(self._log.last_index + 1),
            kind=CONFIG,
            config=new_config,
        )
        self._append_as_leader(event.request_id, entry)

    def _learner_caught_up(self, node: NodeId) -> bool:
        """Thesis §4.2.1: a new server joins as a non-voting member until it has caught up,
        so promoting it cannot leave the cluster unable to commit while it copies the log.
        "Caught up" here: its log holds everything committed when the promotion is asked for.
        A node that is not a learner passes; ``_changed_config`` refuses it instead."""
        if node not in self._log.config.learners:
            return True
        progress = self._progress.get(node)
        return progress is not None and progress.match_index >= self._commit_index

    def _changed_config(self, kind: ConfigChangeKind, node: NodeId) -> ClusterConfig | None:
        config = self._log.config
        voters, learners = config.voters, config.learners
        if kind is ConfigChangeKind.ADD_LEARNER:
            if node in config.members:
                return None
            return ClusterConfig(voters=voters, learners=learners | {node})
        if kind is ConfigChangeKind.PROMOTE:
            if node not in learners:
                return None
            return ClusterConfig(voters=voters | {node}, learners=learners - {node})
        if node not in config.members or voters == {node}:
            return None  # removing a stranger, or the last voter
        return ClusterConfig(voters=voters - {node}, learners=learners - {node})

    def _transfer_leadership(self, event: TransferLeadership) -> None:
        _check_request_id(event.request_id)
        if self._role is not LEADER:
            self._reply(self._not_leader(event.request_id))
            return
        target = event.to
        if target == self._id:
            return  # already the leader
        if target not in self._log.config.voters or target not in self._progress:
            self._reject(event.request_id, RejectReason.INVALID_TRANSFER_TARGET)
            return
        if self._transfer_target is not None:
            if self._transfer_target != target:
                self._reject(event.request_id, RejectReason.TRANSFER_IN_PROGRESS)
            return
        self._transfer_target = target
        self._transfer_elapsed = 0
        self._timeout_now_sent = False
        self._maybe_send_timeout_now(target)
        if not self._timeout_now_sent:
            self._send_appends(target, allow_empty=False)
