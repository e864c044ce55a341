"""Leader election: timeouts, PreVote, votes, stickiness and TimeoutNow.

Theory of operation: a follower that hears nothing from a leader for its
randomized election timeout (Raft §5.2, drawn afresh each time the timer
resets) first runs a PreVote round (thesis §9.6): it asks "would you vote
for me in term + 1?" without changing anyone's term. Only if a majority says
yes does it become a candidate, bump its term, vote for itself and persist
that before asking for real votes. A partitioned node therefore cannot
inflate terms and depose a healthy leader when it rejoins.

Leader stickiness: a node that heard from a leader within the minimum
election timeout ignores PreVotes of a higher term (thesis §9.6), and also
real votes when CheckQuorum is on (thesis §4.2.3; a leader that lost its
quorum steps down by itself, so followers may trust their lease). A request
marked as coming from a leadership transfer (TimeoutNow, thesis §3.10) is
exempt, and such a candidate skips PreVote too.

Rules:
  Rule 1. A granted vote is persisted (Persist of the hard state) before
          the response is sent: the response is queued "late" (state.py).
  Rule 2. A vote is granted only to a candidate whose log is at least as
          up-to-date as ours (Raft §5.4.1), at most once per term.
  Rule 3. Only votes of voters of the candidate's configuration count.
"""

from __future__ import annotations

from impl.raft.messages import RequestVote, RequestVoteResponse, TimeoutNow
from impl.raft.quorum import VoteResult, vote_result
from impl.raft.state import NodeState
from impl.raft.types import CANDIDATE, LEADER, PRE_CANDIDATE, Term


class Election(NodeState):
    __slots__ = ()

    def _tick_election(self) -> None:
        self._election_elapsed += 1
        if self._election_elapsed >= self._randomized_election_timeout and self._promotable():
            if self._raft_config.pre_vote:
                self._become_pre_candidate()
            else:
                self._become_candidate(leadership_transfer=False)

    def _heard_from_leader_recently(self) -> bool:
        return (
            self._leader_id is not None
            and self._election_elapsed < self._raft_config.election_timeout_ticks_min
        )

    def _ignores_vote(self, request: RequestVote) -> bool:
        """True when granting (or even answering) a higher-term request would be disruptive.

        A PreVote is refused while we hear from a leader (thesis §9.6: "...and it has
        not received a heartbeat from a valid leader for at least a baseline election
        timeout"). A real vote is refused likewise when CheckQuorum makes leaders step
        down on their own (thesis §4.2.3, etcd's lease). Leadership transfer overrides both.
        """
        if request.leadership_transfer or not self._heard_from_leader_recently():
            return False
        return request.pre_vote or self._raft_config.check_quorum

    def _become_pre_candidate(self) -> None:
        self._role = PRE_CANDIDATE
        self._leader_id = None
        self._reset_election_timer()
        self._votes = {self._id: True}
        if vote_result(self._log.config.voters, self._votes) is VoteResult.WON:
            self._become_candidate(leadership_transfer=False)
            return
        self._request_votes(Term(self._term + 1), pre_vote=True, leadership_transfer=False)

    def _become_candidate(self, *, leadership_transfer: bool) -> None:
        assert self._promotable(), f"{self._id} is not a voter and must not campaign"
        self._role = CANDIDATE
        self._term = Term(self._term + 1)
        self._voted_for = self._id
        self._hard_state_dirty = True
        self._leader_id = None
        self._reset_election_timer()
        self._votes = {self._id: True}
        if vote_result(self._log.config.voters, self._votes) is VoteResult.WON:
            self._become_leader()
            return
        self._request_votes(self._term, pre_vote=False, leadership_transfer=leadership_transfer)

    def _request_votes(self, term: Term, *, pre_vote: bool, leadership_transfer: bool) -> None:
        for voter in sorted(self._log.config.voters):
            if voter == self._id:
                continue
            self._send(
                RequestVote(
                    from_id=self._id,
                    to_id=voter,
                    term=term,
                    last_log_index=self._log.last_index,
                    last_log_term=self._log.last_term,
                    pre_vote=pre_vote,
                    leadership_transfer=leadership_transfer,
                )
            )

    def _handle_request_vote(self, request: RequestVote) -> None:
        """Called with request.term >= our term (a higher real term was already adopted)."""
        up_to_date = self._log.is_up_to_date(request.last_log_index, request.last_log_term)
        if request.pre_vote:
            # Thesis §9.6: grant if we would vote in that term; change nothing.
            grant = request.term > self._term and up_to_date
            term = request.term if grant else self._term
            self._send_vote_response(request, term=term, granted=grant)
            return
        can_vote = self._voted_for == request.from_id or (
            self._voted_for is None and self._leader_id is None
        )
        if can_vote and up_to_date:
            self._voted_for = request.from_id
            self._hard_state_dirty = True  # Rule 1: Persist precedes the response
            self._election_elapsed = 0
            self._send_vote_response(request, term=self._term, granted=True)
        else:
            self._send_vote_response(request, term=self._term, granted=False)

    def _send_vote_response(self, request: RequestVote, *, term: Term, granted: bool) -> None:
        self._send(
            RequestVoteResponse(
                from_id=self._id,
                to_id=request.from_id,
                term=term,
                vote_granted=granted,
                pre_vote=request.pre_vote,
            )
        )

    def _handle_vote_response(self, response: RequestVoteResponse) -> None:
        if response.pre_vote:
            if self._role is not PRE_CANDIDATE:
                return
            if response.vote_granted and response.term != self._term + 1:
                return  # an answer to an older round
        else:
            if self._role is not CANDIDATE or response.term != self._term:
                return
        self._votes[response.from_id] = response.vote_granted
        result = vote_result(self._log.config.voters, self._votes)
        if result is VoteResult.WON:
            if self._role is PRE_CANDIDATE:
                self._become_candidate(leadership_transfer=False)
            else:
                self._become_leader()
        elif result is VoteResult.LOST:
            self._become_follower(self._term, None)

    def _handle_timeout_now(self, message: TimeoutNow) -> None:
        """Thesis §3.10: the leader asks us to campaign at once, skipping PreVote."""
        if self._role is not LEADER and self._promotable():
            self._become_candidate(leadership_transfer=True)
