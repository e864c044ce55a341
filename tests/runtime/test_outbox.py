"""Coalescing AppendEntries: the merged batch equals what the leader would send at once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from impl.raft.messages import AppendEntries, AppendEntriesResponse, Message
from impl.raft.types import Entry, Index, NodeId, Term
from impl.runtime.outbox import merge_appends


def _append(
    prev: int, count: int, *, term: int = 2, commit: int = 0, ctx: int = 0
) -> AppendEntries:
    entries = tuple(
        Entry(term=Term(term), index=Index(prev + 1 + i), data=b"x") for i in range(count)
    )
    return AppendEntries(
        from_id=NodeId("n1"),
        to_id=NodeId("n2"),
        term=Term(term),
        prev_log_index=Index(prev),
        prev_log_term=Term(term if prev else 0),
        entries=entries,
        leader_commit=Index(commit),
        read_context=ctx,
    )


def test_continuing_appends_merge_into_one_batch_with_the_latest_commit() -> None:
    """Three appends that continue each other become one carrying all entries."""
    merged = merge_appends(
        [_append(0, 1, commit=0), _append(1, 2, commit=1), _append(3, 1, commit=2)],
        max_entries=64,
        max_bytes=1 << 20,
    )
    assert len(merged) == 1
    only = merged[0]
    assert isinstance(only, AppendEntries)
    assert [e.index for e in only.entries] == [1, 2, 3, 4]
    assert (only.prev_log_index, only.leader_commit) == (0, 2)


def test_heartbeats_and_other_messages_are_kept_in_place() -> None:
    """A heartbeat (ReadIndex round) or a response breaks a run and is never merged."""
    response = AppendEntriesResponse(
        from_id=NodeId("n1"), to_id=NodeId("n2"), term=Term(2), success=True
    )
    heartbeat = _append(2, 0, ctx=7)
    messages: list[Message] = [_append(0, 1), heartbeat, _append(1, 1), response, _append(2, 1)]
    assert merge_appends(messages, max_entries=64, max_bytes=1 << 20) == messages


def test_merging_respects_the_batch_limit() -> None:
    """No merged message carries more than max_entries entries."""
    merged = merge_appends([_append(i, 1) for i in range(10)], max_entries=4, max_bytes=1 << 20)
    assert [len(m.entries) for m in merged if isinstance(m, AppendEntries)] == [4, 4, 2]


@given(st.lists(st.sampled_from(["next", "gap", "beat"]), max_size=12))
def test_merged_messages_carry_the_same_entries_in_the_same_order(kinds: list[str]) -> None:
    """Merging never drops, duplicates or reorders an entry (compared with the naive list)."""
    messages: list[Message] = []
    last = 0
    for kind in kinds:
        if kind == "beat":
            messages.append(_append(last, 0, ctx=len(messages) + 1))
            continue
        if kind == "gap":
            last += 5
        messages.append(_append(last, 1))
        last += 1
    merged = merge_appends(messages, max_entries=3, max_bytes=1 << 20)

    def flatten(items: list[Message]) -> list[int]:
        return [e.index for m in items if isinstance(m, AppendEntries) for e in m.entries]

    assert flatten(merged) == flatten(messages)
    beats = [m for m in merged if isinstance(m, AppendEntries) and m.is_heartbeat]
    assert len(beats) == min(1, kinds.count("beat"))
    if beats:
        assert merged[-1] is beats[0]  # the latest round goes last, after every append
        assert beats[0].read_context == max(
            m.read_context for m in messages if isinstance(m, AppendEntries)
        )


def test_leader_heartbeats_collapse_into_the_latest_round_after_the_appends() -> None:
    """Sixty-four ReadIndex rounds in one iteration reach the follower as one heartbeat:
    acknowledging the latest round confirms every earlier one (read_ack keeps the maximum)."""
    beats = [_append(3, 0, ctx=round, commit=2) for round in range(1, 65)]
    messages: list[Message] = [beats[0], _append(3, 1), *beats[1:], _append(4, 1)]
    merged = merge_appends(messages, max_entries=64, max_bytes=1 << 20)
    assert len(merged) == 2
    first, last = merged
    assert isinstance(first, AppendEntries) and [e.index for e in first.entries] == [4, 5]
    assert last == beats[-1]
