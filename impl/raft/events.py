"""Inputs of ``RaftNode.step``: everything that can happen to a node.

Theory of operation: a node learns about the world only through these
events. Time is ``Tick``; the network is ``Received``; clients are
``Propose``, ``ProposeConfigChange``, ``ReadIndex`` and ``TransferLeadership``;
the disk is ``Persisted``; the service asks for compaction with ``CompactLog``.
``request_id`` values are chosen by the caller and come back unchanged in the
matching effect, so the caller can pair replies with requests.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from impl.raft.fastinit import fast_init
from impl.raft.types import Index, NodeId, Term

if TYPE_CHECKING:
    from impl.raft.messages import Message


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """One unit of logical time; election and heartbeat timeouts are counted in ticks."""


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """A message from a peer arrived (possibly late, duplicated or reordered)."""

    message: Message


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Propose:
    """Append ``data`` (a service command) to the log, if this node is the leader."""

    request_id: int
    data: bytes


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ProposeBatch:
    """Several proposals at once: the same as stepping each ``Propose`` in order, except that
    the leader appends them together and sends each follower one AppendEntries for all of
    them (up to its batch limits) instead of one per proposal. A runtime gathers the
    proposals that arrive in one loop iteration into one ``ProposeBatch``.
    """

    proposals: tuple[Propose, ...]


class ConfigChangeKind(enum.Enum):
    ADD_LEARNER = "add-learner"
    PROMOTE = "promote"  # learner -> voter, once caught up
    REMOVE = "remove"  # voter or learner; removing the leader is allowed


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ProposeConfigChange:
    """A single-server membership change (thesis §4.1); one may be uncommitted at a time."""

    request_id: int
    kind: ConfigChangeKind
    node: NodeId


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ReadIndex:
    """Ask for a linearizable read point (thesis §6.4); answered by ``ReadReady`` or ``Rejected``."""

    request_id: int


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TransferLeadership:
    """Hand leadership to ``to`` (thesis §3.10): catch it up, then send TimeoutNow."""

    request_id: int
    to: NodeId


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Persisted:
    """Storage acknowledgement: every Persist up to the entry (index, term) is durable.

    The leader counts its own log toward a commit quorum only up to the
    index acknowledged here.
    """

    index: Index
    term: Term


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class CompactLog:
    """The service took a snapshot at ``index`` (<= applied index); drop the log prefix."""

    index: Index
    data: bytes


Event = (
    Tick
    | Received
    | Propose
    | ProposeBatch
    | ProposeConfigChange
    | ReadIndex
    | TransferLeadership
    | Persisted
    | CompactLog
)
