"""The WAL is checkpointed by its own thread, so commits never pay for it and the WAL stays bounded."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from impl.raft.effects import Persist
from impl.raft.types import Entry, HardState, Index, Term
from impl.runtime import checkpointer
from impl.runtime.storage import DB_NAME, AsyncStorage, SqliteStore

PAGE = 4096


def _commit_many(storage: AsyncStorage, first: int, commits: int, size: int) -> int:
    """``commits`` single-entry appends from index ``first``; returns the next index."""
    for index in range(first, first + commits):
        entry = Entry(term=Term(1), index=Index(index), data=b"x" * size)
        storage._timed_write([Persist(hard_state=None, entries=(entry,))])
    return first + commits


def test_background_checkpoints_keep_the_wal_bounded_without_the_writer(tmp_path: Path) -> None:
    """12 MiB of commits: the writer's own autocheckpoint (64 MiB) never fires, yet the
    checkpoint thread copies the WAL back often enough that it restarts and stays small;
    every entry reads back."""

    async def scenario() -> tuple[int, int]:
        store = SqliteStore.open(tmp_path, cluster_id="c", node_id="n1", fsync=False)
        storage = AsyncStorage(store)
        storage._timed_write([Persist(hard_state=HardState(term=Term(1)), entries=())])
        index = 1
        for _ in range(15):  # 15 x 200 commits of 4 KiB: 3000 commits, ~12 MiB of pages
            index = _commit_many(storage, index, 200, PAGE)
            time.sleep(2 * checkpointer.POLL_S)  # the thread polls; let it run
        wal = (tmp_path / (DB_NAME + "-wal")).stat().st_size
        done = storage._checkpointer.checkpoints
        await storage.close()
        return wal, done

    wal_bytes, checkpoints = asyncio.run(scenario())
    assert checkpoints >= 3
    # Unchecked it would hold every page written (~37 MiB here); a loaded
    # machine may delay the thread a few rounds, each adding at most ~1.6 MiB.
    assert wal_bytes < 10 * 1024 * 1024, f"WAL grew to {wal_bytes} bytes: never restarted"
    reopened = SqliteStore.open(tmp_path, cluster_id="c", node_id="n1")
    assert len(reopened.load().entries) == 3000
    reopened.close()


def test_a_checkpoint_thread_that_lags_leaves_commits_correct(tmp_path: Path) -> None:
    """With the thread never checkpointing, commits still land (the writer's safety net
    checkpoint stays far away) and read back after reopening."""
    store = SqliteStore.open(tmp_path, cluster_id="c", node_id="n1", fsync=False)

    async def scenario() -> None:
        storage = AsyncStorage(store)
        storage._checkpointer.close()  # stopped at once: nothing but the writer checkpoints
        storage._checkpointer = _Idle()  # type: ignore[assignment]
        storage._timed_write([Persist(hard_state=HardState(term=Term(1)), entries=())])
        _commit_many(storage, 1, 500, 64)
        await storage.close()

    asyncio.run(scenario())
    reopened = SqliteStore.open(tmp_path, cluster_id="c", node_id="n1")
    assert [e.index for e in reopened.load().entries] == list(range(1, 501))
    reopened.close()


class _Idle:
    checkpoints = 0

    def note_commit(self) -> None:
        pass

    def close(self) -> None:
        pass
