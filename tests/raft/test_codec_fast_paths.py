"""The codec's fast paths agree with its full checks (codec.py Rule 3); a batch is encoded once
for every follower it goes to (Rule 4)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from impl.errors import RemoteProtocolError
from impl.raft.codec import _decode, _decode_fast, message_from_wire, message_to_wire
from impl.raft.config import RaftConfig
from impl.raft.effects import Send
from impl.raft.events import Propose, ProposeBatch, Received
from impl.raft.messages import AppendEntries, AppendEntriesResponse, Message
from impl.raft.node import RaftNode
from impl.raft.types import Entry, EntryKind, Index, NodeId, Term

from .helpers import N1, N2, N3, make_leader, make_node
from .test_codec import messages, through_msgpack

BAD_VALUES: list[Any] = [
    None,
    -1,
    0,
    1,
    "x",
    "",
    b"\xff",
    1.0,
    [],
    (),
    {"a": 1},
    True,
    False,
    2**63,
    2**70,
]


def outcome(decode: Any, obj: Any) -> Any:
    """What ``decode`` makes of ``obj``, as a comparable value (repr tells 1 from True)."""
    try:
        return repr(decode(obj))
    except RemoteProtocolError:
        return "rejected"
    except (TypeError, ValueError) as error:  # message_from_wire's safety net maps these
        return type(error)


def replication_messages() -> st.SearchStrategy[Message]:
    return messages().filter(lambda m: isinstance(m, (AppendEntries, AppendEntriesResponse)))


@st.composite
def corrupted_wires(draw: st.DrawFn) -> Any:
    """The wire form of a replication message, with up to two fields or entry parts replaced."""
    wire = through_msgpack(message_to_wire(draw(replication_messages())))
    for _ in range(draw(st.integers(0, 2))):
        bad = draw(st.sampled_from(BAD_VALUES))
        entries = wire[6] if wire[0] == 3 and isinstance(wire[6], list) else []
        in_entry: bool = draw(st.booleans())
        if entries and in_entry:
            entry = entries[draw(st.integers(0, len(entries) - 1))]
            if isinstance(entry, list) and entry:
                entry[draw(st.integers(0, len(entry) - 1))] = bad
            continue
        wire[draw(st.integers(0, len(wire) - 1))] = bad
    if draw(st.integers(0, 9)) == 0:
        shorter: bool = draw(st.booleans())
        wire = wire[:-1] if shorter else [*wire, 0]
    return wire


@given(corrupted_wires())
def test_fast_decode_returns_what_the_full_checks_return_or_defers(wire: Any) -> None:
    """Whenever the fast path decodes a wire form, the full checks decode it to the same message."""
    fast = _decode_fast(wire)
    if fast is not None:
        assert repr(fast) == outcome(_decode, wire)
    assert outcome(message_from_wire, wire) == outcome(_decode, wire)


@given(replication_messages())
def test_fast_decode_takes_every_replication_message_with_normal_entries(message: Message) -> None:
    """The usual traffic (NORMAL entries, responses) never falls back to the full checks."""
    if isinstance(message, AppendEntries) and any(
        e.kind is not EntryKind.NORMAL for e in message.entries
    ):
        return
    wire = through_msgpack(message_to_wire(message))
    assert _decode_fast(wire) == message


def test_fast_decode_refuses_lookalikes() -> None:
    """A bool term, a float tag or index, a tuple entry or a gap go to the full checks."""
    good = [3, "n1", "n2", 2, 4, 1, [[2, 5, 0, b"c", None]], 4, 0]
    assert _decode_fast(good) == AppendEntries(
        from_id=NodeId("n1"),
        to_id=NodeId("n2"),
        term=Term(2),
        prev_log_index=Index(4),
        prev_log_term=Term(1),
        entries=(Entry(term=Term(2), index=Index(5), data=b"c"),),
        leader_commit=Index(4),
    )
    lookalikes = [
        [3, "n1", "n2", True, 4, 1, [[1, 5, 0, b"c", None]], 4, 0],
        [3.0, "n1", "n2", 2, 4, 1, [[2, 5, 0, b"c", None]], 4, 0],
        [3, "n1", "n2", 2, 4, 1, [[2, 5.0, 0, b"c", None]], 4, 0],
        [3, "n1", "n2", 2, 4, 1, [(2, 5, 0, b"c", None)], 4, 0],
        [3, "n1", "n2", 2, 4, 1, [[2, 6, 0, b"c", None]], 4, 0],
        [3, "n1", "n2", 2, 4, 1, [[2, 5, 0, b"c", None]], 4, 7],
        [3, "n1", "n2", 2, 2**63 - 1, 1, [[2, 2**63, 0, b"c", None]], 4, 0],
        [4, "n2", "n1", 2, 1, 5, 0, None, 0, 0],
        [4, "n2", "n1", 2, True, 5, 0, False, 0, 0],
    ]
    for wire in lookalikes:
        assert _decode_fast(wire) is None, wire


def _append(to: NodeId, entries: tuple[Entry, ...]) -> AppendEntries:
    return AppendEntries(
        from_id=N1,
        to_id=to,
        term=Term(2),
        prev_log_index=Index(0),
        prev_log_term=Term(0),
        entries=entries,
        leader_commit=Index(0),
    )


def test_a_batch_sent_to_every_follower_is_encoded_once() -> None:
    """The second follower's AppendEntries reuses the entry lists of the first (Rule 4)."""
    batch = (Entry(term=Term(2), index=Index(1), data=b"a"), Entry(term=Term(2), index=Index(2)))
    first, second = (message_to_wire(_append(NodeId(to), batch)) for to in ("n2", "n3"))
    assert first[6] is second[6]
    assert first[6] == [[2, 1, 0, b"a", None], [2, 2, 0, b"", None]]
    equal_batch = tuple(list(batch))  # equal, but another tuple: encoded afresh, the same
    third = message_to_wire(_append(NodeId("n2"), equal_batch))
    assert third[6] is not first[6] and third[6] == first[6]


