"""Codec: every message survives msgpack; anything malformed raises RemoteProtocolError only."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from impl.errors import RemoteProtocolError
from impl.raft.codec import message_from_wire, message_to_wire
from impl.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
)
from impl.raft.types import ClusterConfig, Entry, EntryKind, Index, NodeId, Snapshot, Term

node_ids = st.sampled_from([NodeId(f"n{i}") for i in range(1, 6)])
small = st.integers(0, 1_000)


@st.composite
def configs(draw: st.DrawFn) -> ClusterConfig:
    members = draw(st.lists(node_ids, unique=True, max_size=5))
    split = draw(st.integers(0, len(members)))
    return ClusterConfig(voters=frozenset(members[:split]), learners=frozenset(members[split:]))


@st.composite
def entry_batches(draw: st.DrawFn, term: int) -> tuple[int, int, tuple[Entry, ...]]:
    prev_index = draw(small)
    prev_term = draw(st.integers(0, term))
    result = []
    current = prev_term
    for offset in range(draw(st.integers(0, 4))):
        current = draw(st.integers(current, term))
        kind = draw(st.sampled_from(list(EntryKind)))
        result.append(
            Entry(
                term=Term(current),
                index=Index(prev_index + 1 + offset),
                kind=kind,
                data=draw(st.binary(max_size=8)) if kind is EntryKind.NORMAL else b"",
                config=draw(configs()) if kind is EntryKind.CONFIG else None,
            )
        )
    return prev_index, prev_term, tuple(result)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    term = Term(draw(small))
    head: dict[str, Any] = {"from_id": draw(node_ids), "to_id": draw(node_ids), "term": term}
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return RequestVote(
            **head,
            last_log_index=Index(draw(small)),
            last_log_term=Term(draw(small)),
            pre_vote=draw(st.booleans()),
            leadership_transfer=draw(st.booleans()),
        )
    if kind == 1:
        return RequestVoteResponse(
            **head, vote_granted=draw(st.booleans()), pre_vote=draw(st.booleans())
        )
    if kind == 2:
        prev_index, prev_term, entries = draw(entry_batches(term))
        heartbeat = not entries and draw(st.booleans())
        return AppendEntries(
            **head,
            prev_log_index=Index(prev_index),
            prev_log_term=Term(prev_term),
            entries=entries,
            leader_commit=Index(draw(small)),
            read_context=draw(st.integers(1, 99)) if heartbeat else 0,
        )
    if kind == 3:
        return AppendEntriesResponse(
            **head,
            success=draw(st.booleans()),
            match_index=Index(draw(small)),
            reject_index=Index(draw(small)),
            conflict_term=draw(st.none() | small.map(Term)),
            conflict_index=Index(draw(small)),
            read_context=draw(small),
        )
    if kind == 4:
        snapshot = Snapshot(
            index=Index(draw(small)),
            term=Term(draw(small)),
            config=draw(configs()),
            data=draw(st.binary(max_size=16)),
        )
        return InstallSnapshot(**head, snapshot=snapshot)
    if kind == 5:
        return InstallSnapshotResponse(**head, match_index=Index(draw(small)))
    return TimeoutNow(**head)


def through_msgpack(obj: Any) -> Any:
    return msgpack.unpackb(msgpack.packb(obj, use_bin_type=True), raw=False)


@given(messages())
def test_round_trip_through_msgpack(message: Message) -> None:
    """decode(unpack(pack(encode(m)))) == m for every message kind."""
    assert message_from_wire(through_msgpack(message_to_wire(message))) == message


@given(messages(), st.data())
def test_corrupted_field_raises_remote_protocol_error(
    message: Message, data: st.DataObject
) -> None:
    """Replacing any field with a value of the wrong type is reported as the peer's fault."""
    wire = through_msgpack(message_to_wire(message))
    position = data.draw(st.integers(0, len(wire) - 1))
    bad: Any = data.draw(st.sampled_from([None, -1, "x", b"\xff", 1.5, [], {"a": 1}, True, 2**70]))
    wire[position] = bad
    try:
        decoded = message_from_wire(wire)
    except RemoteProtocolError:
        return
    # A few substitutions are still valid (e.g. a bool where a bool is expected).
    assert message_to_wire(decoded) == wire


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=3) | st.binary(max_size=3),
        lambda children: st.lists(children, max_size=8),
        max_leaves=20,
    )
)
def test_garbage_never_raises_anything_else(obj: Any) -> None:
    """Arbitrary msgpack values decode to a message or raise RemoteProtocolError, nothing else."""
    try:
        decoded = message_from_wire(obj)
    except RemoteProtocolError as error:
        assert "malformed" in str(error)
        return
    assert isinstance(decoded, Message.__args__)


