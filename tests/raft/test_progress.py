"""Progress: probe / replicate / snapshot states and the bounded in-flight window."""

from __future__ import annotations

import pytest

from impl.raft.progress import Inflights, Progress, ProgressState
from impl.raft.types import Index


def make_progress(capacity: int = 3) -> Progress:
    return Progress(next_index=Index(5), inflights=Inflights(capacity=capacity))


def test_probe_sends_one_append_at_a_time() -> None:
    """In PROBE the leader waits for an answer before sending again."""
    progress = make_progress()
    assert not progress.is_paused()
    progress.sent_entries(Index(7), 3)
    assert progress.is_paused() and progress.next_index == 5  # no optimistic advance


def test_inflight_window_is_bounded() -> None:
    """In REPLICATE at most ``capacity`` batches are unacknowledged; acks free the window."""
    progress = make_progress(capacity=3)
    progress.maybe_update(Index(4))
    progress.become_replicate()
    for last in (6, 8, 10):
        assert not progress.is_paused()
        progress.sent_entries(Index(last), 2)
    assert progress.is_paused() and progress.next_index == 11
    with pytest.raises(AssertionError):
        progress.inflights.add(12)
    progress.maybe_update(Index(8))
    assert progress.inflights.count == 1 and not progress.is_paused()
    progress.inflights.free_first()
    assert progress.inflights.count == 0


def test_stale_rejections_are_ignored() -> None:
    """A rejection that does not answer the latest probe leaves next_index alone (Rule 3)."""
    progress = make_progress()
    progress.sent_entries(Index(5), 1)
    assert not progress.maybe_decrement(Index(2), Index(1))
    assert progress.next_index == 5
    assert progress.maybe_decrement(Index(4), Index(2))
    assert progress.next_index == 2 and not progress.is_paused()


def test_next_index_never_drops_to_match_index() -> None:
    """However low the hint, next_index stays above match_index (Rule 2)."""
    progress = make_progress()
    progress.maybe_update(Index(3))
    progress.next_index = Index(8)
    progress.sent_entries(Index(9), 1)
    assert progress.maybe_decrement(Index(7), Index(1))
    assert progress.next_index == 4


def test_replicate_rejection_falls_back_to_probe() -> None:
    """A real rejection in REPLICATE means the pipeline broke: probe again from the hint."""
    progress = make_progress()
    progress.maybe_update(Index(4))
    progress.become_replicate()
    progress.sent_entries(Index(6), 2)
    assert not progress.maybe_decrement(Index(4), Index(1))  # at or below match: stale
    assert progress.maybe_decrement(Index(6), Index(5))
    assert progress.state is ProgressState.PROBE and progress.next_index == 5


def test_snapshot_state_pauses_until_answered() -> None:
    """While a snapshot is in flight nothing else is sent; afterwards replication resumes after it."""
    progress = make_progress()
    progress.become_snapshot(Index(20))
    assert progress.is_paused()
    assert not progress.maybe_decrement(Index(4), Index(1))
    progress.become_probe()
    assert progress.state is ProgressState.PROBE and progress.next_index == 21
