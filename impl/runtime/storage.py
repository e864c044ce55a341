"""Durable Raft state in SQLite: meta, hard state, log entries, snapshot.

Theory of operation: one database file, ``<data dir>/sinkron.db``, in WAL
mode with ``synchronous=FULL``, so a committed transaction survives power
loss. ``SqliteStore`` is plain blocking code; ``AsyncStorage`` runs it on one
dedicated writer thread and calls the event loop back when a batch is
durable, so fsyncs never stall HTTP or peer traffic.

Checkpoints (copying the WAL back into the database file) run on a thread
and connection of their own (checkpointer.py), never inside a commit: done
by the committing connection, as SQLite does by default, one commit in
~100 took 25 times as long. A lock file in the data directory keeps a
second process off it.

Group commit: ``SqliteStore.write_batch`` takes every ``Persist``/``PersistSnapshot``
collected from many ``RaftNode.step`` calls and applies them in order inside
ONE transaction: one commit, one fsync. Persists replace the log suffix from
their first entry on (effects.py), so applying them in order reproduces the
core's log exactly.

Rules:
  Rule 1. Never start silently empty on a damaged or foreign directory:
          ``open_store`` raises ``StorageError`` naming the file and the
          problem (quick_check failure, wrong cluster or node id, a log with
          holes or one that does not follow the snapshot).
  Rule 2. A brand-new directory is initialised atomically: the schema is
          written to a temporary file that is renamed into place, so a crash
          during initialisation leaves no half-made database behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgpack

from impl.errors import StorageError
from impl.raft.effects import Persist, PersistSnapshot
from impl.raft.types import (
    ClusterConfig,
    Entry,
    EntryKind,
    HardState,
    Index,
    NodeId,
    Snapshot,
    Term,
)
from impl.runtime.checkpointer import SAFETY_PAGES, WalCheckpointer

SCHEMA_VERSION = "1"
DB_NAME = "sinkron.db"
LOCK_NAME = "LOCK"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE hard_state (id INTEGER PRIMARY KEY CHECK (id = 1), term INTEGER NOT NULL,
                         voted_for TEXT);
CREATE TABLE log (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, kind TEXT NOT NULL,
                  data BLOB NOT NULL, config BLOB);
CREATE TABLE snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), idx INTEGER NOT NULL,
                       term INTEGER NOT NULL, config BLOB NOT NULL, data BLOB NOT NULL);
"""

StorageWrite = Persist | PersistSnapshot

INSERT_ROWS_MAX = 256  # log rows per INSERT statement (5 parameters each)
TRIM_ROWS_MIN = 64  # compacted log rows deleted per commit, at least (see ``_trim_bound``)
INLINE_MAX_WRITES = 4  # without fsync, batches this small commit on the event loop
# One full AppendEntries (64 entries, RaftConfig.max_entries_per_append) of 1 KiB commands
# commits faster on the loop than through the writer thread's two hand-offs: at c=32 with
# 1 KiB payloads (a 32 KiB batch) raising these from 16 entries / 16 KiB took fsync-off
# replication from 16.8k to 20.7-22.2k writes/s (interleaved A/B), c=512 and 8192 unchanged.
INLINE_MAX_ENTRIES = 64
INLINE_MAX_BYTES = 128 * 1024
INLINE_MAX_SECONDS = 0.002  # ... while recent commits took less than this


def _small(writes: Sequence[StorageWrite]) -> bool:
    if len(writes) > INLINE_MAX_WRITES:
        return False
    entries = size = 0
    for write in writes:
        if isinstance(write, PersistSnapshot):
            return False
        entries += len(write.entries)
        size += sum(len(e.data) for e in write.entries)
    return entries <= INLINE_MAX_ENTRIES and size <= INLINE_MAX_BYTES


def _plain_append(writes: Sequence[StorageWrite], last_index: int) -> list[Entry] | None:
    """The entries of ``writes`` when the batch is nothing but a contiguous append, else None.

    That is the common group commit (a leader's or follower's new entries): no hard
    state, no snapshot, no overlap with the stored log, at most ``INSERT_ROWS_MAX`` rows.
    """
    entries: list[Entry] = []
    expected = last_index + 1
    for write in writes:
        if type(write) is not Persist or write.hard_state is not None:
            return None
        for entry in write.entries:
            if entry.index != expected:
                return None
            expected += 1
            entries.append(entry)
    if not entries or len(entries) > INSERT_ROWS_MAX:
        return None
    return entries