def _replicating_leader(config: RaftConfig | None = None) -> RaftNode:
    """A leader whose two followers acknowledged its NOOP: both REPLICATE, at the same place."""
    leader = make_node(N1, config=config)
    make_leader(leader)
    for follower in (N2, N3):
        leader.step(
            Received(
                message=AppendEntriesResponse(
                    from_id=follower,
                    to_id=N1,
                    term=leader.term,
                    success=True,
                    match_index=leader.last_index,
                )
            )
        )
    return leader


def test_a_leader_broadcasts_one_batch_tuple_to_every_follower() -> None:
    """log.py caches its slices, so followers at the same place share one entries tuple."""
    leader = _replicating_leader()
    for effects in (
        leader.step(Propose(request_id=1, data=b"x")),
        leader.step(ProposeBatch(proposals=(Propose(request_id=2, data=b"y"),) * 2)),
    ):
        appends = [e.message for e in effects if isinstance(e, Send)]
        assert len(appends) == 2
        assert isinstance(appends[0], AppendEntries) and isinstance(appends[1], AppendEntries)
        assert appends[0].entries is appends[1].entries


def test_a_broadcast_of_several_batches_is_encoded_once_per_batch() -> None:
    """Encoded follower by follower (as the runtime does), each batch's entries are built once."""
    leader = _replicating_leader(RaftConfig(max_entries_per_append=2))
    proposals = tuple(Propose(request_id=i, data=bytes([i])) for i in range(5))
    effects = leader.step(ProposeBatch(proposals=proposals))
    by_peer: dict[NodeId, list[list[Any]]] = {N2: [], N3: []}
    for effect in effects:
        if isinstance(effect, Send):
            by_peer[effect.to].append(message_to_wire(effect.message))
    assert [len(w[6]) for w in by_peer[N2]] == [2, 2, 1]
    for to_n2, to_n3 in zip(by_peer[N2], by_peer[N3], strict=True):
        assert to_n2[6] is to_n3[6]


def test_a_full_encoding_cache_keeps_the_batch_it_just_encoded() -> None:
    """Broadcast after broadcast, the cache fills up and its bound falls at every point of a
    broadcast; each batch is still encoded once: a full cache drops its oldest batch, not
    the one the next follower is about to send."""
    for _ in range(33):  # 3 batches each: the bound of 32 falls at every phase
        test_a_broadcast_of_several_batches_is_encoded_once_per_batch()
