"""The in-memory Raft log: entries after a snapshot boundary, plus membership history.

Theory of operation: the log is a Python list of entries whose first element
has index ``snapshot_index + 1``, so ``term_at`` is O(1) arithmetic. Index 0
(or the snapshot's index) is a sentinel whose term is 0 (or the snapshot's
term), which makes the Log Matching check of Raft §5.3 uniform at the start
of the log. The log also remembers the index of every CONFIG entry it holds,
because a configuration takes effect as soon as it is appended (thesis §4.1)
and must be rolled back if that entry is truncated.

Rules:
  Rule 1. Entries are contiguous and their terms never decrease.
  Rule 2. Nothing at or before ``snapshot_index`` is held as an entry.
  Rule 3. This module never decides *whether* to truncate or compact: node.py
          does, and asserts the reason (committed entries are never removed).
  Rule 4. What is cached from the entries (``entries()``, ``slice()``) is
          dropped by every change to them (``_changed``).
"""

from __future__ import annotations

from collections.abc import Iterable

from impl.raft.types import CONFIG, ClusterConfig, Entry, Index, Snapshot, Term

EMPTY_CONFIG = ClusterConfig(voters=frozenset())
_SLICES_MAX = 32


class RaftLog:
    """Entries after the snapshot boundary; not durable by itself (node.py emits Persist)."""

    __slots__ = (
        "_base_config",
        "_configs",
        "_entries",
        "_entries_view",
        "_slices",
        "last_index",
        "snapshot",
        "snapshot_index",
        "snapshot_term",
    )

    def __init__(
        self,
        *,
        snapshot: Snapshot | None,
        entries: Iterable[Entry],
        bootstrap: ClusterConfig | None,
    ) -> None:
        self.snapshot = snapshot
        self.snapshot_index = Index(0) if snapshot is None else snapshot.index
        self.snapshot_term = Term(0) if snapshot is None else snapshot.term
        self._base_config = snapshot.config if snapshot is not None else (bootstrap or EMPTY_CONFIG)
        self._entries: list[Entry] = []
        self._entries_view: tuple[Entry, ...] | None = None  # cached entries(), reset on change
        # slice() answers by arguments, emptied on change: a leader broadcasting new entries
        # asks for the same ranges once per follower, and the codec encodes a batch it sees
        # again (the same tuple) only once.
        self._slices: dict[tuple[int, int, int, int], tuple[Entry, ...]] = {}
        self._configs: list[tuple[Index, ClusterConfig]] = []
        self.last_index: Index = self.snapshot_index  # kept equal to snapshot_index + len(_entries)
        self.append(tuple(entries))

    # ------------------------------------------------------------------ queries

    @property
    def last_term(self) -> Term:
        return self._entries[-1].term if self._entries else self.snapshot_term

    @property
    def first_index(self) -> Index:
        """The first index held as an entry (last_index + 1 when the log is empty)."""
        return Index(self.snapshot_index + 1)

    def term_at(self, index: int) -> Term | None:
        """The term of the entry at ``index``; None if compacted away or not yet appended."""
        if index == self.snapshot_index:
            return self.snapshot_term
        offset = index - self.snapshot_index - 1
        if 0 <= offset < len(self._entries):
            return self._entries[offset].term
        return None

    def entry(self, index: int) -> Entry:
        offset = index - self.snapshot_index - 1
        assert 0 <= offset < len(self._entries), f"entry {index} is not in the log"
        return self._entries[offset]

    def entries(self) -> tuple[Entry, ...]:
        """All held entries; cached, so observers calling it every step pay once per change."""
        if self._entries_view is None:
            self._entries_view = tuple(self._entries)
        return self._entries_view

    def slice(self, low: int, high: int, *, max_count: int, max_bytes: int) -> tuple[Entry, ...]:
        """Entries low..high inclusive, at most ``max_count`` and about ``max_bytes`` (>= 1 entry)."""
        key = (low, high, max_count, max_bytes)
        cached = self._slices.get(key)
        if cached is not None:
            return cached
        start = low - self.snapshot_index - 1
        stop = min(high - self.snapshot_index, start + max_count)
        assert start >= 0, f"entry {low} was compacted"
        batch = self._entries[start:stop]  # a copy, ours to cut
        if max_bytes and len(batch) > 1:
            size = 0
            for position, entry in enumerate(batch):
                size += len(entry.data) + 16
                if size > max_bytes and position > 0:
                    del batch[position:]
                    break
        result = tuple(batch)
        if len(self._slices) >= _SLICES_MAX:
            # A bound, for a leader whose log does not change for long. The oldest goes,
            # not all: a slice just made for one follower stays for the next.
            del self._slices[next(iter(self._slices))]
        self._slices[key] = result
        return result

    def between(self, low: int, high: int) -> tuple[Entry, ...]:
        """Entries low..high inclusive, all of them (for Persist and Apply)."""
        start = low - self.snapshot_index - 1
        assert start >= 0 and high <= self.last_index, f"entries {low}..{high} are not all held"
        return tuple(self._entries[start : high - self.snapshot_index])

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Raft §5.4.1: a log with a later last term, or the same term and >= length, is newer."""
        return last_term > self.last_term or (
            last_term == self.last_term and last_index >= self.last_index
        )

    def conflict_hint(self, index: int) -> tuple[Term | None, Index]:
        """Fast back-off hint for a rejected AppendEntries at prev ``index`` (Raft §5.3).

        Returns (None, last_index + 1) when our log is too short, else our term at
        ``index`` and the first index we hold with that term.
        """
        if index > self.last_index:
            return None, Index(self.last_index + 1)
        term = self.term_at(index)
        assert term is not None, f"no conflict hint below the snapshot ({index})"
        first = index
        while first - 1 > self.snapshot_index and self.term_at(first - 1) == term:
            first -= 1
        return term, Index(first)

    def last_index_of_term(self, term: int, at_most: int) -> Index | None:
        """The last index <= ``at_most`` whose entry has ``term``; None if we hold no such entry."""
        index = min(at_most, self.last_index)
        while index > self.snapshot_index:
            entry_term = self.entry(index).term
            if entry_term == term:
                return Index(index)
            if entry_term < term:
                return None
            index -= 1
        return None

    # ------------------------------------------------------------------ membership

    @property
    def config(self) -> ClusterConfig:
        """The membership in force: the latest CONFIG entry, even uncommitted (thesis §4.1)."""
        return self._configs[-1][1] if self._configs else self._base_config

    @property
    def config_index(self) -> Index:
        """Index of the latest CONFIG entry in the log (the snapshot index if none is held)."""
        return self._configs[-1][0] if self._configs else self.snapshot_index

    def config_at(self, index: int) -> ClusterConfig:
        for config_index, config in reversed(self._configs):
            if config_index <= index:
                return config
        return self._base_config

    # ------------------------------------------------------------------ mutation

    def _changed(self) -> None:
        """Drop what was cached from the entries: they changed."""
        self._entries_view = None
        if self._slices:
            self._slices.clear()

    def append(self, entries: tuple[Entry, ...]) -> None:
        self._changed()
        expected = self.last_index + 1
        last_term = self.last_term
        for entry in entries:
            assert entry.index == expected, f"append of {entry.index} after {expected - 1}"
            assert entry.term >= last_term, f"entry {entry} goes back from term {last_term}"
            expected += 1
            last_term = entry.term
            if entry.kind is CONFIG:
                assert entry.config is not None, f"CONFIG entry {entry} has no config"
                self._configs.append((entry.index, entry.config))
        self._entries.extend(entries)
        self.last_index = Index(self.snapshot_index + len(self._entries))

    def truncate_from(self, index: int) -> None:
        """Drop every entry at or after ``index`` (Raft §5.3: a conflicting suffix)."""
        assert index > self.snapshot_index, f"cannot truncate into the snapshot at {index}"
        self._changed()
        del self._entries[index - self.snapshot_index - 1 :]
        self.last_index = Index(self.snapshot_index + len(self._entries))
        while self._configs and self._configs[-1][0] >= index:
            self._configs.pop()

    def compact(self, snapshot: Snapshot) -> None:
        """Drop the prefix up to ``snapshot.index``, which this log holds."""
        assert self.snapshot_index < snapshot.index <= self.last_index
        assert self.term_at(snapshot.index) == snapshot.term
        self._changed()
        del self._entries[: snapshot.index - self.snapshot_index]
        self._base_config = snapshot.config
        self._configs = [(i, c) for i, c in self._configs if i > snapshot.index]
        self.snapshot = snapshot
        self.snapshot_index = snapshot.index
        self.snapshot_term = snapshot.term
        assert self.last_index == self.snapshot_index + len(self._entries)

    def restore(self, snapshot: Snapshot) -> None:
        """Replace the whole log with ``snapshot`` (InstallSnapshot that we cannot reconcile)."""
        self._changed()
        self._entries.clear()
        self._configs.clear()
        self._base_config = snapshot.config
        self.snapshot = snapshot
        self.snapshot_index = snapshot.index
        self.snapshot_term = snapshot.term
        self.last_index = snapshot.index
