"""Simulated per-node storage: what is durable, what is still in flight to the disk.

Theory of operation: a write (``Persist`` or ``PersistSnapshot``) is queued
with the simulated time at which its fsync finishes; writes finish in order,
as on one disk. Until a write is durable, every effect that came after it in
the same ``step`` batch (a Send, a client reply) waits in ``held`` beside it:
this is Rule 2 of THE PERSISTENCE RULE in impl/raft/effects.py, carried out
exactly, no more and no less, so the simulator tests the rule the core
relies on. A crash drops the whole queue, and with it the held effects; the
node restarts from ``restored()``, which reads only durable state.

Rules:
  Rule 1. ``durable_*`` change only in ``complete_next``.
  Rule 2. Durable entries stay contiguous after the snapshot; a write that
          would leave a gap is a broken invariant (assert), never repaired.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from impl.raft.effects import Persist, PersistSnapshot
from impl.raft.types import ClusterConfig, Entry, HardState, RestoredState, Snapshot


@dataclass(slots=True)
class PendingWrite:
    """One write on its way to the disk and the effects that must wait for it."""

    effect: Persist | PersistSnapshot
    done_at: int
    held: list[Any] = field(default_factory=list)


@dataclass(slots=True)
class SimStorage:
    """The durable image of one node plus its queue of unfinished writes."""

    hard_state: HardState = field(default_factory=HardState)
    snapshot: Snapshot | None = None
    entries: list[Entry] = field(default_factory=list)
    pending: deque[PendingWrite] = field(default_factory=deque)  # changed in place, never replaced
    writes_done: int = 0

    @property
    def snapshot_index(self) -> int:
        return self.snapshot.index if self.snapshot is not None else 0

    def submit(self, effect: Persist | PersistSnapshot, done_at: int) -> PendingWrite:
        """Queue a write; it cannot finish before the writes queued ahead of it."""
        if self.pending:
            done_at = max(done_at, self.pending[-1].done_at)
        write = PendingWrite(effect=effect, done_at=done_at)
        self.pending.append(write)
        return write

    def complete_next(self) -> PendingWrite:
        """Make the oldest pending write durable and return it (its held effects may go now)."""
        write = self.pending.popleft()
        match write.effect:
            case Persist() as persist:
                self._write_persist(persist)
            case PersistSnapshot() as persist_snapshot:
                self._write_snapshot(persist_snapshot)
        self.writes_done += 1
        return write

    def crash(self) -> list[PendingWrite]:
        """Lose every write that is not durable yet (and the effects held behind them)."""
        lost = list(self.pending)
        self.pending.clear()
        return lost

    def restored(self, bootstrap: ClusterConfig | None) -> RestoredState:
        return RestoredState(
            hard_state=self.hard_state,
            snapshot=self.snapshot,
            entries=tuple(self.entries),
            bootstrap=bootstrap,
        )

    def _write_persist(self, persist: Persist) -> None:
        if persist.hard_state is not None:
            self.hard_state = persist.hard_state
        if not persist.entries:
            return
        base = self.snapshot_index
        entries = [entry for entry in persist.entries if entry.index > base]
        if not entries:
            return
        offset = entries[0].index - base - 1
        assert offset <= len(self.entries), (
            f"storage: Persist starts at index {entries[0].index} but the durable log ends at "
            f"{base + len(self.entries)}; the log would have a gap"
        )
        # Rule 2 by induction: the kept prefix was contiguous, so checking the new
        # entries and the seam where they join the prefix checks the whole log.
        previous = self.entries[offset - 1].index if offset > 0 else base
        for entry in entries:
            assert entry.index == previous + 1, "storage: Persist entries are not contiguous"
            previous = entry.index
        del self.entries[offset:]
        self.entries.extend(entries)

    def _write_snapshot(self, persist: PersistSnapshot) -> None:
        snapshot = persist.snapshot
        if snapshot.index <= self.snapshot_index:
            return  # an older snapshot than the one we hold; keep the newer one
        if persist.discard_log:
            self.entries = []
        else:
            self.entries = [entry for entry in self.entries if entry.index > snapshot.index]
            if self.entries and self.entries[0].index != snapshot.index + 1:
                self.entries = []  # the durable log does not continue the snapshot
        self.snapshot = snapshot
