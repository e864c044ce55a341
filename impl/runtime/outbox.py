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
    if len(messages) == 1:
        return messages  # the usual case at low load: nothing to merge
    if all(isinstance(m, AppendEntries) for m in messages):
        beats = [m for m in messages if isinstance(m, AppendEntries) and m.is_heartbeat]
        if beats:
            rest = [m for m in messages if not (isinstance(m, AppendEntries) and m.is_heartbeat)]
            last_beat = max(beats, key=lambda m: m.read_context)
            return [*_merge_runs(rest, max_entries, max_bytes), last_beat]
    return _merge_runs(messages, max_entries, max_bytes)


def _merge_runs(messages: list[Message], max_entries: int, max_bytes: int) -> list[Message]:
    """Merge runs of consecutive, continuing AppendEntries; keep everything else in order.

    A run is collected first and built once (one new message, entries joined in
    one pass): merging pairwise copied the growing entry tuple at every step.
    """
    merged: list[Message] = []
    run: list[AppendEntries] = []
    count = size = 0

    def close_run() -> None:
        if len(run) == 1:
            merged.append(run[0])
        elif run:
            merged.append(
                replace(
                    run[0],
                    entries=tuple(e for m in run for e in m.entries),
                    leader_commit=max(m.leader_commit for m in run),
                )
            )
        run.clear()

    for message in messages:
        if not isinstance(message, AppendEntries):
            close_run()
            merged.append(message)
            continue
        extra = sum(len(e.data) for e in message.entries)
        if (
            run
            and _continues(run[-1], message)
            and count + len(message.entries) <= max_entries
            and size + extra <= max_bytes
        ):
            run.append(message)
            count += len(message.entries)
            size += extra
            continue
        close_run()
        run.append(message)
        count, size = len(message.entries), extra
    close_run()
    return merged
