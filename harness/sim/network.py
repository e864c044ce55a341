"""Simulated network: messages in flight, loss, duplication, delay, partitions.

Theory of operation: a sent message becomes one ``InFlight`` record per copy
that the network decides to deliver (zero copies: dropped; two: duplicated),
each with its own delivery time, so random delays also reorder. Partitions
are a set of blocked *directed* pairs, checked when a message arrives (a
message in flight when a partition starts is lost, as with a real cable):
blocking only (a, b) and not (b, a) gives an asymmetric partition. The
Hypothesis machine ignores delivery times and picks any message itself.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from impl.raft.messages import Message
from impl.raft.types import NodeId


@dataclass(frozen=True, slots=True, kw_only=True)
class InFlight:
    seq: int
    deliver_at: int
    message: Message

    def __str__(self) -> str:
        return f"#{self.seq}@{self.deliver_at} {self.message}"


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkFaults:
    """Per-message fault rates; delays are in simulated microseconds."""

    drop_probability: float = 0.0
    duplicate_probability: float = 0.0
    delay_us_min: int = 0
    delay_us_max: int = 0


@dataclass(slots=True)
class SimNetwork:
    """Messages in flight, kept in a heap by delivery time (seq breaks ties, so runs replay).

    The heap holds plain ``(deliver_at, seq, message)`` tuples: ``send`` is the
    hottest function of a simulation, so ``InFlight`` records are built only
    when someone asks for ``in_flight`` (the Hypothesis machine).
    """

    rng: random.Random
    faults: LinkFaults = field(default_factory=LinkFaults)
    blocked: set[tuple[NodeId, NodeId]] = field(default_factory=set)
    clogged: dict[NodeId, int] = field(default_factory=dict)  # extra delay for a node's links
    messages_sent: int = 0
    messages_delivered: int = 0
    messages_dropped: int = 0
    _heap: list[tuple[int, int, Message]] = field(default_factory=list)
    _gone: set[int] = field(default_factory=set)  # seqs taken out of order (Hypothesis picks)
    _seq: int = 0

    @property
    def in_flight(self) -> list[InFlight]:
        """Every message still in flight, in delivery-time order (a fresh list)."""
        gone = self._gone
        return [
            InFlight(seq=seq, deliver_at=at, message=message)
            for at, seq, message in sorted(
                self._heap
            )  # seqs are unique: messages are never compared
            if seq not in gone
        ]

    @property
    def in_flight_count(self) -> int:
        return len(self._heap) - len(self._gone)

    def send(self, message: Message, now: int) -> None:
        """Hand a message to the network; it may be lost, duplicated or delayed."""
        self.messages_sent += 1
        faults = self.faults
        rng = self.rng
        if faults.drop_probability and rng.random() < faults.drop_probability:
            self.messages_dropped += 1
            return
        copies = 1
        if faults.duplicate_probability and rng.random() < faults.duplicate_probability:
            copies = 2
        clogged = self.clogged
        at = now
        if clogged:
            at += clogged.get(message.from_id, 0) + clogged.get(message.to_id, 0)
        low, high = faults.delay_us_min, faults.delay_us_max
        heap = self._heap
        span = high - low + 1
        assert span > 0 or not high, f"delay_us_min {low} > delay_us_max {high}"
        bits = span.bit_length()
        getrandbits = rng.getrandbits
        for _ in range(copies):
            self._seq += 1
            if high:
                # rng.randint(low, high), inlined: CPython draws randint(a, b) as
                # a + _randbelow(b - a + 1), which is exactly this loop (tests/sim/
                # test_storage_and_network.py holds us to it: same seed, same runs).
                drawn = getrandbits(bits)
                while drawn >= span:
                    drawn = getrandbits(bits)
                heapq.heappush(heap, (at + low + drawn, self._seq, message))
            else:
                heapq.heappush(heap, (at, self._seq, message))

    def _arrives(self, message: Message) -> bool:
        if (message.from_id, message.to_id) in self.blocked:
            self.messages_dropped += 1
            return False
        self.messages_delivered += 1
        return True

    def take(self, item: InFlight) -> Message | None:
        """Remove ``item`` from flight; the message if it gets through, None if partitioned."""
        assert item.seq not in self._gone, f"{item} was already taken"
        self._gone.add(item.seq)
        return item.message if self._arrives(item.message) else None

    def drop(self, item: InFlight) -> None:
        """Lose ``item`` on the way."""
        assert item.seq not in self._gone, f"{item} was already taken"
        self._gone.add(item.seq)
        self.messages_dropped += 1

    def take_due(self, now: int) -> list[Message]:
        """Every message due by ``now``, in delivery-time order, minus the partitioned ones."""
        delivered = []
        heap, gone, blocked = self._heap, self._gone, self.blocked
        while heap and heap[0][0] <= now:
            _, seq, message = heapq.heappop(heap)
            if gone and seq in gone:
                gone.discard(seq)
                continue
            if blocked and (message.from_id, message.to_id) in blocked:
                self.messages_dropped += 1
                continue
            delivered.append(message)
        self.messages_delivered += len(delivered)
        return delivered

    def next_due(self) -> int | None:
        heap, gone = self._heap, self._gone
        while gone and heap and heap[0][1] in gone:
            gone.discard(heapq.heappop(heap)[1])
        return heap[0][0] if heap else None

    def isolate(self, groups: list[set[NodeId]], everyone: set[NodeId]) -> None:
        """Block every link between different groups; nodes in no group are cut off from all."""
        self.blocked.clear()
        group_of = {node: i for i, group in enumerate(groups) for node in group}
        for a in everyone:
            for b in everyone:
                if a != b and (a not in group_of or group_of.get(a) != group_of.get(b)):
                    self.blocked.add((a, b))

    def heal(self) -> None:
        self.blocked.clear()
        self.clogged.clear()
