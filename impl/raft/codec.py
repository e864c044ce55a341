"""Messages to and from plain msgpack-able values.

Theory of operation: the wire form of a message is a list whose first item is
a small integer tag, followed by the fields in declaration order. Entries,
snapshots and memberships are nested lists. Decoding trusts nothing: every
field is type-checked and range-checked, and AppendEntries batches must be
contiguous, so the node can assert on its own invariants without a peer
ever being able to trip them.

Rules:
  Rule 1. ``message_from_wire`` raises ``RemoteProtocolError`` and nothing
          else, whatever it is given (h11's "their fault" class).
  Rule 2. Tags are never reused; a new message kind gets a new tag.
  Rule 3. Fast paths (the replication traffic: NORMAL entries, AppendEntries
          and their responses with exact built-in types) only ever ACCEPT
          what the full checks accept, with the same result; anything else
          falls through to the full checks, which decide and word the error.
          Tests compare each fast path with its checked twin.
  Rule 4. The wire form is read-only: the entry lists of an AppendEntries are
          shared between the messages that carry the same batch (a leader
          sends one batch to every follower; it is encoded once).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from impl.errors import RemoteProtocolError
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
from impl.raft.types import (
    CONFIG,
    NORMAL,
    ClusterConfig,
    Entry,
    EntryKind,
    Index,
    NodeId,
    Snapshot,
    Term,
)

_KIND_TO_WIRE = {EntryKind.NORMAL: 0, EntryKind.NOOP: 1, EntryKind.CONFIG: 2}
_WIRE_TO_KIND = {code: kind for kind, code in _KIND_TO_WIRE.items()}

_TAG_REQUEST_VOTE = 1
_TAG_REQUEST_VOTE_RESPONSE = 2
_TAG_APPEND_ENTRIES = 3
_TAG_APPEND_ENTRIES_RESPONSE = 4
_TAG_INSTALL_SNAPSHOT = 5
_TAG_INSTALL_SNAPSHOT_RESPONSE = 6
_TAG_TIMEOUT_NOW = 7


# --------------------------------------------------------------------------- encoding


def _config_to_wire(config: ClusterConfig) -> list[Any]:
    return [sorted(config.voters), sorted(config.learners)]


def _entry_to_wire(entry: Entry) -> list[Any]:
    # An identity test, not the dict lookup: an Enum key hashes through Python-level
    # ``Enum.__hash__``, once per entry per follower on the leader's hot path.
    if entry.kind is NORMAL and entry.config is None:
        return [entry.term, entry.index, 0, entry.data, None]
    config = None if entry.config is None else _config_to_wire(entry.config)
    return [entry.term, entry.index, _KIND_TO_WIRE[entry.kind], entry.data, config]


# The batches encoded lately, by the tuple's id (Rule 4): the leader sends the same entries
# tuples (log.py caches its slices) to each follower, so the second and later followers
# reuse their wire form. Each tuple is held while it is here, so its id cannot be reused
# by another batch meanwhile; ``is`` checks it anyway.
_BATCHES_MAX = 32
_batches: dict[int, tuple[tuple[Entry, ...], list[Any]]] = {}


def _entries_to_wire(entries: tuple[Entry, ...]) -> list[Any]:
    if not entries:
        return []
    cached = _batches.get(id(entries))
    if cached is not None and cached[0] is entries:
        return cached[1]
    wire = [_entry_to_wire(e) for e in entries]
    if len(_batches) >= _BATCHES_MAX:
        # Evict the oldest, not everything: clearing it all could drop a batch between
        # the first follower's encoding and the next one's (seen as a flaky test).
        del _batches[next(iter(_batches))]
    _batches[id(entries)] = (entries, wire)
    return wire


def _snapshot_to_wire(snapshot: Snapshot) -> list[Any]:
    return [snapshot.index, snapshot.term, _config_to_wire(snapshot.config), snapshot.data]


def message_to_wire(message: Message) -> list[Any]:
    """Encode ``message`` as a list of ints, strs, bytes, bools, None and nested lists.

    The result is read-only (Rule 4): its entry lists may be shared with other messages.
    """
    if isinstance(message, AppendEntries):  # the replication traffic first, without ``match``
        return [
            _TAG_APPEND_ENTRIES,
            message.from_id,
            message.to_id,
            message.term,
            message.prev_log_index,
            message.prev_log_term,
            _entries_to_wire(message.entries),
            message.leader_commit,
            message.read_context,
        ]
    if isinstance(message, AppendEntriesResponse):
        return [
            _TAG_APPEND_ENTRIES_RESPONSE,
            message.from_id,
            message.to_id,
            message.term,
            message.success,
            message.match_index,
            message.reject_index,
            message.conflict_term,
            message.conflict_index,
            message.read_context,
        ]
    head = [message.from_id, message.to_id, message.term]
    match message:
        case RequestVote():
            return [
                _TAG_REQUEST_VOTE,
                *head,
                message.last_log_index,
                message.last_log_term,
                message.pre_vote,
                message.leadership_transfer,
            ]
        case RequestVoteResponse():
            return [_TAG_REQUEST_VOTE_RESPONSE, *head, message.vote_granted, message.pre_vote]
        case InstallSnapshot():
            return [_TAG_INSTALL_SNAPSHOT, *head, _snapshot_to_wire(message.snapshot)]
        case InstallSnapshotResponse():
            return [_TAG_INSTALL_SNAPSHOT_RESPONSE, *head, message.match_index]
        case TimeoutNow():
            return [_TAG_TIMEOUT_NOW, *head]
    raise TypeError(f"not a Raft message: {message!r}")


# --------------------------------------------------------------------------- decoding


def _fail(what: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"malformed Raft message: {what}")


def _list(value: Any, length: int, what: str) -> list[Any]:
    if not isinstance(value, (list, tuple)) or len(value) != length:
        raise _fail(f"{what} must be a list of {length} items")
    return list(value)


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 1 << 63:
        raise _fail(f"{what} must be a non-negative int")
    return value


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(f"{what} must be a bool")
    return value


def _node(value: Any, what: str) -> NodeId:
    if not isinstance(value, str) or not value or len(value) > 256:
        raise _fail(f"{what} must be a non-empty node id string")
    return NodeId(value)


def _bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray)):
        raise _fail(f"{what} must be bytes")
    return bytes(value)


def _config_from_wire(value: Any) -> ClusterConfig:
    voters_raw, learners_raw = _list(value, 2, "config")
    if not isinstance(voters_raw, (list, tuple)) or not isinstance(learners_raw, (list, tuple)):
        raise _fail("config voters/learners must be lists")
    voters = frozenset(_node(v, "voter") for v in voters_raw)
    learners = frozenset(_node(v, "learner") for v in learners_raw)
    if len(voters) != len(voters_raw) or len(learners) != len(learners_raw):
        raise _fail("config lists a node twice")
    if voters & learners:
        raise _fail("config has a node that is both voter and learner")
    return ClusterConfig(voters=voters, learners=learners)


_NORMAL_CODE = _KIND_TO_WIRE[EntryKind.NORMAL]
_INT_END = 1 << 63


def _entry_from_wire(value: Any) -> Entry:
    if type(value) is list and len(value) == 5:
        # Fast path for the common shape, a NORMAL entry: exact types (``type(x) is int``
        # rejects bools), the same ranges as ``_int``. Anything else takes the full checks.
        term, index, kind_code, data, config = value
        if (
            type(term) is int
            and type(index) is int
            and type(data) is bytes
            and type(kind_code) is int
            and kind_code == _NORMAL_CODE
            and config is None
            and 0 <= term < _INT_END
            and 0 <= index < _INT_END
        ):
            return Entry(term=Term(term), index=Index(index), data=data)
    return _entry_from_wire_checked(value)


def _entry_from_wire_checked(value: Any) -> Entry:
    """Every check, for every shape; ``_entry_from_wire`` must agree with it (tested)."""
    term, index, kind_code, data, config = _list(value, 5, "entry")
    kind = _WIRE_TO_KIND.get(kind_code) if isinstance(kind_code, int) else None
    if kind is None or isinstance(kind_code, bool):
        raise _fail(f"unknown entry kind {kind_code!r}")
    if (kind is CONFIG) != (config is not None):
        raise _fail("an entry carries a config iff it is a CONFIG entry")
    return Entry(
        term=Term(_int(term, "entry term")),
        index=Index(_int(index, "entry index")),
        kind=kind,
        data=_bytes(data, "entry data"),
        config=None if config is None else _config_from_wire(config),
    )


def _snapshot_from_wire(value: Any) -> Snapshot:
    index, term, config, data = _list(value, 4, "snapshot")
    return Snapshot(
        index=Index(_int(index, "snapshot index")),
        term=Term(_int(term, "snapshot term")),
        config=_config_from_wire(config),
        data=_bytes(data, "snapshot data"),
    )


def _append_entries_from_wire(head: dict[str, Any], rest: list[Any]) -> AppendEntries:
    prev_index, prev_term, entries_raw, commit, read_context = _list(rest, 5, "AppendEntries")
    if not isinstance(entries_raw, (list, tuple)):
        raise _fail("entries must be a list")
    prev_log_index = _int(prev_index, "prev_log_index")
    entries = tuple(_entry_from_wire(e) for e in entries_raw)
    previous_term = _int(prev_term, "prev_log_term")
    for offset, entry in enumerate(entries):
        # The node relies on batches being contiguous and term-ordered (Raft §5.3).
        if entry.index != prev_log_index + 1 + offset:
            raise _fail("entries are not contiguous after prev_log_index")
        if entry.term < previous_term or entry.term > head["term"]:
            raise _fail("entry terms must be non-decreasing and not above the message term")
        previous_term = entry.term
    context = _int(read_context, "read_context")
    if context and entries:
        raise _fail("a heartbeat (read_context > 0) carries no entries")
    return AppendEntries(
        **head,
        prev_log_index=Index(prev_log_index),
        prev_log_term=Term(_int(prev_term, "prev_log_term")),
        entries=entries,
        leader_commit=Index(_int(commit, "leader_commit")),
        read_context=context,
    )


def _append_response_from_wire(head: dict[str, Any], rest: list[Any]) -> AppendEntriesResponse:
    success, match, reject, conflict_term, conflict_index, context = _list(
        rest, 6, "AppendEntriesResponse"
    )
    return AppendEntriesResponse(
        **head,
        success=_bool(success, "success"),
        match_index=Index(_int(match, "match_index")),
        reject_index=Index(_int(reject, "reject_index")),
        conflict_term=None if conflict_term is None else Term(_int(conflict_term, "conflict_term")),
        conflict_index=Index(_int(conflict_index, "conflict_index")),
        read_context=_int(context, "read_context"),
    )


def _decode(obj: Any) -> Message:
    if not isinstance(obj, (list, tuple)) or len(obj) < 4:
        raise _fail("expected a list [tag, from, to, term, ...]")
    tag, from_id, to_id, term, *rest = obj
    head: dict[str, Any] = {
        "from_id": _node(from_id, "from_id"),
        "to_id": _node(to_id, "to_id"),
        "term": Term(_int(term, "term")),
    }
    if isinstance(tag, bool) or not isinstance(tag, int):
        raise _fail(f"unknown message tag {tag!r}")
    if tag == _TAG_REQUEST_VOTE:
        last_index, last_term, pre_vote, transfer = _list(rest, 4, "RequestVote")
        return RequestVote(
            **head,
            last_log_index=Index(_int(last_index, "last_log_index")),
            last_log_term=Term(_int(last_term, "last_log_term")),
            pre_vote=_bool(pre_vote, "pre_vote"),
            leadership_transfer=_bool(transfer, "leadership_transfer"),
        )
    if tag == _TAG_REQUEST_VOTE_RESPONSE:
        granted, pre_vote = _list(rest, 2, "RequestVoteResponse")
        return RequestVoteResponse(
            **head,
            vote_granted=_bool(granted, "vote_granted"),
            pre_vote=_bool(pre_vote, "pre_vote"),
        )
    if tag == _TAG_APPEND_ENTRIES:
        return _append_entries_from_wire(head, rest)
    if tag == _TAG_APPEND_ENTRIES_RESPONSE:
        return _append_response_from_wire(head, rest)
    if tag == _TAG_INSTALL_SNAPSHOT:
        (snapshot,) = _list(rest, 1, "InstallSnapshot")
        return InstallSnapshot(**head, snapshot=_snapshot_from_wire(snapshot))
    if tag == _TAG_INSTALL_SNAPSHOT_RESPONSE:
        (match,) = _list(rest, 1, "InstallSnapshotResponse")
        return InstallSnapshotResponse(**head, match_index=Index(_int(match, "match_index")))
    if tag == _TAG_TIMEOUT_NOW:
        _list(rest, 0, "TimeoutNow")
        return TimeoutNow(**head)
    raise _fail(f"unknown message tag {tag!r}")


# --------------------------------------------------------------------------- fast paths
# Rule 3: each returns the message the full checks would return, or None to let them decide.
# ``type(x) is int`` rejects bools (and int subclasses, which the full checks then take);
# the ranges are ``_int``'s. Wire values are ``Any``, so no NewType wrapping is needed.


# The fast paths build records from values their checks narrowed to ``int``; ``Term`` and
# ``Index`` are ints at run time (NewType), and calling them would cost a call per field.
_new_entry: Callable[..., Entry] = Entry
_new_append_entries: Callable[..., AppendEntries] = AppendEntries
_new_append_response: Callable[..., AppendEntriesResponse] = AppendEntriesResponse


def _node_fast(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= 256


def _append_entries_fast(obj: list[Any]) -> AppendEntries | None:
    _, from_id, to_id, term, prev_index, prev_term, entries_raw, commit, context = obj
    if not (
        type(term) is int
        and type(prev_index) is int
        and type(prev_term) is int
        and type(commit) is int
        and type(context) is int
        and type(entries_raw) is list
        and 0 <= term < _INT_END
        and 0 <= prev_index < _INT_END
        and 0 <= prev_term < _INT_END
        and 0 <= commit < _INT_END
        and 0 <= context < _INT_END
        and (not context or not entries_raw)
        and _node_fast(from_id)
        and _node_fast(to_id)
    ):
        return None
    if prev_index + len(entries_raw) >= _INT_END:
        return None  # the last index would be out of range
    entries: list[Entry] = []
    append = entries.append
    expected, previous = prev_index + 1, prev_term
    for value in entries_raw:
        # A NORMAL entry (as ``_entry_from_wire``), contiguous after prev_log_index, with a
        # term between the previous entry's (or prev_log_term) and the message's.
        if type(value) is not list or len(value) != 5:
            return None
        entry_term, index, kind_code, data, config = value
        if (
            index != expected
            or type(index) is not int
            or type(entry_term) is not int
            or type(data) is not bytes
            or kind_code != _NORMAL_CODE
            or type(kind_code) is not int
            or config is not None
            or not previous <= entry_term <= term
        ):
            return None
        append(_new_entry(term=entry_term, index=index, data=data))
        expected += 1
        previous = entry_term
    return _new_append_entries(
        from_id=from_id,
        to_id=to_id,
        term=term,
        prev_log_index=prev_index,
        prev_log_term=prev_term,
        entries=tuple(entries),
        leader_commit=commit,
        read_context=context,
    )


def _append_response_fast(obj: list[Any]) -> AppendEntriesResponse | None:
    _, from_id, to_id, term, success, match, reject, conflict_term, conflict_index, context = obj
    if not (
        type(term) is int
        and type(success) is bool
        and type(match) is int
        and type(reject) is int
        and type(conflict_index) is int
        and type(context) is int
        and 0 <= term < _INT_END
        and 0 <= match < _INT_END
        and 0 <= reject < _INT_END
        and 0 <= conflict_index < _INT_END
        and 0 <= context < _INT_END
        and (
            conflict_term is None or (type(conflict_term) is int and 0 <= conflict_term < _INT_END)
        )
        and _node_fast(from_id)
        and _node_fast(to_id)
    ):
        return None
    return _new_append_response(
        from_id=from_id,
        to_id=to_id,
        term=term,
        success=success,
        match_index=match,
        reject_index=reject,
        conflict_term=conflict_term,
        conflict_index=conflict_index,
        read_context=context,
    )


def _decode_fast(obj: Any) -> Message | None:
    """The replication messages in their usual shape, or None (Rule 3)."""
    if type(obj) is not list:
        return None
    tag, length = obj[0] if obj else None, len(obj)
    if type(tag) is not int:
        return None
    if tag == _TAG_APPEND_ENTRIES_RESPONSE and length == 10:
        return _append_response_fast(obj)
    if tag == _TAG_APPEND_ENTRIES and length == 9:
        return _append_entries_fast(obj)
    return None


def message_from_wire(obj: Any) -> Message:
    """Decode what ``message_to_wire`` produced (after a msgpack round trip).

    Raises:
        RemoteProtocolError: ``obj`` is not a well-formed message; never another class.
    """
    try:
        message = _decode_fast(obj)
        return message if message is not None else _decode(obj)
    except RemoteProtocolError:
        raise
    except Exception as error:  # a safety net: peer input must never crash the node
        raise RemoteProtocolError(f"malformed Raft message: {error!r}") from error