@functools.lru_cache(maxsize=64)
def _insert_sql(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?)"] * rows)
    return f"INSERT INTO log (idx, term, kind, data, config) VALUES {values}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Loaded:
    hard_state: HardState
    snapshot: Snapshot | None
    entries: tuple[Entry, ...]


def _config_to_blob(config: ClusterConfig) -> bytes:
    return msgpack.packb([sorted(config.voters), sorted(config.learners)])


def _config_from_blob(blob: bytes) -> ClusterConfig:
    voters, learners = msgpack.unpackb(blob, raw=False)
    return ClusterConfig(
        voters=frozenset(NodeId(v) for v in voters), learners=frozenset(NodeId(v) for v in learners)
    )


def _connect(path: Path, *, fsync: bool) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={'FULL' if fsync else 'OFF'}")
    # Checkpoints run on their own thread and connection (checkpointer.py); the
    # writer's own stays as a safety net. Normal locking (not EXCLUSIVE) lets that
    # second connection in; the directory lock (``_lock_directory``) keeps other
    # processes out.
    connection.execute(f"PRAGMA wal_autocheckpoint={SAFETY_PAGES}")
    return connection


def _lock_directory(data_dir: Path) -> int:
    """Hold ``<data dir>/LOCK`` for the store's life; a second node there is refused.

    Raises:
        StorageError: another process (or another store in this one) holds it.
    """
    try:
        fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise StorageError(f"{data_dir / LOCK_NAME}: cannot open the lock file: {error}") from error
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(fd)
        raise _in_use(data_dir / DB_NAME) from error
    return fd


def _in_use(path: Path) -> StorageError:
    return StorageError(
        f"{path}: database is in use by another process (is a node already running on "
        "this data directory?)"
    )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _initialise(path: Path, *, cluster_id: str, node_id: str) -> None:
    temporary = path.with_name(path.name + ".init")
    temporary.unlink(missing_ok=True)
    connection = sqlite3.connect(temporary, isolation_level=None)
    try:
        connection.executescript(_SCHEMA)
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [("schema_version", SCHEMA_VERSION), ("cluster_id", cluster_id), ("node_id", node_id)],
        )
        connection.execute("INSERT INTO hard_state (id, term, voted_for) VALUES (1, 0, NULL)")
        connection.execute("COMMIT")
    finally:
        connection.close()
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


def _entry_row(e: Entry) -> tuple[object, ...]:
    config = None if e.config is None else _config_to_blob(e.config)
    return (e.index, e.term, e.kind.value, e.data, config)


