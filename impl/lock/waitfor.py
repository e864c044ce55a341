"""The wait-for graph of the lock table, and finding a cycle in it.

Theory of operation: the graph is *derived* from the replicated lock table,
never stored beside it, so it cannot drift from the table and every replica
computes the same graph from the same applied log. A node is an owner; an edge
``w -> h`` means "owner w cannot be granted a request until owner h gives
something up". For each lock, a waiter at queue position i has an edge to

  * every holder (other than itself) whose mode conflicts with the waiter's, and
  * every waiter at a position before i (other than itself) whose mode
    conflicts, because FIFO order means that earlier request is granted first.

Two modes conflict when either is exclusive. Edges cross locks: an owner
waiting on x and holding y links the two. A cycle is a deadlock: no edge on
it disappears unless a lease or a wait runs out (Coffman et al. 1971,
"System Deadlocks", condition 4: circular wait).

Rules:
  Rule 1. The table refuses the request that would close a cycle, so the graph
          is acyclic after every applied command (checked by the tests).
  Rule 2. ``find_cycle`` is deterministic (the shortest cycle, smallest in
          sorted order), so every replica names the same cycle in its refusal.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

WaitForGraph = dict[str, set[str]]


class _Request(Protocol):
    @property
    def owner(self) -> str: ...

    @property
    def mode(self) -> str: ...


def conflicts(mode_a: str, mode_b: str) -> bool:
    """Shared is compatible only with shared; exclusive conflicts with everything."""
    return mode_a == "exclusive" or mode_b == "exclusive"


def add_lock_edges(
    graph: WaitForGraph, holders: Iterable[_Request], waiters: Sequence[_Request]
) -> None:
    """Add the edges one lock contributes (holders and its FIFO queue of waiters)."""
    holder_list = list(holders)
    for position, waiter in enumerate(waiters):
        targets = graph.setdefault(waiter.owner, set())
        for holder in holder_list:
            if holder.owner != waiter.owner and conflicts(waiter.mode, holder.mode):
                targets.add(holder.owner)
        for earlier in waiters[:position]:
            if earlier.owner != waiter.owner and conflicts(waiter.mode, earlier.mode):
                targets.add(earlier.owner)


def find_cycle(graph: Mapping[str, set[str]], start: str) -> list[str] | None:
    """The shortest cycle through ``start`` (owners, beginning with ``start``), or None.

    Breadth-first search visiting neighbours in sorted order: nodes leave the
    queue level by level, in the order of their smallest shortest path, so the
    first node found with an edge back to ``start`` closes the shortest cycle,
    and of those the lexicographically smallest. A short, canonical cycle is
    what a person wants to read in a refusal, and it is what spec/lock.py's
    brute force finds, so the two can be compared exactly.
    """
    parent: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in sorted(graph.get(node, ())):
            if successor == start:
                path = [node]
                while (previous := parent[path[-1]]) is not None:
                    path.append(previous)
                return path[::-1]
            if successor not in parent:
                parent[successor] = node
                queue.append(successor)
    return None


def find_any_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """Some cycle of the graph, or None when it is acyclic."""
    for start in sorted(graph):
        cycle = find_cycle(graph, start)
        if cycle is not None:
            return cycle
    return None
