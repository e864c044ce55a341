"""Outputs of ``RaftNode.step``: what the runtime must do, in order.

THE PERSISTENCE RULE (Raft Figure 2, "Persistent state ... updated on
stable storage before responding to RPCs"; etcd's Ready: "saved to stable
storage BEFORE Messages are sent"):

  Rule 1. The runtime carries out a step's effects in list order.
  Rule 2. A ``Send`` or a client reply (``Accepted``, ``ReadReady``,
          ``Rejected``) that comes after a ``Persist`` or ``PersistSnapshot``
          in the list must not leave the node until that write is durable
          (fsynced). Group commit is allowed: several steps' writes may share
          one fsync, as long as no dependent effect overtakes its write.
  Rule 3. ``RaftNode`` puts a Send *before* a Persist only when the message
          does not depend on that write being durable: the leader's own
          AppendEntries may go out while it persists the same entries
          (thesis §10.2.1), because the leader counts itself toward a commit
          quorum only after ``Persisted``.
  Rule 4. ``Apply`` and ``ApplySnapshot`` carry only committed data; the
          runtime applies them in order and never re-applies an index.
  Rule 5. Writes of EARLIER steps: a message that claims something about
          the log waits for them through a barrier ``Persist`` the core
          lists before it (replication.py Rule 2). A runtime may also hold
          every effect behind every pending write (impl/runtime/node.py
          does, because a reply states the sender's term). The core marks
          with ``Send.overtakes_log_writes`` the messages that state nothing
          but the term (a follower's answer to a heartbeat): such a message
          may leave while earlier steps' LOG writes are still pending, once
          no term or vote write is; Rule 2 still holds within its own step.
          A heartbeat answer held behind a commit on a stalled disk would
          cost a healthy leader its check-quorum, and so its leadership.

A crash loses every write that was not yet durable; the node restarts from
``RestoredState`` read back from storage.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from impl.raft.fastinit import fast_init
from impl.raft.types import Entry, HardState, Index, NodeId, Snapshot, Term

if TYPE_CHECKING:
    from impl.raft.messages import Message


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Persist:
    """Make hard state and entries durable before any later Send/reply in the batch.

    ``entries`` (possibly empty) replace the log from ``entries[0].index`` on:
    storage deletes every entry at or after that index, then appends.
    ``hard_state`` is None when it did not change. A Persist with neither
    (``hard_state=None, entries=()``) is a barrier: the effects after it wait
    until every earlier write is durable (a follower acknowledging entries
    that an earlier step appended but storage has not yet acknowledged).
    """

    hard_state: HardState | None
    entries: tuple[Entry, ...]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PersistSnapshot:
    """Store ``snapshot`` durably and drop every log entry at or before its index.

    When ``discard_log`` is true (a snapshot installed from the leader whose
    index is past our log or conflicts with it) the whole log is dropped.
    """

    snapshot: Snapshot
    discard_log: bool


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    """Send ``message`` to ``to``; ``overtakes_log_writes``: see Rule 5 above."""

    to: NodeId
    message: Message
    overtakes_log_writes: bool = False


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Apply:
    """Committed entries, in index order, to apply to the state machine (NOOP/CONFIG included)."""

    entries: tuple[Entry, ...]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ApplySnapshot:
    """Replace the state machine with ``snapshot.data`` (after an InstallSnapshot)."""

    snapshot: Snapshot


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    """A proposal was appended at (index, term); it is committed iff that entry is applied."""

    request_id: int
    index: Index
    term: Term


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadReady:
    """The read may be served once the state machine has applied ``index`` (thesis §6.4)."""

    request_id: int
    index: Index


class RejectReason(enum.Enum):
    NOT_LEADER = "not-leader"
    CONFIG_CHANGE_IN_PROGRESS = "config-change-in-progress"
    INVALID_CONFIG_CHANGE = "invalid-config-change"
    TRANSFER_IN_PROGRESS = "transfer-in-progress"
    STEPPED_DOWN = "stepped-down"  # a pending ReadIndex lost its leader
    INVALID_TRANSFER_TARGET = "invalid-transfer-target"  # not a voter of the current config
    LEARNER_NOT_CAUGHT_UP = "learner-not-caught-up"  # promote later (thesis §4.2.1)


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """A client request was not taken; ``leader_hint`` is the leader this node believes in."""

    request_id: int
    reason: RejectReason
    leader_hint: NodeId | None


Effect = Persist | PersistSnapshot | Send | Apply | ApplySnapshot | Accepted | ReadReady | Rejected
