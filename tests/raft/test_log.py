"""RaftLog: O(1) term lookup, log matching, conflict truncation, compaction and membership."""

from __future__ import annotations

import pytest

from impl.raft.log import RaftLog
from impl.raft.types import ClusterConfig, Entry, EntryKind, Index, NodeId, Snapshot, Term

BOOT = ClusterConfig(voters=frozenset({NodeId("n1"), NodeId("n2"), NodeId("n3")}))
WIDE = ClusterConfig(voters=BOOT.voters, learners=frozenset({NodeId("n4")}))


def entries(*terms: int, start: int = 1) -> tuple[Entry, ...]:
    return tuple(Entry(term=Term(t), index=Index(start + i)) for i, t in enumerate(terms))


def make_log(*terms: int) -> RaftLog:
    return RaftLog(snapshot=None, entries=entries(*terms), bootstrap=BOOT)


def test_term_at_has_sentinel_and_bounds() -> None:
    """Index 0 has term 0; indexes past the end are unknown (None)."""
    log = make_log(1, 1, 2)
    assert [log.term_at(i) for i in range(5)] == [0, 1, 1, 2, None]
    assert (log.last_index, log.last_term) == (3, 2)


def test_append_rejects_gaps_and_term_regressions() -> None:
    """Log entries are contiguous and their terms never decrease (asserted)."""
    log = make_log(1, 2)
    with pytest.raises(AssertionError):
        log.append(entries(2, start=4))
    with pytest.raises(AssertionError):
        log.append(entries(1, start=3))


def test_truncate_drops_suffix_and_rolls_back_config() -> None:
    """A truncated CONFIG entry no longer decides membership (thesis §4.1: config on append)."""
    log = make_log(1)
    log.append((Entry(term=Term(2), index=Index(2), kind=EntryKind.CONFIG, config=WIDE),))
    log.append(entries(2, start=3))
    assert log.config == WIDE and log.config_index == 2
    log.truncate_from(2)
    assert log.last_index == 1 and log.config == BOOT and log.config_index == 0


def test_compact_keeps_boundary_term_and_config() -> None:
    """After compaction the snapshot index keeps its term and the config in force at it."""
    log = make_log(1)
    log.append((Entry(term=Term(1), index=Index(2), kind=EntryKind.CONFIG, config=WIDE),))
    log.append(entries(2, 3, start=3))
    log.compact(Snapshot(index=Index(3), term=Term(2), config=log.config_at(3), data=b"s"))
    assert log.term_at(2) is None and log.term_at(3) == 2 and log.term_at(4) == 3
    assert log.config == WIDE and log.first_index == 4
    assert [e.index for e in log.entries()] == [4]


def test_restore_replaces_everything() -> None:
    """Installing a snapshot that does not match leaves an empty log after it."""
    log = make_log(1, 1, 1)
    log.restore(Snapshot(index=Index(10), term=Term(4), config=WIDE, data=b""))
    assert (log.last_index, log.last_term, log.config) == (10, 4, WIDE)
    assert log.entries() == ()


def test_conflict_hint_short_log_and_conflicting_term() -> None:
    """A short log hints last+1; a conflict hints our term there and its first index (Raft §5.3)."""
    log = make_log(1, 2, 2, 2, 3)
    assert log.conflict_hint(9) == (None, 6)
    assert log.conflict_hint(4) == (2, 2)
    assert log.conflict_hint(5) == (3, 5)


def test_last_index_of_term() -> None:
    """The leader finds its last entry of the follower's conflicting term, or None."""
    log = make_log(1, 2, 2, 4, 4)
    assert log.last_index_of_term(2, 5) == 3
    assert log.last_index_of_term(3, 5) is None
    assert log.last_index_of_term(4, 4) == 4


def test_slice_respects_count_and_bytes_but_sends_at_least_one() -> None:
    """Batches obey max_entries_per_append and max_append_bytes, yet never stall on a big entry."""
    log = RaftLog(
        snapshot=None,
        entries=tuple(Entry(term=Term(1), index=Index(i), data=b"x" * 100) for i in range(1, 11)),
        bootstrap=BOOT,
    )
    assert len(log.slice(1, 10, max_count=3, max_bytes=1 << 20)) == 3
    assert len(log.slice(1, 10, max_count=64, max_bytes=250)) == 2
    assert len(log.slice(1, 10, max_count=64, max_bytes=1)) == 1


def test_up_to_date_comparison() -> None:
    """Raft §5.4.1: later last term wins; equal terms compare length."""
    log = make_log(1, 2, 2)
    assert log.is_up_to_date(3, 2) and log.is_up_to_date(1, 3) and log.is_up_to_date(9, 2)
    assert not log.is_up_to_date(2, 2) and not log.is_up_to_date(9, 1)
