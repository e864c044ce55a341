"""The simulated disk and network honour the contracts the Raft core relies on."""

from __future__ import annotations

import random

from harness.sim.cluster import SimCluster
from harness.sim.network import LinkFaults, SimNetwork
from harness.sim.storage import SimStorage
from impl.raft.effects import Persist, PersistSnapshot
from impl.raft.messages import TimeoutNow
from impl.raft.types import ClusterConfig, Entry, HardState, Index, NodeId, Snapshot, Term


def entries(first: int, last: int, term: int) -> tuple[Entry, ...]:
    return tuple(Entry(index=Index(i), term=Term(term)) for i in range(first, last + 1))


def test_a_crash_loses_every_write_that_was_not_durable() -> None:
    """effects.py: "A crash loses every write that was not yet durable"."""
    storage = SimStorage()
    storage.submit(Persist(hard_state=HardState(term=Term(1)), entries=entries(1, 2, 1)), done_at=5)
    storage.complete_next()
    storage.submit(Persist(hard_state=HardState(term=Term(2)), entries=entries(3, 3, 2)), done_at=9)
    lost = storage.crash()
    restored = storage.restored(None)
    assert len(lost) == 1
    assert restored.hard_state.term == 1
    assert [e.index for e in restored.entries] == [1, 2]


def test_a_persist_replaces_the_log_from_its_first_entry() -> None:
    """effects.py Persist: storage deletes every entry at or after entries[0].index, then appends."""
    storage = SimStorage()
    storage.submit(Persist(hard_state=None, entries=entries(1, 4, 1)), done_at=0)
    storage.submit(Persist(hard_state=None, entries=entries(3, 3, 2)), done_at=0)
    storage.complete_next()
    storage.complete_next()
    assert [(e.index, e.term) for e in storage.entries] == [(1, 1), (2, 1), (3, 2)]


def test_a_snapshot_drops_the_log_prefix_it_covers() -> None:
    """PersistSnapshot: drop every log entry at or before the snapshot's index."""
    storage = SimStorage()
    storage.submit(Persist(hard_state=None, entries=entries(1, 5, 1)), done_at=0)
    config = ClusterConfig(voters=frozenset({NodeId("a")}))
    snapshot = Snapshot(index=Index(3), term=Term(1), config=config, data=b"")
    storage.submit(PersistSnapshot(snapshot=snapshot, discard_log=False), done_at=0)
    storage.complete_next()
    storage.complete_next()
    assert storage.snapshot_index == 3
    assert [e.index for e in storage.entries] == [4, 5]


def test_writes_finish_in_the_order_they_were_queued() -> None:
    """One disk: a later write is never durable before an earlier one."""
    storage = SimStorage()
    storage.submit(Persist(hard_state=None, entries=()), done_at=50)
    second = storage.submit(Persist(hard_state=None, entries=()), done_at=10)
    assert second.done_at == 50


def test_a_partition_drops_messages_in_one_direction_only() -> None:
    """Blocked pairs are directed, so one-way (asymmetric) partitions exist."""
    network = SimNetwork(rng=random.Random(1), faults=LinkFaults())
    a, b = NodeId("a"), NodeId("b")
    network.blocked.add((a, b))
    network.send(TimeoutNow(from_id=a, to_id=b, term=Term(1)), now=0)
    network.send(TimeoutNow(from_id=b, to_id=a, term=Term(1)), now=0)
    delivered = network.take_due(now=0)
    assert [(m.from_id, m.to_id) for m in delivered] == [(b, a)]


def test_sends_after_a_persist_wait_until_the_write_is_durable() -> None:
    """effects.py Rule 2: a Send after a Persist must not leave before that write is durable."""
    rng = random.Random(7)
    voters = [NodeId("n1"), NodeId("n2"), NodeId("n3")]
    cluster = SimCluster(voters=voters, rng=rng, disk_delay=lambda: 1_000_000)
    network = cluster.network
    for _ in range(60):  # someone times out and campaigns; its vote requests follow a Persist
        for node_id in voters:
            cluster.tick(node_id)
        for item in list(network.in_flight):
            message = network.take(item)
            if message is not None:
                cluster.deliver(message)
    pending = [w for n in voters for w in cluster.slots[n].storage.pending]
    held = [effect for write in pending for effect in write.held]
    assert held, "votes and vote requests wait behind the (never finishing) writes"
    assert cluster.leader() is None, "no leader without durable votes"
    cluster.complete_due_writes(now=10**9)
    assert not any(cluster.slots[n].storage.pending for n in voters)


def test_delays_are_drawn_exactly_as_randint_draws_them() -> None:
    """send() inlines rng.randint for speed; the draws, and so every seeded run, are the same."""
    for low, high in ((100, 300), (100, 8000), (0, 1), (5, 5), (100, 1000)):
        faults = LinkFaults(delay_us_min=low, delay_us_max=high)
        network = SimNetwork(rng=random.Random(low * 31 + high), faults=faults)
        reference = random.Random(low * 31 + high)
        for _ in range(300):
            network.send(TimeoutNow(from_id=NodeId("a"), to_id=NodeId("b"), term=Term(1)), now=0)
        expected = [reference.randint(low, high) for _ in range(300)]
        assert [item.deliver_at for item in network.in_flight] == sorted(expected)
        assert [item.seq for item in network.in_flight] == [
            seq for _, seq in sorted(zip(expected, range(1, 301), strict=True))
        ]
