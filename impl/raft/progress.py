"""What the leader knows about each follower's log (etcd's ``tracker``).

Theory of operation: for each peer the leader keeps ``match_index`` (highest
index known to be replicated there; Raft Figure 2) and ``next_index`` (the
next index to send). A peer is in one of three states:

  PROBE      the leader does not know where the logs diverge. It sends one
             AppendEntries and waits for the answer (or a heartbeat
             response) before sending again; rejections move next_index
             back using the follower's conflict hint (Raft §5.3).
  REPLICATE  the logs agree up to match_index. The leader pipelines:
             next_index advances optimistically as soon as a batch is sent,
             and at most ``max_inflight_appends`` batches may be
             unacknowledged (the in-flight window) before it pauses.
  SNAPSHOT   the entries the peer needs were compacted away; an
             InstallSnapshot is in flight and appends are paused until it is
             answered (or given up on after an election timeout).

Rules:
  Rule 1. match_index never decreases while the leader holds its term.
  Rule 2. next_index > match_index always.
  Rule 3. A rejection only counts if it answers the most recent probe (or,
          in REPLICATE, concerns an index above match_index); older ones are
          stale reorderings and are ignored.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from impl.raft.types import Index

NO_INDEX = Index(0)
FIRST_INDEX = Index(1)


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


# Plain module constants for the hot path (types.py: enum member lookups are slow in 3.11).
PROBE, REPLICATE, SNAPSHOT = ProgressState.PROBE, ProgressState.REPLICATE, ProgressState.SNAPSHOT


@dataclass(slots=True, kw_only=True)
class Inflights:
    """Bounded FIFO of the last index of each unacknowledged AppendEntries batch."""

    capacity: int
    _last_indexes: deque[int] = field(default_factory=deque)

    @property
    def count(self) -> int:
        return len(self._last_indexes)

    @property
    def full(self) -> bool:
        return len(self._last_indexes) >= self.capacity

    def add(self, last_index: int) -> None:
        assert len(self._last_indexes) < self.capacity, "sent an append through a full window"
        assert not self._last_indexes or self._last_indexes[-1] < last_index, (
            "in-flight batches must be sent in index order"
        )
        self._last_indexes.append(last_index)

    def free_to(self, index: int) -> None:
        """Every batch ending at or before ``index`` was acknowledged."""
        while self._last_indexes and self._last_indexes[0] <= index:
            self._last_indexes.popleft()

    def free_first(self) -> None:
        if self._last_indexes:
            self._last_indexes.popleft()

    def reset(self) -> None:
        self._last_indexes.clear()


@dataclass(slots=True, kw_only=True)
class Progress:
    """Replication state of one follower or learner, owned by the leader."""

    match_index: Index = NO_INDEX
    next_index: Index = FIRST_INDEX
    state: ProgressState = ProgressState.PROBE
    probe_sent: bool = False
    inflights: Inflights = field(default_factory=lambda: Inflights(capacity=16))
    pending_snapshot: Index = NO_INDEX
    snapshot_wait_rounds: int = 0
    recent_active: bool = False
    read_ack: int = 0  # highest heartbeat read context this peer answered
    match_at_heartbeat: Index = NO_INDEX  # match_index when the last heartbeat answer came

    def become_probe(self) -> None:
        # After a snapshot, the peer holds everything up to pending_snapshot (thesis §5.1).
        if self.state is SNAPSHOT:
            self.next_index = Index(max(self.match_index, self.pending_snapshot) + 1)
        else:
            self.next_index = Index(self.match_index + 1)
        self.state = PROBE
        self.probe_sent = False
        self.pending_snapshot = NO_INDEX
        self.inflights.reset()

    def become_replicate(self) -> None:
        self.state = REPLICATE
        self.next_index = Index(self.match_index + 1)
        self.probe_sent = False
        self.pending_snapshot = NO_INDEX
        self.inflights.reset()

    def become_snapshot(self, snapshot_index: Index) -> None:
        self.state = SNAPSHOT
        self.pending_snapshot = snapshot_index
        self.snapshot_wait_rounds = 0
        self.probe_sent = False
        self.inflights.reset()

    def is_paused(self) -> bool:
        """True when the leader must not send another AppendEntries to this peer now."""
        if self.state is PROBE:
            return self.probe_sent
        if self.state is REPLICATE:
            return self.inflights.full
        return True

    def sent_entries(self, last_index: Index, entry_count: int) -> None:
        """Record an AppendEntries ending at ``last_index`` that carried ``entry_count`` entries."""
        if self.state is REPLICATE:
            if entry_count:
                self.next_index = Index(last_index + 1)  # optimistic: pipelining
                self.inflights.add(last_index)
        else:
            self.probe_sent = True

    def maybe_update(self, index: Index) -> bool:
        """A success acknowledged ``index``; returns True if match_index advanced."""
        updated = index > self.match_index
        if updated:
            self.match_index = index
            self.probe_sent = False
        if self.next_index <= index:
            self.next_index = Index(index + 1)
        self.inflights.free_to(index)
        return updated

    def maybe_decrement(self, reject_index: Index, hint_next: Index) -> bool:
        """Apply a rejection of an append sent at ``reject_index``; False if it is stale (Rule 3).

        ``hint_next`` is where the leader computed the logs may agree from
        (fast back-off); next_index never drops to or below match_index.
        """
        if self.state is REPLICATE:
            if reject_index <= self.match_index:
                return False
            self.become_probe()
            self.next_index = Index(max(self.match_index + 1, min(hint_next, reject_index)))
            return True
        if self.state is SNAPSHOT:
            return False
        if reject_index != self.next_index - 1:
            return False
        self.next_index = Index(max(self.match_index + 1, min(hint_next, reject_index)))
        self.probe_sent = False
        return True