def test_specific_malformed_messages_are_rejected() -> None:
    """Gaps in a batch, configs on normal entries, unknown tags, negative terms are refused."""
    good = message_to_wire(
        AppendEntries(
            from_id=NodeId("n1"),
            to_id=NodeId("n2"),
            term=Term(3),
            prev_log_index=Index(5),
            prev_log_term=Term(2),
            entries=(Entry(term=Term(3), index=Index(6)), Entry(term=Term(3), index=Index(7))),
            leader_commit=Index(5),
        )
    )
    assert isinstance(message_from_wire(good), AppendEntries)
    gap = [*good[:6], [good[6][0], [3, 8, 0, b"", None]], *good[7:]]
    config_on_normal = [*good[:6], [[3, 6, 0, b"", [["n1"], []]]], *good[7:]]
    future_term = [*good[:6], [[4, 6, 0, b"", None]], *good[7:]]
    for bad in (
        gap,
        config_on_normal,
        future_term,
        [99, "n1", "n2", 1],
        [7, "n1", "n2", -1],
        [7, "", "n2", 1],
        [7, "n1", "n2", 1, "extra"],
        "not a list",
        [],
        [2, "n1", "n2", 1, True],
    ):
        with pytest.raises(RemoteProtocolError):
            message_from_wire(bad)


def test_str_is_one_stable_line() -> None:
    """Traces use etcd-style one-liners (STYLE.md §3)."""
    append = AppendEntries(
        from_id=NodeId("n1"),
        to_id=NodeId("n2"),
        term=Term(3),
        prev_log_index=Index(5),
        prev_log_term=Term(2),
        entries=(Entry(term=Term(3), index=Index(6)),),
        leader_commit=Index(5),
    )
    assert str(append) == "n1->n2 AppendEntries term=3 prev=5/2 entries=[6@3] commit=5"
    vote = RequestVote(
        from_id=NodeId("n2"),
        to_id=NodeId("n1"),
        term=Term(4),
        last_log_index=Index(6),
        last_log_term=Term(3),
        pre_vote=True,
    )
    assert str(vote) == "n2->n1 PreVote term=4 last=6/3"


_ENTRY_PARTS = st.one_of(
    st.integers(min_value=-2, max_value=3),
    st.sampled_from([True, False, None, 1 << 63, (1 << 63) - 1, 1.0, "0", b"", b"x"]),
    st.binary(max_size=4),
    st.just(bytearray(b"ab")),
    st.lists(st.lists(st.text(min_size=1, max_size=2), max_size=2), max_size=2),
)


@given(st.one_of(st.lists(_ENTRY_PARTS, min_size=4, max_size=6), st.tuples(_ENTRY_PARTS)))
def test_entry_fast_path_decodes_exactly_like_the_full_checks(value: Any) -> None:
    """The NORMAL-entry fast path returns what the full checks return, and raises when they do."""
    from impl.raft.codec import _entry_from_wire, _entry_from_wire_checked

    def outcome(decode: Any) -> Any:
        try:
            return decode(value)
        except RemoteProtocolError:
            return "rejected"
        except (TypeError, ValueError) as error:  # message_from_wire's safety net maps these
            return type(error)

    assert outcome(_entry_from_wire) == outcome(_entry_from_wire_checked)


def test_entry_fast_path_takes_the_common_entry_and_refuses_lookalikes() -> None:
    """A bool term, a bytearray payload or a config on a NORMAL entry do not take the fast path."""
    from impl.raft.codec import _entry_from_wire

    assert _entry_from_wire([2, 5, 0, b"cmd", None]) == Entry(
        term=Term(2), index=Index(5), data=b"cmd"
    )
    for bad in ([True, 5, 0, b"c", None], [2, 5, 0, b"c", [["n1"], []]], [2, -1, 0, b"c", None]):
        with pytest.raises(RemoteProtocolError):
            _entry_from_wire(bad)
    assert _entry_from_wire([2, 5, 0, bytearray(b"c"), None]).data == b"c"
