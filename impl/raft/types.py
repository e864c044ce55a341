"""Identifiers and records shared by every Raft module.

Theory of operation: these are plain values. An ``Entry`` is immutable once
created; a ``Snapshot`` carries the state machine image plus the membership
in force at its index, so a node restored from it knows who its peers are.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NewType

from impl.raft.fastinit import fast_init

NodeId = NewType("NodeId", str)
Term = NewType("Term", int)
Index = NewType("Index", int)


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class EntryKind(enum.Enum):
    NORMAL = "normal"  # a service command; ``data`` is opaque bytes
    NOOP = "noop"  # appended by a new leader (Raft §8: commit an entry of its own term)
    CONFIG = "config"  # ``config`` holds the full membership that takes effect when appended


# The members again as plain module constants, for the hot path: in Python 3.11 ``Role.LEADER``
# is looked up through ``EnumType.__getattr__``'s slow attribute path (~70 ns, against ~10 ns
# for a global), and a replicated write tests roles and kinds a few dozen times.
FOLLOWER, PRE_CANDIDATE, CANDIDATE, LEADER = (
    Role.FOLLOWER,
    Role.PRE_CANDIDATE,
    Role.CANDIDATE,
    Role.LEADER,
)
NORMAL, NOOP, CONFIG = EntryKind.NORMAL, EntryKind.NOOP, EntryKind.CONFIG


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterConfig:
    """Membership: voters count toward quorums; learners only receive the log (thesis §4.2.1)."""

    voters: frozenset[NodeId]
    learners: frozenset[NodeId] = field(default_factory=frozenset)

    def __str__(self) -> str:
        voters = ",".join(sorted(self.voters))
        learners = ",".join(sorted(self.learners))
        return f"voters={{{voters}}} learners={{{learners}}}"

    @property
    def members(self) -> frozenset[NodeId]:
        return self.voters | self.learners


@fast_init  # one per proposal on the leader and per received entry on a follower
@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    term: Term
    index: Index
    kind: EntryKind = EntryKind.NORMAL
    data: bytes = b""
    config: ClusterConfig | None = None  # set only when kind is CONFIG

    def __str__(self) -> str:
        return f"{self.index}@{self.term}:{self.kind.value}"


@dataclass(frozen=True, slots=True, kw_only=True)
class HardState:
    """What must survive a crash before any vote or append is acknowledged (Raft Figure 2)."""

    term: Term = Term(0)
    voted_for: NodeId | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """A state machine image covering every entry up to and including ``index``."""

    index: Index
    term: Term
    config: ClusterConfig
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoredState:
    """What the runtime (or the simulator) read back from durable storage at start.

    ``entries`` are the log entries after ``snapshot.index`` (or from index 1),
    contiguous. ``bootstrap`` is the membership to use when neither the
    snapshot nor the log holds a CONFIG entry (a brand-new cluster); a node
    joining an existing cluster passes an empty ``bootstrap`` and waits to be
    contacted by a leader.
    """

    hard_state: HardState = field(default_factory=HardState)
    snapshot: Snapshot | None = None
    entries: tuple[Entry, ...] = ()
    bootstrap: ClusterConfig | None = None
