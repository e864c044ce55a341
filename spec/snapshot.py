"""A frozen picture of a Raft cluster at one instant, the input of spec/invariants.py.

Theory of operation: invariants are pure predicates, so they must not reach
into a live ``RaftNode``. Whoever drives the cluster (the simulator, the
Hypothesis machine) copies what the predicates need into these records:
per node its term, role, vote, commit index, the log entries it still holds
(after its snapshot) and its snapshot point. Properties that span time, such
as "at most one leader per term over the whole run", are checked by
``spec.invariants.Observer``, which is fed these snapshots (and applied
entries) one after another.
"""

from __future__ import annotations

from dataclasses import dataclass

from impl.raft.fastinit import fast_init
from impl.raft.types import Entry, Index, NodeId, Role, Term


@fast_init  # built for every node that changed, at every check
@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSnapshot:
    """One node's Raft state. ``entries`` are contiguous, starting at ``snapshot_index + 1``."""

    id: NodeId
    term: Term
    role: Role
    voted_for: NodeId | None
    commit_index: Index
    applied_index: Index
    snapshot_index: Index
    snapshot_term: Term
    entries: tuple[Entry, ...]

    @property
    def last_index(self) -> int:
        return self.entries[-1].index if self.entries else self.snapshot_index

    def entry_at(self, index: int) -> Entry | None:
        """The entry at ``index`` if this node still holds it (not compacted, not past the end)."""
        offset = index - self.snapshot_index - 1
        if 0 <= offset < len(self.entries):
            return self.entries[offset]
        return None

    def term_at(self, index: int) -> int | None:
        """The term at ``index``, including the snapshot point; None when unknown."""
        if index == self.snapshot_index:
            return self.snapshot_term
        entry = self.entry_at(index)
        return entry.term if entry is not None else None


@fast_init  # built for every node that changed, at every check
@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterSnapshot:
    """The live (not crashed) nodes of a cluster at one instant."""

    nodes: tuple[NodeSnapshot, ...]

    def leaders(self) -> list[NodeSnapshot]:
        return [node for node in self.nodes if node.role is Role.LEADER]
