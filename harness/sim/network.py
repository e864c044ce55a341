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
    rng: random.Random
    faults: LinkFaults = field(default_factory=LinkFaults)
    in_flight: list[InFlight] = field(default_factory=list)
    blocked: set[tuple[NodeId, NodeId]] = field(default_factory=set)
    clogged: dict[NodeId, int] = field(default_factory=dict)  # extra delay for a node's links
    messages_sent: int = 0
    messages_delivered: int = 0
    messages_dropped: int = 0
    _seq: int = 0

    def send(self, message: Message, now: int) -> None:
        """Hand a message to the network; it may be lost, duplicated or delayed."""
        self.messages_sent += 1
        faults = self.faults
        if faults.drop_probability and self.rng.random() < faults.drop_probability:
            self.messages_dropped += 1
            return
        copies = 1
        if faults.duplicate_probability and self.rng.random() < faults.duplicate_probability:
            copies = 2
        extra = self.clogged.get(message.from_id, 0) + self.clogged.get(message.to_id, 0)
        for _ in range(copies):
            delay = extra
            if faults.delay_us_max:
                delay += self.rng.randint(faults.delay_us_min, faults.delay_us_max)
            self._seq += 1
            self.in_flight.append(InFlight(seq=self._seq, deliver_at=now + delay, message=message))

    def take(self, item: InFlight) -> Message | None:
        """Remove ``item`` from flight; the message if it gets through, None if partitioned."""
        self.in_flight.remove(item)
        message = item.message
        if (message.from_id, message.to_id) in self.blocked:
            self.messages_dropped += 1
            return None
        self.messages_delivered += 1
        return message

    def take_due(self, now: int) -> list[Message]:
        """Every message due by ``now``, in delivery-time order, minus the partitioned ones."""
        due = [item for item in self.in_flight if item.deliver_at <= now]
        if not due:
            return []
        self.in_flight = [item for item in self.in_flight if item.deliver_at > now]
        due.sort(key=lambda item: (item.deliver_at, item.seq))
        delivered = []
        for item in due:
            message = item.message
            if (message.from_id, message.to_id) in self.blocked:
                self.messages_dropped += 1
                continue
            self.messages_delivered += 1
            delivered.append(message)
        return delivered

    def next_due(self) -> int | None:
        return min((item.deliver_at for item in self.in_flight), default=None)

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
