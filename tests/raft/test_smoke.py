"""End-to-end smoke properties of RaftNode driven by the in-test pump."""

from __future__ import annotations

from impl.raft.events import Propose
from impl.raft.types import Role

from .pump import Pump, ids


def test_three_nodes_elect_one_leader_and_replicate_proposals() -> None:
    """A healthy 3-node cluster elects exactly one leader and every node applies every proposal."""
    pump = Pump(ids(3), seed=1)
    leader = pump.wait_leader()
    for request_id in range(50):
        pump.step(leader, Propose(request_id=request_id, data=b"v%d" % request_id))
    pump.deliver_all()
    pump.tick_all(4)
    assert pump.leaders() == [leader]
    logs = {node: [e.data for e in entries] for node, entries in pump.applied.items()}
    expected = [b""] + [b"v%d" % i for i in range(50)]  # the leader's NOOP comes first
    assert all(applied == expected for applied in logs.values()), logs
    assert all(n.role is Role.FOLLOWER for i, n in pump.nodes.items() if i != leader)