class SqliteStore:
    """Blocking access to one node's database; use it from a single thread."""

    def __init__(
        self, path: Path, connection: sqlite3.Connection, *, fsync: bool = True, lock_fd: int = -1
    ) -> None:
        self.path = path
        self.fsync = fsync
        self._db = connection
        self._lock_fd = lock_fd  # the directory lock, released by close()
        self._last_index: int | None = None  # the log's last stored index, when known
        # Log rows at or below the snapshot's index are dead; they are deleted a chunk per
        # commit (``_trim_bound``). Both unknown (None) until first needed after opening.
        self._dead_upto: int | None = None
        self._lowest = 0  # the lowest stored row's index (or dead_upto + 1 when none is)

    # ------------------------------------------------------------------ open / load

    @classmethod
    def open(
        cls, data_dir: Path, *, cluster_id: str, node_id: str, fsync: bool = True
    ) -> SqliteStore:
        """Open (or initialise) the store in ``data_dir``.

        Raises:
            StorageError: the directory or database is damaged or belongs to
                another cluster or node; the message names the file.
        """
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageError(f"{data_dir}: cannot create the data directory: {error}") from error
        path = data_dir / DB_NAME
        lock_fd = _lock_directory(data_dir)
        try:
            return cls._open_locked(data_dir, path, lock_fd, cluster_id, node_id, fsync)
        except BaseException:
            os.close(lock_fd)
            raise

    @classmethod
    def _open_locked(
        cls, data_dir: Path, path: Path, lock_fd: int, cluster_id: str, node_id: str, fsync: bool
    ) -> SqliteStore:
        if not path.exists():
            for leftover in (DB_NAME + "-wal", DB_NAME + "-journal"):
                if (data_dir / leftover).exists():
                    raise StorageError(
                        f"{data_dir / leftover}: a journal exists but {path} is missing; "
                        "the data directory is damaged (starting empty would forget what it held)"
                    )
            _initialise(path, cluster_id=cluster_id, node_id=node_id)
        try:
            connection = _connect(path, fsync=fsync)
            store = cls(path, connection, fsync=fsync, lock_fd=lock_fd)
            try:
                store._verify(cluster_id=cluster_id, node_id=node_id)
            except BaseException:
                connection.close()
                raise
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
                raise _in_use(path) from error  # another program (not a node) holds it
            raise StorageError(f"{path}: database is damaged ({error})") from error
        return store

    def _verify(self, *, cluster_id: str, node_id: str) -> None:
        rows = [row[0] for row in self._db.execute("PRAGMA quick_check").fetchall()]
        if rows != ["ok"]:
            raise StorageError(f"{self.path}: PRAGMA quick_check failed: {'; '.join(rows)[:500]}")
        tables = {
            r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        missing = {"meta", "hard_state", "log", "snapshot"} - tables
        if missing:
            raise StorageError(
                f"{self.path}: not a Sinkron database (missing tables {sorted(missing)})"
            )
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise StorageError(
                f"{self.path}: schema version {meta.get('schema_version')!r}, "
                f"this node understands {SCHEMA_VERSION!r}"
            )
        if meta.get("cluster_id") != cluster_id:
            raise StorageError(
                f"{self.path}: belongs to cluster {meta.get('cluster_id')!r}, "
                f"not SINKRON_CLUSTER_ID={cluster_id!r}"
            )
        if meta.get("node_id") != node_id:
            raise StorageError(
                f"{self.path}: belongs to node {meta.get('node_id')!r}, "
                f"not SINKRON_NODE_ID={node_id!r}"
            )

    def load(self) -> Loaded:
        """Read everything back, checking the log's shape.

        Raises:
            StorageError: the log has holes, does not follow the snapshot, or
                its terms go backwards.
        """
        try:
            return self._load()
        except (sqlite3.DatabaseError, ValueError, TypeError, msgpack.UnpackException) as error:
            raise StorageError(f"{self.path}: unreadable contents ({error!r})") from error

    def _load(self) -> Loaded:
        row = self._db.execute("SELECT term, voted_for FROM hard_state WHERE id = 1").fetchone()
        if row is None:
            raise StorageError(f"{self.path}: hard state row is missing")
        hard_state = HardState(
            term=Term(row[0]), voted_for=None if row[1] is None else NodeId(row[1])
        )
        snap_row = self._db.execute(
            "SELECT idx, term, config, data FROM snapshot WHERE id = 1"
        ).fetchone()
        snapshot = None
        if snap_row is not None:
            snapshot = Snapshot(
                index=Index(snap_row[0]),
                term=Term(snap_row[1]),
                config=_config_from_blob(snap_row[2]),
                data=bytes(snap_row[3]),
            )
        entries = tuple(
            Entry(
                term=Term(term),
                index=Index(index),
                kind=EntryKind(kind),
                data=bytes(data),
                config=None if config is None else _config_from_blob(config),
            )
            for index, term, kind, data, config in self._db.execute(
                # Rows the snapshot covers may still be stored (deleted lazily): skip them.
                "SELECT idx, term, kind, data, config FROM log WHERE idx > ? ORDER BY idx",
                (snapshot.index if snapshot else 0,),
            )
        )
        self._check_log(snapshot, entries, hard_state)
        return Loaded(hard_state=hard_state, snapshot=snapshot, entries=entries)

    def _check_log(
        self, snapshot: Snapshot | None, entries: Sequence[Entry], hard: HardState
    ) -> None:
        expected_index = (snapshot.index if snapshot else 0) + 1
        previous_term = snapshot.term if snapshot else 0
        for entry in entries:
            if entry.index != expected_index:
                raise StorageError(
                    f"{self.path}: log is not contiguous after the snapshot: expected index "
                    f"{expected_index}, found {entry.index}"
                )
            if entry.term < previous_term:
                raise StorageError(f"{self.path}: log term goes backwards at index {entry.index}")
            expected_index += 1
            previous_term = entry.term
        if previous_term > hard.term:
            raise StorageError(
                f"{self.path}: log holds term {previous_term} above the stored term {hard.term}"
            )

    # ------------------------------------------------------------------ writes

    def write_batch(self, writes: Sequence[StorageWrite]) -> None:
        """Apply ``writes`` in order in one transaction (one fsync).

        Equivalent to applying each write on its own, but cheaper: only the
        last hard state of the batch is written, and a suffix is deleted only
        when an append actually overlaps the log (a contiguous append, the
        common case, is a plain insert of all the batch's entries at once).
        """
        db = self._db
        last_index = self._stored_last_index()
        appended = _plain_append(writes, last_index)
        trim = self._trim_bound(
            len(appended)
            if appended is not None
            else sum(len(w.entries) for w in writes if isinstance(w, Persist))
        )
        if appended is not None and trim is None:
            # One INSERT in autocommit mode is its own transaction, committed (and, with
            # synchronous=FULL, fsynced) like BEGIN ... COMMIT, for a third of the calls.
            try:
                db.execute(_insert_sql(len(appended)), [v for e in appended for v in _entry_row(e)])
            except BaseException:
                self._last_index = None
                raise
            self._last_index = appended[-1].index
            return
        db.execute("BEGIN IMMEDIATE")
        dead_upto = self._dead_upto
        try:
            hard_state: HardState | None = None
            rows: list[tuple[object, ...]] = []
            if trim is not None:
                db.execute("DELETE FROM log WHERE idx <= ?", (trim,))
            for write in writes:
                if isinstance(write, PersistSnapshot):
                    self._insert_rows(rows)
                    self._persist_snapshot(write)
                    dead_upto = max(dead_upto or 0, write.snapshot.index)
                    last_index = (
                        write.snapshot.index
                        if write.discard_log
                        else max(last_index, write.snapshot.index)
                    )
                    continue
                if write.hard_state is not None:
                    hard_state = write.hard_state
                if write.entries:
                    first = write.entries[0].index
                    if first <= last_index:
                        self._insert_rows(rows)
                        db.execute("DELETE FROM log WHERE idx >= ?", (first,))
                    rows.extend(_entry_row(e) for e in write.entries)
                    last_index = write.entries[-1].index
            self._insert_rows(rows)
            if hard_state is not None:
                db.execute(
                    "UPDATE hard_state SET term = ?, voted_for = ? WHERE id = 1",
                    (hard_state.term, hard_state.voted_for),
                )
            db.execute("COMMIT")
        except BaseException:
            self._last_index = None  # unknown after a failed transaction: re-read next time
            self._dead_upto = None
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        self._last_index = last_index
        self._dead_upto = dead_upto
        if trim is not None:
            self._lowest = trim + 1

    def _trim_bound(self, appended: int) -> int | None:
        """The highest dead log row this commit deletes, or None when none is left.

        Compaction used to delete the whole covered prefix in the snapshot's own
        commit: 10,000 rows of 1 KiB took 30-40 ms, a stall every snapshot for
        every write behind it. Now each commit deletes the next dead rows,
        ``TRIM_ROWS_MIN`` or twice as many as it appends, whichever is more, so
        the dead prefix shrinks faster than the log grows and is gone long
        before the next snapshot. ``load`` skips dead rows, so a crash leaves
        nothing wrong behind, only rows still to delete.
        """
        if self._dead_upto is None:  # first commit after opening: read both ends once
            row = self._db.execute("SELECT idx FROM snapshot WHERE id = 1").fetchone()
            self._dead_upto = int(row[0]) if row else 0
            low = self._db.execute("SELECT MIN(idx) FROM log").fetchone()[0]
            self._lowest = int(low) if low is not None else self._dead_upto + 1
        if self._lowest > self._dead_upto:
            return None
        return min(self._dead_upto, self._lowest - 1 + max(TRIM_ROWS_MIN, 2 * appended))

    def _stored_last_index(self) -> int:
        if self._last_index is None:
            row = self._db.execute("SELECT MAX(idx) FROM log").fetchone()
            self._last_index = int(row[0]) if row and row[0] is not None else 0
        return self._last_index

    def _insert_rows(self, rows: list[tuple[object, ...]]) -> None:
        """Insert ``rows`` with one multi-row INSERT per ``INSERT_ROWS_MAX`` rows.

        Not ``executemany``: it steps once per row, and the sqlite3 module takes
        the GIL back after every step. While the event loop thread is busy each
        take waits up to the interpreter's switch interval (5 ms), which turned
        a 1000-entry group commit into hundreds of milliseconds under load.
        """
        for start in range(0, len(rows), INSERT_ROWS_MAX):
            chunk = rows[start : start + INSERT_ROWS_MAX]
            self._db.execute(_insert_sql(len(chunk)), [v for row in chunk for v in row])
        rows.clear()

    def _persist_snapshot(self, write: PersistSnapshot) -> None:
        snapshot = write.snapshot
        self._db.execute(
            "INSERT OR REPLACE INTO snapshot (id, idx, term, config, data) VALUES (1, ?, ?, ?, ?)",
            (snapshot.index, snapshot.term, _config_to_blob(snapshot.config), snapshot.data),
        )
        if write.discard_log:
            # Entries beyond the snapshot contradict it: they go now. Those it covers
            # are dead rows like any compacted prefix, deleted a chunk per commit.
            self._db.execute("DELETE FROM log WHERE idx > ?", (snapshot.index,))

    def close(self) -> None:
        self._db.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the directory lock
            self._lock_fd = -1


class AsyncStorage:
    """Runs a ``SqliteStore`` on one dedicated thread; ``submit`` calls back on the loop.

    Without fsync, small batches commit on the event loop thread instead: a
    commit of a few rows that waits for no disk costs less than the two thread
    wake-ups around it, and those sit on every write's path at low load
    (follower persist, then acknowledge). The recent commit time must also be
    short (``INLINE_MAX_SECONDS``), so a struggling disk sends even those back
    to the thread. With fsync on every commit goes to the thread: an fsync can
    take a second on a busy disk, and the loop must keep serving heartbeats
    meanwhile (``write_now`` says which). Either way a batch is durable, as the
    store is configured, before ``write_now`` returns or ``submit`` calls back.
    """

    def __init__(
        self,
        store: SqliteStore,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        on_commit: Callable[[float, int], None] | None = None,
    ) -> None:
        self.store = store
        self._loop = loop  # the loop ``submit`` calls back on; None: the running one
        self._checkpointer = WalCheckpointer(store.path, fsync=store.fsync)
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._work, name="sqlite-writer", daemon=True)
        self._writer.start()
        self._on_commit = on_commit
        self._recent_s = float("inf")  # recent commit time; unknown until the first commit

    def submit(self, writes: list[StorageWrite], done: Callable[[float | Exception], None]) -> None:
        """Commit ``writes`` on the writer thread; then ``done(seconds or error)`` on the loop.

        The node's path for every commit that needs the disk: one hand-off to
        the thread and one ``call_soon_threadsafe`` back, with no future, task
        or event in between (each of those cost the loop an extra iteration on
        every write's path, at both ends of a replication round trip).
        """
        loop = self._loop or asyncio.get_running_loop()

        def commit() -> None:
            outcome: float | Exception
            try:
                outcome = self._timed_write(writes)
            except Exception as error:  # handed to the loop, which stops the node
                outcome = error
            loop.call_soon_threadsafe(done, outcome)

        self._jobs.put(commit)  # no Future, no executor bookkeeping: this is every commit

    def write_now(self, writes: Sequence[StorageWrite]) -> float | None:
        """Commit ``writes`` on this thread if that needs no disk wait; else None (no-op)."""
        if not self.store.fsync and self._recent_s < INLINE_MAX_SECONDS and _small(writes):
            return self._timed_write(list(writes))
        return None

    def _timed_write(self, writes: list[StorageWrite]) -> float:
        started = time.perf_counter()
        self.store.write_batch(writes)
        elapsed = time.perf_counter() - started
        self._checkpointer.note_commit()
        # A slow commit counts at once, a fast one only gradually: back to the thread fast.
        recent = self._recent_s
        self._recent_s = (
            elapsed
            if elapsed > recent or recent == float("inf")
            else (0.8 * recent + 0.2 * elapsed)
        )
        if self._on_commit is not None:
            self._on_commit(elapsed, len(writes))
        return elapsed

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        closed: asyncio.Future[None] = loop.create_future()

        def close_on_writer() -> None:
            try:
                self._checkpointer.close()
                self.store.close()
            finally:
                loop.call_soon_threadsafe(closed.set_result, None)

        self._jobs.put(close_on_writer)  # after every commit already handed over
        self._jobs.put(None)
        await closed
        await asyncio.to_thread(self._writer.join)

    def _work(self) -> None:
        """The writer thread: run handed-over jobs in order until told to stop (None)."""
        while (job := self._jobs.get()) is not None:
            job()
