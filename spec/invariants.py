"""Raft's safety properties (Raft Figure 3) as pure predicates.

Theory of operation: each predicate takes plain values (``ClusterSnapshot``s
and entries), returns True when the property holds, and raises
``InvariantViolation`` (an ``AssertionError``) with a message a person can
read when it does not. One style everywhere: callers may write
``assert election_safety(snapshot)`` or just call it; either way a violation
surfaces as an AssertionError naming the property, the nodes and the index.

Rules:
  Rule 1. Predicates never mutate their inputs and never look at a live node.
  Rule 2. A snapshot shows one instant, so properties over time (one leader
          per term for the whole run, a leader never rewrites its log,
          committed entries are never lost) are checked by ``Observer``,
          which accumulates what it has seen and calls the same predicates.
  Rule 3. No false alarms: when a node no longer holds an entry (compacted
          into its snapshot) the predicates skip it rather than guess.

The five properties (Raft §5.2-§5.4, Figure 3):
  election_safety      at most one leader can be elected in a given term.
  leader_append_only   a leader never overwrites or deletes entries in its log.
  log_matching         if two logs contain an entry with the same index and
                       term, the logs are identical in all entries up through
                       that index.
  leader_completeness  if an entry is committed in a given term, it is present
                       in the logs of the leaders of all higher-numbered terms.
  state_machine_safety if a server has applied an entry at an index, no other
                       server ever applies a different entry for that index.
And one step below election safety, the rule that makes it hold:
  one_vote_per_term    each server will vote for at most one candidate in a
                       given term (Raft §5.2), even across crashes, which is
                       why the vote is durable before it is sent (Figure 2).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from impl.raft.fastinit import fast_init
from impl.raft.types import Entry, NodeId, Role
from spec.snapshot import ClusterSnapshot, NodeSnapshot


class InvariantViolation(AssertionError):
    """A Raft safety property does not hold; the message names the property first."""


def _fail(prop: str, message: str) -> InvariantViolation:
    return InvariantViolation(f"{prop}: {message}")


def election_safety(snapshot: ClusterSnapshot) -> bool:
    """At most one node is leader in any term at this instant (Raft §5.2)."""
    seen: dict[int, NodeId] = {}
    for node in snapshot.leaders():
        other = seen.setdefault(node.term, node.id)
        if other != node.id:
            raise _fail(
                "election_safety", f"{other} and {node.id} are both leader in term {node.term}"
            )
    return True


def _check_pair_matches(a: NodeSnapshot, b: NodeSnapshot) -> None:
    a_base, b_base = a.snapshot_index, b.snapshot_index
    low = max(a_base, b_base) + 1
    high = min(a.last_index, b.last_index)
    # Find the highest index both logs hold with the same term; every entry
    # below it must then be identical (Raft §5.3, Log Matching). Indices in
    # low..high are held by both, so their terms are read straight from the entries.
    a_entries, b_entries = a.entries, b.entries
    top = high
    while top >= low and a_entries[top - a_base - 1].term != b_entries[top - b_base - 1].term:
        top -= 1
    if top < low:
        return  # no shared (index, term) above both snapshots: nothing to compare
    # Fast path: compare the two slices at once (tuple equality tries identity first).
    slice_a = a_entries[low - a_base - 1 : top - a_base]
    slice_b = b_entries[low - b_base - 1 : top - b_base]
    if slice_a == slice_b:
        return
    for index in range(top, low - 1, -1):
        entry_a, entry_b = a.entry_at(index), b.entry_at(index)
        if entry_a != entry_b:
            raise _fail(
                "log_matching",
                f"{a.id} and {b.id} agree on the term at index {top} "
                f"but differ at index {index}: {entry_a} vs {entry_b}",
            )


def log_matching(snapshot: ClusterSnapshot) -> bool:
    """Logs that share an (index, term) are identical up to that index (Raft §5.3)."""
    nodes = snapshot.nodes
    for i, a in enumerate(nodes):
        for b in nodes[i + 1 :]:
            _check_pair_matches(a, b)
    return True


def leader_append_only(before: ClusterSnapshot, after: ClusterSnapshot) -> bool:
    """A node that is leader of the same term at both instants only appended (Raft §5.3)."""
    earlier = {node.id: node for node in before.leaders()}
    for node in after.leaders():
        old = earlier.get(node.id)
        if old is None or old.term != node.term:
            continue
        _check_only_appended(old, node)
    return True


def _check_only_appended(old: NodeSnapshot, node: NodeSnapshot) -> None:
    if node.last_index < old.last_index:
        raise _fail(
            "leader_append_only",
            f"leader {node.id} of term {node.term} shrank its log from "
            f"{old.last_index} to {node.last_index}",
        )
    # Fast path: the entries both snapshots hold, compared at once (identity first).
    low = max(old.snapshot_index, node.snapshot_index) + 1
    held_before = old.entries[low - old.snapshot_index - 1 :]
    held_now = node.entries[low - node.snapshot_index - 1 : old.last_index - node.snapshot_index]
    if held_before == held_now:
        return
    for entry in old.entries:
        now = node.entry_at(entry.index)
        if now is not None and now != entry:
            raise _fail(
                "leader_append_only",
                f"leader {node.id} of term {node.term} replaced {entry} with {now}",
            )


def one_vote_per_term(votes: Iterable[tuple[NodeId, int, NodeId]]) -> bool:
    """No (voter, term) grants its vote to two candidates (Raft §5.2); votes are (voter, term, candidate)."""
    granted: dict[tuple[NodeId, int], NodeId] = {}
    for voter, term, candidate in votes:
        other = granted.setdefault((voter, term), candidate)
        if other != candidate:
            raise _fail(
                "one_vote_per_term",
                f"{voter} voted for {other} and for {candidate} in term {term}",
            )
    return True


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class CommittedEntry:
    """An entry known to be committed, and the lowest term of a node that knew it."""

    entry: Entry
    known_in_term: int


def leader_completeness(
    snapshot: ClusterSnapshot,
    committed: Mapping[int, CommittedEntry],
    committed_index_max: int | None = None,
) -> bool:
    """Every leader holds every entry committed in an earlier term (Raft §5.4, Figure 3).

    ``known_in_term`` is the term of a node that already counted the entry
    as committed; the entry was therefore committed in that term or before,
    so every leader of a strictly higher term must hold it. Pass
    ``committed_index_max`` (the highest key of ``committed``) to skip
    scanning the whole map; entries a leader compacted are not checked.
    """
    top = max(committed, default=0) if committed_index_max is None else committed_index_max
    for leader in snapshot.leaders():
        _check_holds_committed(leader, committed, range(leader.snapshot_index + 1, top + 1))
    return True


def _check_holds_committed(
    leader: NodeSnapshot, committed: Mapping[int, CommittedEntry], indices: Iterable[int]
) -> None:
    """leader_completeness for one leader over ``indices`` (ascending, above its snapshot)."""
    for index in indices:
        known = committed.get(index)
        if known is None or known.known_in_term >= leader.term:
            continue
        held = leader.entry_at(index)
        if held != known.entry:
            raise _fail(
                "leader_completeness",
                f"leader {leader.id} of term {leader.term} holds {held} at index "
                f"{index}, but {known.entry} was committed by term {known.known_in_term}",
            )


def state_machine_safety(applied: Mapping[NodeId, Iterable[Entry]]) -> bool:
    """No two nodes apply different entries at the same index (Raft §5.4.3)."""
    first: dict[int, tuple[NodeId, Entry]] = {}
    for node_id, entries in applied.items():
        for entry in entries:
            other = first.setdefault(entry.index, (node_id, entry))
            if other[1] != entry:
                raise _fail(
                    "state_machine_safety",
                    f"{other[0]} applied {other[1]} but {node_id} applied {entry} "
                    f"at index {entry.index}",
                )
    return True


@dataclass(slots=True)
class Observer:
    """Accumulates what a run has shown, to check properties that span time.

    Feed it every role change (``observe_role``, cheap: call after every
    step), every applied batch (``observe_applied``) and, as often as you can
    afford, whole snapshots (``observe_snapshot``). Each method raises
    ``InvariantViolation`` at the first violation.
    """

    leaders_by_term: dict[int, NodeId] = field(default_factory=dict)
    committed: dict[int, CommittedEntry] = field(default_factory=dict)
    applied: dict[int, tuple[NodeId, Entry]] = field(default_factory=dict)
    votes: dict[tuple[NodeId, int], NodeId] = field(default_factory=dict)
    committed_index_max: int = 0
    previous: ClusterSnapshot | None = None
    snapshots_seen: int = 0
    _commit_scanned: dict[NodeId, int] = field(default_factory=dict)

    def observe_role(self, node_id: NodeId, role: Role, term: int) -> None:
        """Election safety over the whole run: one leader per term, ever (Raft §5.2)."""
        if role is not Role.LEADER:
            return
        other = self.leaders_by_term.setdefault(term, node_id)
        if other != node_id:
            raise _fail("election_safety", f"{other} and {node_id} were both leader in term {term}")

    def observe_vote(self, voter: NodeId, term: int, candidate: NodeId) -> None:
        """A granted (real, not pre-) vote left ``voter``: one per term, ever (Raft §5.2)."""
        other = self.votes.setdefault((voter, term), candidate)
        if other != candidate:
            one_vote_per_term([(voter, term, other), (voter, term, candidate)])

    def observe_committed(self, node_id: NodeId, entry: Entry, term: int) -> None:
        """Record ``entry`` as committed; two different committed entries at one index is fatal."""
        known = self.committed.get(entry.index)
        if known is None:
            self.committed[entry.index] = CommittedEntry(entry=entry, known_in_term=term)
            self.committed_index_max = max(self.committed_index_max, entry.index)
            return
        if known.entry != entry:
            raise _fail(
                "state_machine_safety",
                f"{node_id} committed {entry} at index {entry.index}, "
                f"but {known.entry} was committed there by term {known.known_in_term}",
            )
        if term < known.known_in_term:
            self.committed[entry.index] = CommittedEntry(entry=entry, known_in_term=term)

    def observe_applied(self, node_id: NodeId, entries: Iterable[Entry], term: int) -> None:
        """State machine safety, incrementally: compare with the first applier of each index."""
        for entry in entries:
            other = self.applied.setdefault(entry.index, (node_id, entry))
            if other[1] != entry:
                raise _fail(
                    "state_machine_safety",
                    f"{other[0]} applied {other[1]} but {node_id} applied {entry} "
                    f"at index {entry.index}",
                )
            self.observe_committed(node_id, entry, term)

    def _observe_node(self, node: NodeSnapshot) -> None:
        """Its role (election safety) and the entries it newly knows committed."""
        self.observe_role(node.id, node.role, node.term)
        scanned = self._commit_scanned.get(node.id, 0)
        if scanned > node.commit_index:  # the node restarted and forgot its commit index
            scanned = 0
        for index in range(max(node.snapshot_index, scanned) + 1, node.commit_index + 1):
            entry = node.entry_at(index)
            if entry is not None:
                self.observe_committed(node.id, entry, node.term)
        self._commit_scanned[node.id] = node.commit_index

    def observe_snapshot(self, snapshot: ClusterSnapshot) -> None:
        """Run every instant predicate, plus the ones that compare with the last snapshot."""
        self.snapshots_seen += 1
        for node in snapshot.nodes:
            self._observe_node(node)
        election_safety(snapshot)
        log_matching(snapshot)
        leader_completeness(snapshot, self.committed, self.committed_index_max)
        if self.previous is not None:
            leader_append_only(self.previous, snapshot)
        self.previous = snapshot


def _only_appended(old: NodeSnapshot, new: NodeSnapshot) -> bool:
    """``new`` holds every entry of ``old`` above its own snapshot point, unchanged."""
    if new.snapshot_index < old.snapshot_index or new.last_index < old.last_index:
        return False
    kept = old.entries[new.snapshot_index - old.snapshot_index :]  # above new's snapshot
    return kept == new.entries[: len(kept)]


def _same_log(a: NodeSnapshot, b: NodeSnapshot) -> bool:
    """The log part of two node snapshots is the same value (``is``: one shared tuple)."""
    return (
        a.entries is b.entries
        and a.snapshot_index == b.snapshot_index
        and a.snapshot_term == b.snapshot_term
    )


@dataclass(slots=True)
class IncrementalObserver(Observer):
    """An ``Observer`` whose ``observe_snapshot`` redoes only the work whose inputs changed.

    Same verdicts, same first violation and message as ``Observer`` on every
    sequence of calls (tests/sim/test_incremental_observer.py runs both on
    random simulations, with and without injected violations). Why skipping is
    sound: every predicate is a function of values, and ``_trusted`` is the
    last snapshot that passed every check (None after a violation, so the next
    call checks everything). A node whose log part (snapshot point and entries
    tuple) is the *same object* as in ``_trusted`` has the same log, since
    snapshots are immutable; the simulator reuses a node's ``NodeSnapshot``
    and its ``RaftLog``'s entries tuple while nothing changed, and holding
    ``_trusted`` keeps those objects alive, so ``is`` never matches a recycled id.

    * observe_role and the committed scan: a node object identical to the one
      in ``_trusted`` was fed to them then; repeating it changes nothing.
    * log_matching: a pair of nodes whose logs both equal their logs in
      ``_trusted`` passed then; pairs are checked in the same order, so the
      first failing pair is the same one.
    * leader_completeness: a leader of the same term as in ``_trusted`` whose
      log only grew since (every entry it held then, above its snapshot point,
      is unchanged) passed for the committed map of then, so only the indices
      whose committed record changed since (``_committed_changes``) are
      checked, ascending, so the first failing index is the same one. Its new
      entries need no check of their own: at an index it did not hold then,
      the check passed only because nothing was committed there by an older
      term, and if that changed, the index is in ``_committed_changes``.
    * leader_append_only: a leader whose log did not change only appended.
    * election_safety: cheap, always run in full (unless nothing changed).
    * nothing changed (the same node objects, in the same order, and no
      committed record changed): every predicate sees the values that passed.
    """

    _trusted: ClusterSnapshot | None = None
    _committed_changes: list[int] = field(default_factory=list)  # indices, in change order
    _changes_checked: int = 0  # len(_committed_changes) when ``_trusted`` passed
    _trusted_by_id: dict[NodeId, NodeSnapshot] = field(default_factory=dict)

    def observe_committed(self, node_id: NodeId, entry: Entry, term: int) -> None:
        known = self.committed.get(entry.index)
        Observer.observe_committed(self, node_id, entry, term)
        if self.committed.get(entry.index) is not known:
            self._committed_changes.append(entry.index)

    def observe_snapshot(self, snapshot: ClusterSnapshot) -> None:
        self.snapshots_seen += 1
        trusted, self._trusted = self._trusted, None  # set again only if every check passes
        nodes = snapshot.nodes
        no_news = self._changes_checked == len(self._committed_changes)
        if trusted is not None and no_news and _same_objects(nodes, trusted.nodes):
            # The very values that passed last time, and no new commits: nothing to redo.
            self.previous = self._trusted = snapshot
            return
        before = self._trusted_by_id if trusted is not None else {}
        same_log: set[NodeId] = set()
        for node in nodes:
            old = before.get(node.id)
            if old is not None and _same_log(old, node):
                same_log.add(node.id)
            if node is not old:
                self._observe_node(node)
        election_safety(snapshot)
        if len(same_log) < len(nodes):
            for i, a in enumerate(nodes):
                a_same = a.id in same_log
                for b in nodes[i + 1 :]:
                    if not (a_same and b.id in same_log):
                        _check_pair_matches(a, b)
        leaders = snapshot.leaders()
        changed = sorted(set(self._committed_changes[self._changes_checked :]))
        for leader in leaders:
            old = before.get(leader.id)
            indices: Iterable[int]
            if (
                old is not None
                and old.role is Role.LEADER
                and old.term == leader.term
                and (leader.id in same_log or _only_appended(old, leader))
            ):
                indices = [index for index in changed if index > leader.snapshot_index]
            else:
                indices = range(leader.snapshot_index + 1, self.committed_index_max + 1)
            _check_holds_committed(leader, self.committed, indices)
        if self.previous is not None:
            earlier = {node.id: node for node in self.previous.leaders()}
            for leader in leaders:
                old = earlier.get(leader.id)
                if old is None or old.term != leader.term:
                    continue
                if not (trusted is self.previous and leader.id in same_log):
                    _check_only_appended(old, leader)
        self.previous = self._trusted = snapshot
        self._trusted_by_id = {node.id: node for node in nodes}
        self._changes_checked = len(self._committed_changes)


def _same_objects(a: tuple[NodeSnapshot, ...], b: tuple[NodeSnapshot, ...]) -> bool:
    return len(a) == len(b) and all(map(operator.is_, a, b))
