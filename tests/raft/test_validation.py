"""Caller misuse raises narrow errors that name the problem (STYLE.md §5)."""

from __future__ import annotations

import pytest

from impl.errors import ConfigurationError, LocalProtocolError
from impl.raft.config import RaftConfig
from impl.raft.events import CompactLog, Propose, ReadIndex, TransferLeadership
from impl.raft.node import RaftNode
from impl.raft.types import ClusterConfig, Entry, Index, NodeId, RestoredState, Term

from .helpers import N1, N2, N3, make_node


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"election_timeout_ticks_min": 0}, "election_timeout_ticks_min"),
        ({"election_timeout_ticks_max": 5}, "election_timeout_ticks_max"),
        ({"heartbeat_interval_ticks": 10}, "heartbeat_interval_ticks"),
        ({"max_inflight_appends": 0}, "max_inflight_appends"),
        ({"max_entries_per_append": True}, "max_entries_per_append"),
        ({"pre_vote": 1}, "pre_vote"),
    ],
)
def test_raft_config_rejects_bad_values_by_name(fields: dict, named: str) -> None:
    """Each invalid knob is reported with its field name."""
    with pytest.raises(ConfigurationError, match=named):
        RaftConfig(**fields)


def build(bootstrap: ClusterConfig | None, **restored: object) -> RaftNode:
    state = RestoredState(bootstrap=bootstrap, **restored)  # type: ignore[arg-type]
    return RaftNode(N1, RaftConfig(), state, lambda low, high: low)


def test_bootstrap_problems_are_named() -> None:
    """Duplicate voters, a node both voter and learner, or learners without voters are refused."""
    with pytest.raises(ConfigurationError, match="twice"):
        build(ClusterConfig(voters=[N1, N1, N2]))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="both voter and learner"):
        build(ClusterConfig(voters=frozenset({N1, N2}), learners=frozenset({N2})))
    with pytest.raises(ConfigurationError, match="no voters"):
        build(ClusterConfig(voters=frozenset(), learners=frozenset({N2})))
    with pytest.raises(ConfigurationError, match="node id"):
        build(ClusterConfig(voters=frozenset({N1, ""})))  # type: ignore[arg-type]


def test_empty_bootstrap_means_joining() -> None:
    """A node with an empty (or no) bootstrap starts with no members and waits to be contacted."""
    for bootstrap in (None, ClusterConfig(voters=frozenset())):
        node = build(bootstrap)
        assert node.config.members == frozenset() and node.last_index == 0


def test_restored_log_must_be_contiguous() -> None:
    """A restored log with a gap is a storage bug, reported before the node runs."""
    entries = (Entry(term=Term(1), index=Index(1)), Entry(term=Term(1), index=Index(3)))
    with pytest.raises(LocalProtocolError, match="contiguous"):
        build(ClusterConfig(voters=frozenset({N1})), entries=entries)


def test_bad_node_id_and_config_type() -> None:
    with pytest.raises(ConfigurationError, match="node_id"):
        RaftNode(NodeId(""), RaftConfig(), RestoredState(), lambda low, high: low)
    with pytest.raises(ConfigurationError, match="RaftConfig"):
        RaftNode(N1, object(), RestoredState(), lambda low, high: low)  # type: ignore[arg-type]


def test_bad_client_input_raises_before_any_state_change() -> None:
    """Non-bytes data, non-int request ids and compaction past the applied index are misuse."""
    node = make_node(bootstrap=ClusterConfig(voters=frozenset({N1, N2, N3})))
    with pytest.raises(LocalProtocolError, match="bytes"):
        node.step(Propose(request_id=1, data="text"))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="request_id"):
        node.step(ReadIndex(request_id="r1"))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="request_id"):
        node.step(TransferLeadership(request_id=True, to=N2))
    with pytest.raises(LocalProtocolError, match="applied"):
        node.step(CompactLog(index=Index(5), data=b""))
    with pytest.raises(LocalProtocolError, match="not a Raft event"):
        node.step("tick")  # type: ignore[arg-type]
    assert node.term == 0 and node.last_index == 0
