"""A follower's log under arbitrary AppendEntries equals a naive list model (Raft §5.3)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from impl.raft.messages import AppendEntries, AppendEntriesResponse
from impl.raft.types import Entry, Index, Term

from .helpers import N1, N2, make_node, received, sends


class NaiveFollower:
    """Figure 2's receiver rules, written as plainly as possible on a list of (term, data)."""

    def __init__(self) -> None:
        self.term = 0
        self.log: list[tuple[int, bytes]] = []

    def append(self, message: AppendEntries) -> bool:
        if message.term < self.term:
            return False
        self.term = message.term
        prev = message.prev_log_index
        if prev > len(self.log):
            return False
        if prev > 0 and self.log[prev - 1][0] != message.prev_log_term:
            return False
        if prev == 0 and message.prev_log_term != 0:
            return False
        for entry in message.entries:
            position = entry.index - 1
            if position < len(self.log) and self.log[position][0] != entry.term:
                del self.log[position:]
            if position >= len(self.log):
                self.log.append((entry.term, entry.data))
        return True


@st.composite
def append_messages(draw: st.DrawFn) -> AppendEntries:
    term = draw(st.integers(1, 4))
    prev_index = draw(st.integers(0, 6))
    prev_term = 0 if prev_index == 0 else draw(st.integers(1, term))
    entries = []
    current = max(prev_term, 1)
    for offset in range(draw(st.integers(0, 3))):
        current = draw(st.integers(current, term))
        entries.append(
            Entry(
                term=Term(current),
                index=Index(prev_index + 1 + offset),
                data=draw(st.sampled_from([b"a", b"b"])),
            )
        )
    return AppendEntries(
        from_id=N2,
        to_id=N1,
        term=Term(term),
        prev_log_index=Index(prev_index),
        prev_log_term=Term(prev_term),
        entries=tuple(entries),
        leader_commit=Index(0),  # nothing commits, so any truncation is legal
    )


@given(st.lists(append_messages(), max_size=25))
def test_follower_log_matches_naive_model(messages: list[AppendEntries]) -> None:
    """Acceptance, truncation and appends agree with the naive rules, message by message."""
    node = make_node(N1)
    model = NaiveFollower()
    for message in messages:
        expected = model.append(message)
        responses = [
            m for m in sends(received(node, message)) if isinstance(m, AppendEntriesResponse)
        ]
        assert len(responses) == 1 and responses[0].success == expected, message
        assert [(e.term, e.data) for e in node.log_entries()] == model.log
        assert node.term == model.term
