"""Building single RaftNodes in a chosen state, for tests that step one node by hand."""

from __future__ import annotations

from impl.raft.config import RaftConfig
from impl.raft.effects import Effect, Persist, Send
from impl.raft.events import Received, Tick
from impl.raft.messages import Message, RequestVote, RequestVoteResponse
from impl.raft.node import RaftNode
from impl.raft.types import (
    ClusterConfig,
    Entry,
    HardState,
    Index,
    NodeId,
    RestoredState,
    Role,
    Term,
)

N1, N2, N3, N4, N5 = (NodeId(f"n{i}") for i in range(1, 6))
THREE = ClusterConfig(voters=frozenset({N1, N2, N3}))


def log_of(*terms: int) -> tuple[Entry, ...]:
    return tuple(Entry(term=Term(t), index=Index(i + 1)) for i, t in enumerate(terms))


def make_node(
    node_id: NodeId = N1,
    *,
    term: int = 0,
    voted_for: NodeId | None = None,
    log: tuple[Entry, ...] = (),
    bootstrap: ClusterConfig = THREE,
    config: RaftConfig | None = None,
    timeout: int = 10,
) -> RaftNode:
    """A node restored with this hard state and log; its election timeout is always ``timeout``."""
    restored = RestoredState(
        hard_state=HardState(term=Term(term), voted_for=voted_for),
        entries=log,
        bootstrap=bootstrap,
    )
    return RaftNode(node_id, config or RaftConfig(), restored, lambda low, high: timeout)


def sends(effects: list[Effect]) -> list[Message]:
    return [e.message for e in effects if isinstance(e, Send)]


def received(node: RaftNode, message: Message) -> list[Effect]:
    return node.step(Received(message=message))


def make_leader(node: RaftNode) -> list[Effect]:
    """Time ``node`` out and feed it granted (pre)votes from every other voter; return last effects."""
    effects: list[Effect] = []
    for _ in range(node.raft_config.election_timeout_ticks_max + 1):
        effects = node.step(Tick())
        if node.role is not Role.FOLLOWER:
            break
    for _ in range(2):  # PreVote round, then the real vote
        role = node.role
        requests = [m for m in sends(effects) if isinstance(m, RequestVote)]
        for request in requests:
            response = RequestVoteResponse(
                from_id=request.to_id,
                to_id=node.id,
                term=request.term,
                vote_granted=True,
                pre_vote=request.pre_vote,
            )
            after = received(node, response)
            if node.role is not role:
                effects = after
                break
        if node.role is Role.LEADER:
            return effects
    raise AssertionError(f"{node!r} did not become leader")


def persist_index(effects: list[Effect]) -> int:
    """Position of the first Persist in ``effects`` (len if none)."""
    return next((i for i, e in enumerate(effects) if isinstance(e, Persist)), len(effects))


def first_send_index(effects: list[Effect]) -> int:
    return next(i for i, e in enumerate(effects) if isinstance(e, Send))
