"""RaftLog.slice caches its last answer; whatever changes the log in between, a slice equals a
fresh one (log.py), and an unchanged log answers a repeated slice with the same tuple."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from impl.raft.log import RaftLog
from impl.raft.types import ClusterConfig, Entry, Index, NodeId, Snapshot, Term

BOOT = ClusterConfig(voters=frozenset({NodeId("n1")}))


def fresh_slice(
    held: tuple[Entry, ...], low: int, high: int, max_count: int, max_bytes: int
) -> tuple[Entry, ...]:
    """What slice() promises, from the held entries alone."""
    batch = [e for e in held if low <= e.index <= high][:max_count]
    if max_bytes and len(batch) > 1:
        size = 0
        for position, entry in enumerate(batch):
            size += len(entry.data) + 16
            if size > max_bytes and position > 0:
                return tuple(batch[:position])
    return tuple(batch)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 4), st.booleans()),
        st.tuples(st.just("truncate"), st.integers(0, 3)),
        st.tuples(st.just("compact"), st.integers(0, 3)),
        st.tuples(st.just("restore"), st.integers(0, 3)),
        st.tuples(
            st.just("slice"), st.integers(0, 5), st.integers(1, 4), st.sampled_from([0, 20, 40])
        ),
    ),
    max_size=30,
)


@given(operations)
def test_slice_equals_a_fresh_slice_whatever_changed_since(ops: list[tuple]) -> None:
    """Appends, truncations, compactions and restores never leave a stale cached slice."""
    log = RaftLog(snapshot=None, entries=(), bootstrap=BOOT)
    term = 1
    for op in ops:
        if op[0] == "append":
            term += op[2]
            first = log.last_index + 1
            log.append(
                tuple(
                    Entry(term=Term(term), index=Index(first + i), data=b"x" * (8 * i))
                    for i in range(op[1])
                )
            )
        elif op[0] == "truncate" and log.last_index - op[1] > log.snapshot_index:
            log.truncate_from(log.last_index - op[1])
        elif op[0] == "compact" and log.snapshot_index + op[1] + 1 <= log.last_index:
            index = log.snapshot_index + op[1] + 1
            term_at = log.term_at(index)
            assert term_at is not None
            log.compact(Snapshot(index=Index(index), term=term_at, config=BOOT, data=b""))
        elif op[0] == "restore":
            index = log.last_index + op[1]
            log.restore(Snapshot(index=Index(index), term=Term(term), config=BOOT, data=b""))
        elif op[0] == "slice" and log.last_index > log.snapshot_index:
            low = min(log.snapshot_index + 1 + op[1], log.last_index)
            got = log.slice(low, log.last_index, max_count=op[2], max_bytes=op[3])
            assert got == fresh_slice(log.entries(), low, log.last_index, op[2], op[3])
            again = log.slice(low, log.last_index, max_count=op[2], max_bytes=op[3])
            assert again is got
