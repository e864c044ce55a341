"""SQLite storage: round trips, group commit, crash consistency, refusal of damaged dirs."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
from impl.runtime.storage import DB_NAME, TRIM_ROWS_MIN, AsyncStorage, SqliteStore

CONFIG = ClusterConfig(voters=frozenset({NodeId("n1"), NodeId("n2"), NodeId("n3")}))


def _entries(first: int, last: int, term: int, size: int = 8) -> tuple[Entry, ...]:
    return tuple(
        Entry(term=Term(term), index=Index(i), data=bytes([i % 256]) * size)
        for i in range(first, last + 1)
    )


def _open(path: Path, cluster: str = "c", node: str = "n1") -> SqliteStore:
    return SqliteStore.open(path, cluster_id=cluster, node_id=node)


def test_new_directory_initialises_empty(tmp_path: Path) -> None:
    """A brand-new data directory yields empty state, not an error."""
    loaded = _open(tmp_path / "data").load()
    assert loaded.hard_state == HardState()
    assert loaded.snapshot is None
    assert loaded.entries == ()


def test_writes_round_trip_with_suffix_replacement(tmp_path: Path) -> None:
    """What was committed is what a reopened store loads, with later persists replacing the suffix."""
    store = _open(tmp_path)
    config_entry = Entry(term=Term(1), index=Index(4), kind=EntryKind.CONFIG, config=CONFIG)
    store.write_batch(
        [
            Persist(
                hard_state=HardState(term=Term(1), voted_for=NodeId("n2")),
                entries=_entries(1, 3, 1),
            ),
            Persist(hard_state=None, entries=(config_entry,)),
        ]
    )
    store.write_batch([Persist(hard_state=HardState(term=Term(2)), entries=_entries(3, 5, 2))])
    store.close()
    loaded = _open(tmp_path).load()
    assert loaded.hard_state == HardState(term=Term(2), voted_for=None)
    assert loaded.entries == _entries(1, 2, 1) + _entries(3, 5, 2)


def test_group_commit_is_one_atomic_transaction(tmp_path: Path) -> None:
    """A batch whose last write fails leaves none of the batch behind (one transaction)."""
    store = _open(tmp_path)
    good = [Persist(hard_state=HardState(term=Term(1)), entries=())]
    good += [Persist(hard_state=None, entries=_entries(i, i, 1)) for i in range(1, 50)]
    with pytest.raises(AttributeError):
        store.write_batch([*good, object()])  # type: ignore[list-item]
    assert store.load().entries == ()
    store.write_batch(good)
    assert store.load().entries == _entries(1, 49, 1)


def test_a_plain_append_is_one_autocommit_statement_and_reads_back(tmp_path: Path) -> None:
    """The common group commit (contiguous entries, no hard state) is a single INSERT
    statement, its own transaction; anything else still runs inside BEGIN ... COMMIT."""
    store = _open(tmp_path)
    store.write_batch([Persist(hard_state=HardState(term=Term(1)), entries=_entries(1, 2, 1))])
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    store.write_batch([Persist(hard_state=None, entries=_entries(i, i, 1)) for i in (3, 4, 5)])
    assert [s.split()[0] for s in statements] == ["INSERT"]
    statements.clear()
    store.write_batch([Persist(hard_state=None, entries=_entries(5, 6, 1))])  # overlaps 5
    assert statements[0].split()[0] == "BEGIN"
    store._db.set_trace_callback(None)
    store.close()
    assert _open(tmp_path).load().entries == _entries(1, 6, 1)


def test_async_storage_commits_many_persists_with_one_fsync(tmp_path: Path) -> None:
    """AsyncStorage reports one commit carrying every write of the batch."""
    commits: list[int] = []

    async def scenario() -> None:
        storage = AsyncStorage(
            _open(tmp_path), on_commit=lambda seconds, writes: commits.append(writes)
        )
        writes = [Persist(hard_state=HardState(term=Term(1)), entries=())]
        writes += [Persist(hard_state=None, entries=_entries(i, i, 1)) for i in range(1, 64)]
        committed: asyncio.Future[float | Exception] = asyncio.get_running_loop().create_future()
        storage.submit(writes, committed.set_result)
        assert not isinstance(await committed, Exception)
        await storage.close()

    asyncio.run(scenario())
    assert commits == [64]
    assert len(_open(tmp_path).load().entries) == 63


def test_snapshot_drops_the_covered_prefix(tmp_path: Path) -> None:
    """PersistSnapshot keeps only entries after its index; discard_log keeps none."""
    store = _open(tmp_path)
    store.write_batch([Persist(hard_state=HardState(term=Term(3)), entries=_entries(1, 10, 3))])
    snapshot = Snapshot(index=Index(6), term=Term(3), config=CONFIG, data=b"image")
    store.write_batch([PersistSnapshot(snapshot=snapshot, discard_log=False)])
    loaded = store.load()
    assert loaded.snapshot == snapshot
    assert loaded.entries == _entries(7, 10, 3)
    later = Snapshot(index=Index(20), term=Term(3), config=CONFIG, data=b"newer")
    store.write_batch([PersistSnapshot(snapshot=later, discard_log=True)])
    loaded = store.load()
    assert (loaded.snapshot, loaded.entries) == (later, ())


_WRITER = """
import sys
from pathlib import Path
from impl.raft.effects import Persist
from impl.raft.types import Entry, HardState, Index, Term
from impl.runtime.storage import SqliteStore
store = SqliteStore.open(Path(sys.argv[1]), cluster_id="c", node_id="n1")
index = 0
while True:
    batch = []
    for _ in range(40):
        index += 1
        batch.append(Persist(hard_state=HardState(term=Term(index // 100 + 1)),
                             entries=(Entry(term=Term(index // 100 + 1), index=Index(index), data=b"x" * 300),)))
    store.write_batch(batch)
    print(index, flush=True)
"""


def test_kill_9_mid_batch_loses_nothing_committed_and_reopens_consistent(tmp_path: Path) -> None:
    """After SIGKILL during group commits, every acknowledged batch is there and the log is whole."""
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert process.stdout is not None
    acknowledged = 0
    for line in process.stdout:
        acknowledged = int(line)
        if acknowledged >= 40 * 15:
            break
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    loaded = _open(tmp_path).load()  # raises StorageError if inconsistent
    assert len(loaded.entries) >= acknowledged
    assert [e.index for e in loaded.entries] == list(range(1, len(loaded.entries) + 1))
    assert loaded.hard_state.term >= loaded.entries[-1].term


def _filled(path: Path) -> Path:
    store = _open(path)
    store.write_batch(
        [Persist(hard_state=HardState(term=Term(1)), entries=_entries(1, 300, 1, size=1000))]
    )
    store.close()
    return path / DB_NAME


def test_refuses_foreign_cluster_id(tmp_path: Path) -> None:
    """A directory written by another cluster is refused, naming the file and both ids."""
    _filled(tmp_path)
    with pytest.raises(
        StorageError, match=r"sinkron\.db: belongs to cluster 'c', not SINKRON_CLUSTER_ID='other'"
    ):
        _open(tmp_path, cluster="other")


def test_refuses_another_nodes_directory(tmp_path: Path) -> None:
    """n2 must not start on n1's data."""
    _filled(tmp_path)
    with pytest.raises(StorageError, match="belongs to node 'n1'"):
        _open(tmp_path, node="n2")


def test_refuses_truncated_database(tmp_path: Path) -> None:
    """A database file cut short is damaged: refuse, never start empty."""
    db = _filled(tmp_path)
    with open(db, "r+b") as handle:
        handle.truncate(db.stat().st_size // 2)
    with pytest.raises(StorageError, match=r"sinkron\.db"):
        _open(tmp_path).load()


def test_refuses_empty_database_file(tmp_path: Path) -> None:
    """A zero-length sinkron.db holds no Sinkron schema and is refused."""
    (tmp_path / DB_NAME).write_bytes(b"")
    with pytest.raises(StorageError, match="not a Sinkron database"):
        _open(tmp_path)


def test_refuses_corrupt_page(tmp_path: Path) -> None:
    """Garbage written over a b-tree page fails PRAGMA quick_check."""
    db = _filled(tmp_path)
    with open(db, "r+b") as handle:
        handle.seek(4096 * 3)
        handle.write(b"\xde\xad\xbe\xef" * 1024)
    with pytest.raises(StorageError, match=r"sinkron\.db.*(quick_check|damaged|malformed)"):
        _open(tmp_path).load()


def test_refuses_log_with_a_hole(tmp_path: Path) -> None:
    """A missing entry in the middle of the log is detected at load."""
    db = _filled(tmp_path)
    connection = sqlite3.connect(db)
    connection.execute("DELETE FROM log WHERE idx = 150")
    connection.commit()
    connection.close()
    with pytest.raises(StorageError, match=r"not contiguous.*expected index 150, found 151"):
        _open(tmp_path).load()


def test_refuses_journal_without_database(tmp_path: Path) -> None:
    """A WAL file with no database next to it means the database was lost: refuse."""
    (tmp_path / (DB_NAME + "-wal")).write_bytes(b"x" * 100)
    with pytest.raises(StorageError, match="journal exists"):
        _open(tmp_path)


@st.composite
def _batches(draw: st.DrawFn) -> list[list[Persist]]:
    """Batches of persists as a Raft node would issue them: appends start at most one past the end."""
    batches: list[list[Persist]] = []
    last, term = 0, 0
    for _ in range(draw(st.integers(1, 5))):
        batch: list[Persist] = []
        for _ in range(draw(st.integers(1, 6))):
            bumped = draw(st.booleans())
            term += int(bumped)  # a new term is always persisted with its first use (Raft Fig. 2)
            first = draw(st.integers(max(1, last - 3), last + 1))
            count = draw(st.integers(0, 3))
            hard = HardState(term=Term(term)) if bumped or draw(st.booleans()) else None
            entries = _entries(first, first + count - 1, term) if count else ()
            batch.append(Persist(hard_state=hard, entries=entries))
            if entries:
                last = entries[-1].index
        batches.append(batch)
    return batches


def _naive_apply(log: dict[int, Entry], hard: HardState, batch: list[Persist]) -> HardState:
    for write in batch:
        if write.hard_state is not None:
            hard = write.hard_state
        if write.entries:
            for index in [i for i in log if i >= write.entries[0].index]:
                del log[index]
            log.update({e.index: e for e in write.entries})
    return hard


@given(batches=_batches())
def test_group_commit_equals_applying_each_persist_alone(batches: list[list[Persist]]) -> None:
    """The optimised batch writer (one hard-state update, deletes only on overlap) stores
    exactly what applying every Persist one by one would (compared with a naive model)."""
    with tempfile.TemporaryDirectory() as directory:
        store = _open(Path(directory))
        log: dict[int, Entry] = {}
        hard = HardState()
        for batch in batches:
            store.write_batch(batch)
            hard = _naive_apply(log, hard, batch)
            loaded = store.load()
            assert loaded.entries == tuple(log[i] for i in sorted(log))
            assert loaded.hard_state.term == hard.term
        store.close()


def test_a_second_store_on_a_directory_in_use_is_refused(tmp_path: Path) -> None:
    """The running node holds its database exclusively: a second node there cannot start."""
    first = SqliteStore.open(tmp_path, cluster_id="c", node_id="n1")
    first.load()
    try:
        with pytest.raises(StorageError, match="in use by another process"):
            SqliteStore.open(tmp_path, cluster_id="c", node_id="n1")
    finally:
        first.close()
    SqliteStore.open(tmp_path, cluster_id="c", node_id="n1").close()  # free again once closed


def test_compaction_deletes_the_covered_prefix_a_chunk_per_later_commit(tmp_path: Path) -> None:
    """The snapshot's commit deletes no log rows (that was a 30-40 ms stall at 10,000 x 1 KiB);
    the following commits delete them, faster than they append, while every load in between
    already sees only the entries after the snapshot, also after a reopen."""
    store = _open(tmp_path)
    store.write_batch([Persist(hard_state=HardState(term=Term(1)), entries=_entries(1, 1000, 1))])
    snapshot = Snapshot(index=Index(900), term=Term(1), config=CONFIG, data=b"image")
    store.write_batch([PersistSnapshot(snapshot=snapshot, discard_log=False)])

    def dead_rows() -> int:
        return int(store._db.execute("SELECT COUNT(*) FROM log WHERE idx <= 900").fetchone()[0])

    assert dead_rows() == 900
    assert store.load().entries == _entries(901, 1000, 1)
    index, commits = 1001, 0
    while dead_rows():
        store.write_batch([Persist(hard_state=None, entries=_entries(index, index, 1))])
        index, commits = index + 1, commits + 1
        assert store.load().entries == _entries(901, index - 1, 1)
        if commits == 3:  # a reopen mid-way resumes the deletion where it stands
            store.close()
            store = _open(tmp_path)
    assert commits <= 900 // TRIM_ROWS_MIN + 1
    later = Snapshot(index=Index(index + 5), term=Term(1), config=CONFIG, data=b"newer")
    store.write_batch([PersistSnapshot(snapshot=later, discard_log=True)])
    assert (store.load().snapshot, store.load().entries) == (later, ())
    store.write_batch([Persist(hard_state=None, entries=_entries(index + 6, index + 6, 1))])
    assert store.load().entries == _entries(index + 6, index + 6, 1)
    store.close()
