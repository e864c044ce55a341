"""Messages Raft peers exchange (Raft Figure 2, thesis §3-§6, §9.6).

Theory of operation: every message names its sender (``from_id``), its
receiver (``to_id``) and the sender's ``term``; a receiver first compares
terms (Raft §5.1) and only then looks at the payload. Messages are plain
frozen values: the codec turns them into msgpack-able lists and back, and
``__str__`` is one stable line in etcd's trace style, so simulator traces and
golden transcripts diff cleanly.

Rules:
  Rule 1. A heartbeat is an ``AppendEntries`` with ``read_context > 0`` and no
          entries. It does not check the log: its ``leader_commit`` is
          already clipped by the leader to the follower's match index
          (etcd's MsgHeartbeat), and its read context confirms leadership
          for ReadIndex (thesis §6.4).
  Rule 2. A PreVote ``RequestVote`` carries the term the sender *would* use
          (its term + 1) and changes nobody's term (thesis §9.6).
"""

from __future__ import annotations

from dataclasses import dataclass

from impl.raft.fastinit import fast_init
from impl.raft.types import Entry, Index, NodeId, Snapshot, Term

NO_INDEX = Index(0)


def format_entries(entries: tuple[Entry, ...]) -> str:
    """``[6@3,7@3]``; long batches keep their ends only, so trace lines stay short."""
    if len(entries) <= 4:
        return "[" + ",".join(f"{e.index}@{e.term}" for e in entries) + "]"
    first, last = entries[0], entries[-1]
    return f"[{first.index}@{first.term}..{last.index}@{last.term}]"


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class RequestVote:
    """Ask for a vote (Raft §5.2) or, with ``pre_vote``, ask whether one would be granted (§9.6).

    ``leadership_transfer`` marks a campaign started by TimeoutNow: receivers
    skip leader stickiness for it (thesis §3.10).
    """

    from_id: NodeId
    to_id: NodeId
    term: Term
    last_log_index: Index
    last_log_term: Term
    pre_vote: bool = False
    leadership_transfer: bool = False

    def __str__(self) -> str:
        kind = "PreVote" if self.pre_vote else "RequestVote"
        transfer = " transfer" if self.leadership_transfer else ""
        return (
            f"{self.from_id}->{self.to_id} {kind} term={self.term} "
            f"last={self.last_log_index}/{self.last_log_term}{transfer}"
        )


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class RequestVoteResponse:
    from_id: NodeId
    to_id: NodeId
    term: Term
    vote_granted: bool
    pre_vote: bool = False

    def __str__(self) -> str:
        kind = "PreVoteResponse" if self.pre_vote else "RequestVoteResponse"
        verdict = "granted" if self.vote_granted else "rejected"
        return f"{self.from_id}->{self.to_id} {kind} term={self.term} {verdict}"


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AppendEntries:
    """Replicate ``entries`` after (prev_log_index, prev_log_term) (Raft §5.3); see Rule 1."""

    from_id: NodeId
    to_id: NodeId
    term: Term
    prev_log_index: Index
    prev_log_term: Term
    entries: tuple[Entry, ...]
    leader_commit: Index
    read_context: int = 0

    @property
    def is_heartbeat(self) -> bool:
        return self.read_context > 0

    def __str__(self) -> str:
        if self.is_heartbeat:
            return (
                f"{self.from_id}->{self.to_id} Heartbeat term={self.term} "
                f"commit={self.leader_commit} ctx={self.read_context}"
            )
        return (
            f"{self.from_id}->{self.to_id} AppendEntries term={self.term} "
            f"prev={self.prev_log_index}/{self.prev_log_term} "
            f"entries={format_entries(self.entries)} commit={self.leader_commit}"
        )


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AppendEntriesResponse:
    """Outcome of an AppendEntries.

    On success ``match_index`` is the last index known to match the leader's
    log (0 for a heartbeat, which proves nothing about the log). On rejection
    ``reject_index`` echoes the request's prev_log_index, and the hint lets
    the leader skip a whole term per round trip (Raft §5.3, "fast back-off"):
    ``conflict_term`` is the follower's term at reject_index and
    ``conflict_index`` the first index the follower holds with that term; when
    the follower's log is too short, ``conflict_term`` is None and
    ``conflict_index`` is its last index + 1.
    """

    from_id: NodeId
    to_id: NodeId
    term: Term
    success: bool
    match_index: Index = NO_INDEX
    reject_index: Index = NO_INDEX
    conflict_term: Term | None = None
    conflict_index: Index = NO_INDEX
    read_context: int = 0

    def __str__(self) -> str:
        head = f"{self.from_id}->{self.to_id} AppendEntriesResponse term={self.term}"
        if self.read_context:
            return f"{head} heartbeat ctx={self.read_context}"
        if self.success:
            return f"{head} match={self.match_index}"
        return f"{head} reject={self.reject_index} hint={self.conflict_index}/{self.conflict_term}"


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class InstallSnapshot:
    """The whole snapshot in one message (thesis §5.1, without chunking)."""

    from_id: NodeId
    to_id: NodeId
    term: Term
    snapshot: Snapshot

    def __str__(self) -> str:
        return (
            f"{self.from_id}->{self.to_id} InstallSnapshot term={self.term} "
            f"snapshot={self.snapshot.index}@{self.snapshot.term} bytes={len(self.snapshot.data)}"
        )


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class InstallSnapshotResponse:
    """``match_index``: the follower's log now matches the leader's up to here."""

    from_id: NodeId
    to_id: NodeId
    term: Term
    match_index: Index

    def __str__(self) -> str:
        return (
            f"{self.from_id}->{self.to_id} InstallSnapshotResponse term={self.term} "
            f"match={self.match_index}"
        )


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TimeoutNow:
    """Leadership transfer: "start an election now" (thesis §3.10)."""

    from_id: NodeId
    to_id: NodeId
    term: Term

    def __str__(self) -> str:
        return f"{self.from_id}->{self.to_id} TimeoutNow term={self.term}"


Message = (
    RequestVote
    | RequestVoteResponse
    | AppendEntries
    | AppendEntriesResponse
    | InstallSnapshot
    | InstallSnapshotResponse
    | TimeoutNow
)
