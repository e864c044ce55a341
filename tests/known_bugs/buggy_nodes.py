"""Deliberately broken RaftNodes, one classic bug each, for the known-bug tests.

Each subclass reintroduces one bug that the Raft paper warns about. They
live in the tests, never behind a flag in the product: the point is to show
that the simulator and the Hypothesis machine *find* such bugs.
"""

from __future__ import annotations

from impl.raft.effects import ReadReady, Send
from impl.raft.events import ReadIndex
from impl.raft.messages import Message, RequestVote, RequestVoteResponse
from impl.raft.node import RaftNode
from impl.raft.quorum import committed_index
from impl.raft.types import Role


class CommitsEarlierTermsByCounting(RaftNode):
    """Figure 8 bug: commits an entry of an earlier term once it is on a majority.

    Raft §5.4.2: "Raft never commits log entries from previous terms by
    counting replicas. Only log entries from the leader's current term are
    committed by counting replicas."
    """

    __slots__ = ()

    def _maybe_commit(self) -> None:
        index = committed_index(self._log.config.voters, self._match_index_of)
        if index > self._commit_index:
            self._commit_to(index)


class VotesWithoutLogCheck(RaftNode):
    """Grants (pre-)votes without the election restriction of Raft §5.4.1.

    "the voter denies its vote if its own log is more up-to-date than that of the candidate."
    """

    __slots__ = ()

    def _handle_request_vote(self, request: RequestVote) -> None:
        if request.pre_vote:
            grant = request.term > self._term
            self._send_vote_response(
                request, term=request.term if grant else self._term, granted=grant
            )
            return
        can_vote = self._voted_for == request.from_id or (
            self._voted_for is None and self._leader_id is None
        )
        if can_vote:
            self._voted_for = request.from_id
            self._hard_state_dirty = True
            self._election_elapsed = 0
        self._send_vote_response(request, term=self._term, granted=can_vote)


class VotesBeforePersisting(RaftNode):
    """Sends its vote before the vote is durable (the Send placed before the Persist).

    Raft Figure 2: persistent state is "updated on stable storage before
    responding to RPCs". A crash after the reply but before the write lets
    the node vote again, for someone else, in the same term.
    """

    __slots__ = ()

    def _send(self, message: Message, *, overtakes_log_writes: bool = False) -> None:
        if isinstance(message, RequestVoteResponse) and not message.pre_vote:
            self._early.append(Send(to=message.to_id, message=message))
            return
        super()._send(message, overtakes_log_writes=overtakes_log_writes)


class ReadsWithoutReadIndex(RaftNode):
    """A leader answers reads from its commit index at once, skipping ReadIndex (thesis §6.4).

    Without confirming leadership with a quorum (and without first committing
    an entry of its own term) a leader may serve stale data.
    """

    __slots__ = ()

    def _read_index(self, event: ReadIndex) -> None:
        if self._role is not Role.LEADER:
            self._reply(self._not_leader(event.request_id))
            return
        self._reply(ReadReady(request_id=event.request_id, index=self._commit_index))
