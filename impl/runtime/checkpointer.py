"""WAL checkpoints on a thread of their own, so no commit waits for one.

Why: in WAL mode SQLite's default is that the connection whose commit
pushes the WAL past 1000 pages copies the WAL back into the database file
and fsyncs it, inside that commit. Measured on this project's VM with
32 x 1 KiB entries per commit: p50 0.2 ms, but every ~110th commit took
5.5 ms, which was the whole p99 of the replication benchmark at c=32 with
1 KiB payloads. So the writer's own automatic checkpoint is raised to a
safety net (``SAFETY_PAGES``, only reached if this thread falls far
behind), and this thread runs PASSIVE checkpoints on a second connection:
PASSIVE never blocks the writer, and the writer keeps appending while the
pages are copied. Once a checkpoint has copied everything, SQLite's next
write transaction starts the WAL over from its beginning, so the file stays
bounded.

Durability is unchanged: a commit is durable when its WAL fsync returns
(synchronous=FULL); a checkpoint only moves already-durable pages.

Theory of operation: ``note_commit`` (called by the writer after every
commit, a counter increment) and a periodic wake-up (``POLL_S``) drive the
thread; it checkpoints when ``COMMITS_PER_CHECKPOINT`` commits have
accumulated or ``IDLE_CHECKPOINT_S`` passed since the last checkpoint with
anything committed since.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

log = logging.getLogger("sinkron.storage")

SAFETY_PAGES = 16384  # the writer's own wal_autocheckpoint: 64 MiB of 4 KiB pages
POLL_S = 0.05
COMMITS_PER_CHECKPOINT = 128
IDLE_CHECKPOINT_S = 1.0


class WalCheckpointer:
    """A daemon thread with its own connection that checkpoints the WAL of ``path``."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self.checkpoints = 0  # completed checkpoint calls, for tests and curiosity
        self._commits = 0  # commits since the last checkpoint (writer: +1, this thread: reset)
        self._stop = threading.Event()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # The writer's setting: with fsync off (benchmarks only) a checkpoint syncs nothing
        # either, as the writer's own checkpoint did before this thread took them over.
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'OFF'}")
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def note_commit(self) -> None:
        """The writer committed once more (a plain increment: this sits on every commit)."""
        self._commits += 1

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(POLL_S):
            pending = self._commits
            now = time.monotonic()
            if pending >= COMMITS_PER_CHECKPOINT or (pending and now - last >= IDLE_CHECKPOINT_S):
                self._commits -= pending  # commits noted meanwhile stay counted
                last = now
                self.checkpoint()

    def checkpoint(self) -> None:
        try:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error as error:
            # Not fatal: the writer's safety-net checkpoint still bounds the WAL.
            log.warning("background WAL checkpoint failed: %s", error)

    def close(self) -> None:
        """Stop the thread and close its connection (before the writer's closes)."""
        self._stop.set()
        self._thread.join()
        self._db.close()
