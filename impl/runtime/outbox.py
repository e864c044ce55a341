"""Coalescing of the AppendEntries a leader emits within one loop iteration (pure).

Theory of operation: the Raft core answers every ``Propose`` by sending each
follower an AppendEntries for the new entry, so 64 proposals arriving in one
loop iteration become 64 small messages per follower, 64 follower steps and
64 responses. The runtime buffers the iteration's messages per peer and
merges runs of AppendEntries that continue one another (same term, the next
one's ``prev_log_index``/``prev_log_term`` is the previous one's last entry)
into one message carrying all their entries and the latest ``leader_commit``.

The merged message is exactly the one the leader would have sent had it seen
all the proposals at once (Raft §5.3 puts no limit on a batch), and the
core's in-flight window frees every batch up to an acknowledged index
(progress.py ``free_to``), so one response for the merged batch settles all
of them. Heartbeats (``read_context > 0``) never merge into appends: each
carries a ReadIndex round, and only the latest round needs to reach the
follower (see ``merge_appends``). Merging stops at the core's batch limits.
"""

from __future__ import annotations

from dataclasses import replace

from impl.raft.messages import AppendEntries, Message


def _continues(first: AppendEntries, second: AppendEntries) -> bool:
    if first.is_heartbeat or second.is_heartbeat or not first.entries or not second.entries:
        return False
    last = first.entries[-1]
    return (
        second.term == first.term
        and second.prev_log_index == last.index
        and second.prev_log_term == last.term
    )


def merge_appends(messages: list[Message], *, max_entries: int, max_bytes: int) -> list[Message]:
    """Coalesce one peer's messages from one loop iteration.

    When every message is an AppendEntries (a leader's usual output), the
    heartbeats collapse into the last one, sent after the appends: the core
    answers a read once a quorum acknowledged ANY round at or after the
    read's (replication.py ``read_ack`` keeps the maximum), and the last
    heartbeat was created after every read it stands for. Otherwise only runs
    of continuing appends merge and everything keeps its order.
    """
    if all(isinstance(m, AppendEntries) for m in messages):
        beats = [m for m in messages if isinstance(m, AppendEntries) and m.is_heartbeat]
        if beats:
            rest = [m for m in messages if not (isinstance(m, AppendEntries) and m.is_heartbeat)]
            last_beat = max(beats, key=lambda m: m.read_context)
            return [*_merge_runs(rest, max_entries, max_bytes), last_beat]
    return _merge_runs(messages, max_entries, max_bytes)


def _merge_runs(messages: list[Message], max_entries: int, max_bytes: int) -> list[Message]:
    """Merge runs of consecutive, continuing AppendEntries; keep everything else in order."""
    merged: list[Message] = []
    size = 0
    for message in messages:
        previous = merged[-1] if merged else None
        if (
            isinstance(message, AppendEntries)
            and isinstance(previous, AppendEntries)
            and _continues(previous, message)
        ):
            extra = sum(len(e.data) for e in message.entries)
            if (
                len(previous.entries) + len(message.entries) <= max_entries
                and size + extra <= max_bytes
            ):
                merged[-1] = replace(
                    previous,
                    entries=previous.entries + message.entries,
                    leader_commit=max(previous.leader_commit, message.leader_commit),
                )
                size += extra
                continue
        merged.append(message)
        size = (
            sum(len(e.data) for e in message.entries) if isinstance(message, AppendEntries) else 0
        )
    return merged
