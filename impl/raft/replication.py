"""Log replication, commitment, heartbeats and ReadIndex (Raft §5.3-§5.4, thesis §6.4).

Theory of operation: the leader keeps a ``Progress`` per peer (progress.py)
and sends AppendEntries batches of at most ``max_entries_per_append``
entries / ``max_append_bytes`` bytes. In REPLICATE state it pipelines up to
``max_inflight_appends`` batches; a rejection drops the peer to PROBE and
the follower's conflict hint moves next_index back a whole term at a time.
When next_index falls into the compacted prefix, the peer gets the snapshot.

The leader counts itself toward the commit quorum only up to its durable
index (what storage acknowledged with ``Persisted``), and commits by
counting only entries of its own term (Raft §5.4.2, Figure 8); a NOOP
appended on election makes that possible at once (Raft §8).

Heartbeats carry a read round number. A ReadIndex request is answered once
the leader has committed an entry of its term and a majority of voters has
answered a heartbeat round that started after the request (thesis §6.4), so
the leader knows it was still the leader when the read arrived.

Rules:
  Rule 1. A follower never truncates a committed entry (asserted).
  Rule 2. A follower acknowledges entries only after a Persist (or a barrier
          Persist) earlier in the same effect list.
  Rule 3. A snapshot never moves a follower backwards: if it already holds
          the snapshot's last entry, it only advances its commit index.
  Rule 4. Only a heartbeat's answer is marked ``overtakes_log_writes``
          (effects.py Rule 5): it carries match_index 0 and so claims
          nothing about the follower's log, only its term.
"""

from __future__ import annotations

from collections import deque

from impl.raft.effects import ApplySnapshot, PersistSnapshot, ReadReady
from impl.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    TimeoutNow,
)
from impl.raft.progress import PROBE, REPLICATE, SNAPSHOT, Inflights, Progress
from impl.raft.quorum import committed_index, has_quorum, quorum_value
from impl.raft.state import NodeState
from impl.raft.types import CANDIDATE, FOLLOWER, LEADER, NOOP, Entry, Index, NodeId, Term


class Replication(NodeState):
    __slots__ = ()

    # ================================================================== leader

    def _become_leader(self) -> None:
        assert self._role is CANDIDATE, f"{self._id} became leader from {self._role}"
        self._role = LEADER
        self._leader_id = self._id
        # Votes from others prove our term and vote were durable before we asked (Rule 2 of
        # effects.py); a single voter that elected itself in this very step has no such proof
        # until its NOOP (written after the hard state) is acknowledged by storage.
        self._leader_term_durable = not self._hard_state_dirty
        self._heartbeat_elapsed = 0
        self._election_elapsed = 0
        self._committed_in_term = False
        self._pending_reads = deque()
        self._transfer_target = None
        self._progress = {}
        self._sync_progress()
        # Raft §8: a NOOP of the new term lets earlier entries commit by counting it.
        noop = Entry(term=self._term, index=Index(self._log.last_index + 1), kind=NOOP)
        self._append_local((noop,))
        self._broadcast_append()

    def _sync_progress(self) -> None:
        """Track exactly the members (other than us) of the configuration in force."""
        members = self._log.config.members
        for peer in list(self._progress):
            if peer not in members:
                del self._progress[peer]
        for peer in sorted(members):
            if peer != self._id and peer not in self._progress:
                self._progress[peer] = Progress(
                    next_index=Index(self._log.last_index + 1),
                    inflights=Inflights(capacity=self._raft_config.max_inflight_appends),
                )
        if self._transfer_target is not None and self._transfer_target not in self._progress:
            self._transfer_target = None

    def _tick_leader(self) -> None:
        config = self._raft_config
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        if self._transfer_target is not None:
            self._transfer_elapsed += 1
            if self._transfer_elapsed >= config.election_timeout_ticks_min:
                self._transfer_target = None  # thesis §3.10: abort after an election timeout
        if self._election_elapsed >= config.election_timeout_ticks_min:
            self._election_elapsed = 0
            if config.check_quorum and not self._quorum_active():
                # Thesis §6.2: a leader that cannot reach a majority steps down.
                self._become_follower(self._term, None)
                return
            for progress in self._progress.values():
                progress.recent_active = False
        if self._heartbeat_elapsed >= config.heartbeat_interval_ticks:
            self._heartbeat_elapsed = 0
            self._broadcast_heartbeat()

    def _quorum_active(self) -> bool:
        def active(voter: NodeId) -> bool:
            if voter == self._id:
                return True
            progress = self._progress.get(voter)
            return progress is not None and progress.recent_active

        return has_quorum(self._log.config.voters, active)

    def _broadcast_heartbeat(self) -> None:
        self._read_round += 1
        for peer, progress in self._progress.items():
            self._send(
                AppendEntries(
                    from_id=self._id,
                    to_id=peer,
                    term=self._term,
                    prev_log_index=Index(0),
                    prev_log_term=Term(0),
                    entries=(),
                    leader_commit=Index(min(self._commit_index, progress.match_index)),
                    read_context=self._read_round,
                )
            )
        self._maybe_answer_reads()

    def _broadcast_append(self) -> None:
        for peer in self._progress:
            self._send_appends(peer, allow_empty=False)

    def _send_appends(self, peer: NodeId, *, allow_empty: bool) -> None:
        """Send what the window allows: one probe, or batches until the window is full."""
        progress = self._progress[peer]
        # ``_maybe_send_append`` sends nothing without allow_empty once next_index is past
        # the log; checking that here first saves a call per acknowledgement and per batch.
        after_last = self._log.last_index + 1
        if not allow_empty and progress.next_index == after_last:
            return
        sent = self._maybe_send_append(peer, progress, allow_empty=allow_empty)
        while sent and progress.state is REPLICATE and progress.next_index != after_last:
            sent = self._maybe_send_append(peer, progress, allow_empty=False)

    def _maybe_send_append(self, peer: NodeId, progress: Progress, *, allow_empty: bool) -> bool:
        if progress.is_paused():
            return False
        log, next_index = self._log, progress.next_index
        prev_index = Index(next_index - 1)
        assert prev_index <= log.last_index, f"next_index {next_index} of {peer} past log"
        prev_term = log.term_at(prev_index)
        if prev_term is None:
            self._send_snapshot(peer, progress)
            return True
        if next_index <= log.last_index:
            config = self._raft_config
            entries = log.slice(
                next_index,
                log.last_index,
                max_count=config.max_entries_per_append,
                max_bytes=config.max_append_bytes,
            )
        elif allow_empty:
            entries = ()
        else:
            return False
        self._send(
            AppendEntries(
                from_id=self._id,
                to_id=peer,
                term=self._term,
                prev_log_index=prev_index,
                prev_log_term=prev_term,
                entries=entries,
                leader_commit=self._commit_index,
            )
        )
        progress.sent_entries(entries[-1].index if entries else prev_index, len(entries))
        return True

    def _send_snapshot(self, peer: NodeId, progress: Progress) -> None:
        snapshot = self._log.snapshot
        assert snapshot is not None, f"{peer} needs compacted entries but there is no snapshot"
        self._send(
            InstallSnapshot(from_id=self._id, to_id=peer, term=self._term, snapshot=snapshot)
        )
        progress.become_snapshot(snapshot.index)

    def _handle_append_response(self, response: AppendEntriesResponse) -> None:
        progress = self._progress.get(response.from_id)
        if self._role is not LEADER or progress is None:
            return
        progress.recent_active = True
        if response.read_context:
            self._handle_heartbeat_response(response.from_id, progress, response.read_context)
            return
        if not response.success:
            if progress.maybe_decrement(response.reject_index, self._next_from_hint(response)):
                self._send_appends(response.from_id, allow_empty=True)
            return
        updated = progress.maybe_update(response.match_index)
        if progress.state is PROBE or (
            progress.state is SNAPSHOT and progress.match_index >= progress.pending_snapshot
        ):
            progress.become_replicate()
        if updated:
            if progress.match_index > self._commit_index:
                self._maybe_commit()
            if self._transfer_target is not None:
                self._maybe_send_timeout_now(response.from_id)
        if self._role is LEADER:
            self._send_appends(response.from_id, allow_empty=False)

    def _handle_heartbeat_response(self, peer: NodeId, progress: Progress, round: int) -> None:
        if round > progress.read_ack:
            progress.read_ack = round
            self._maybe_answer_reads()
        # A heartbeat answer proves the peer is reachable: unblock a stalled stream, so lost
        # appends are re-sent (etcd's handleHeartbeatResponse).
        if progress.state is SNAPSHOT:
            progress.snapshot_wait_rounds += 1
            waited = progress.snapshot_wait_rounds * self._raft_config.heartbeat_interval_ticks
            if waited >= self._raft_config.election_timeout_ticks_min:
                progress.become_probe()  # the snapshot was probably lost; send it again
        elif progress.state is REPLICATE:
            behind = progress.match_index < self._log.last_index
            if behind and progress.match_index == progress.match_at_heartbeat:
                # A whole heartbeat round without an acknowledgement while entries are
                # outstanding: appends were probably lost. Resend from match_index + 1.
                progress.become_probe()
            elif progress.inflights.full:
                progress.inflights.free_first()
        else:
            progress.probe_sent = False
        progress.match_at_heartbeat = progress.match_index
        if progress.match_index < self._log.last_index:
            probing = progress.state is PROBE
            self._send_appends(peer, allow_empty=probing)

    def _next_from_hint(self, response: AppendEntriesResponse) -> Index:
        """Fast back-off (Raft §5.3): skip all of the follower's conflicting term at once."""
        if response.conflict_term is None:
            return response.conflict_index
        last = self._log.last_index_of_term(response.conflict_term, response.reject_index)
        if last is not None:
            return Index(last + 1)
        return response.conflict_index

    def _handle_snapshot_response(self, response: InstallSnapshotResponse) -> None:
        progress = self._progress.get(response.from_id)
        if self._role is not LEADER or progress is None:
            return
        progress.recent_active = True
        updated = progress.maybe_update(response.match_index)
        if progress.state is SNAPSHOT and progress.match_index >= progress.pending_snapshot:
            progress.become_replicate()
        if updated:
            self._maybe_commit()
            self._maybe_send_timeout_now(response.from_id)
        if self._role is LEADER:
            self._send_appends(response.from_id, allow_empty=False)

    def _match_index_of(self, voter: NodeId) -> int:
        """What ``_maybe_commit`` counts for ``voter`` (it inlines this on the hot path)."""
        if voter == self._id:
            return self._durable_index  # only what our own storage acknowledged
        progress = self._progress.get(voter)
        return 0 if progress is None else progress.match_index

    def _maybe_commit(self) -> None:
        # committed_index(voters, self._match_index_of), without a call per voter.
        own, progress_of = self._id, self._progress
        matches: list[int] = []
        for voter in self._log.config.voters:
            if voter == own:
                matches.append(self._durable_index)  # only what our own storage acknowledged
            else:
                progress = progress_of.get(voter)
                matches.append(0 if progress is None else progress.match_index)
        index = quorum_value(matches)
        # Raft §5.4.2: only entries of the leader's own term are committed by counting replicas.
        if index > self._commit_index and self._log.term_at(index) == self._term:
            self._commit_to(index)

    def _commit_to(self, index: Index) -> None:
        if index <= self._commit_index:
            return
        assert index <= self._log.last_index, f"commit {index} past last index"
        self._commit_index = index
        if self._role is not LEADER:
            return
        if not self._committed_in_term:
            self._committed_in_term = True
            for read in self._pending_reads:
                if read.index is None:
                    read.index = index
            self._maybe_answer_reads()
        config = self._log.config
        if self._id not in config.voters and self._log.config_index <= index:
            # Thesis §4.2.2: a leader removed from the configuration steps down once that
            # configuration is committed.
            self._become_follower(self._term, None)

    def _maybe_send_timeout_now(self, peer: NodeId) -> None:
        if (
            self._transfer_target == peer
            and not self._timeout_now_sent
            and self._progress[peer].match_index == self._log.last_index
        ):
            self._timeout_now_sent = True
            self._send(TimeoutNow(from_id=self._id, to_id=peer, term=self._term))

    def _maybe_answer_reads(self) -> None:
        if not self._pending_reads or not self._committed_in_term:
            return

        def acked_round(voter: NodeId) -> int:
            if voter == self._id:
                return self._read_round
            progress = self._progress.get(voter)
            return 0 if progress is None else progress.read_ack

        confirmed = committed_index(self._log.config.voters, acked_round)
        while self._pending_reads and self._pending_reads[0].round <= confirmed:
            read = self._pending_reads.popleft()
            assert read.index is not None
            self._reply(ReadReady(request_id=read.request_id, index=read.index))

    # ================================================================== follower

    def _handle_append_entries(self, request: AppendEntries) -> None:
        """Called with request.term == our term."""
        assert self._role is not LEADER, f"two leaders in term {self._term}"
        if self._role is not FOLLOWER:
            self._become_follower(self._term, request.from_id)
        self._leader_id = request.from_id
        self._election_elapsed = 0
        if request.read_context > 0:  # request.is_heartbeat, without the property call
            # The leader clipped leader_commit to our match index (messages.py Rule 1).
            self._commit_to(Index(min(request.leader_commit, self._log.last_index)))
            self._respond_append(request, success=True, match_index=Index(0))
            return
        prev_index, prev_term, entries = (
            request.prev_log_index,
            request.prev_log_term,
            request.entries,
        )
        if prev_index < self._commit_index:
            # Entries up to our commit index are committed and so match the leader's.
            skip = self._commit_index - prev_index
            if skip >= len(entries):
                self._respond_append(request, success=True, match_index=self._commit_index)
                return
            prev_index, prev_term = self._commit_index, entries[skip - 1].term
            assert self._log.term_at(prev_index) == prev_term, "committed entry differs (§5.4)"
            entries = entries[skip:]
        if self._log.term_at(prev_index) != prev_term:
            conflict_term, conflict_index = self._log.conflict_hint(prev_index)
            self._send(
                AppendEntriesResponse(
                    from_id=self._id,
                    to_id=request.from_id,
                    term=self._term,
                    success=False,
                    reject_index=request.prev_log_index,
                    conflict_term=conflict_term,
                    conflict_index=conflict_index,
                )
            )
            return
        self._append_new_entries(entries)
        match_index = Index(prev_index + len(entries))
        # Raft Figure 2: commitIndex = min(leaderCommit, index of last new entry).
        leader_commit = request.leader_commit
        self._commit_to(leader_commit if leader_commit < match_index else match_index)
        self._respond_append(request, success=True, match_index=match_index)

    def _append_new_entries(self, entries: tuple[Entry, ...]) -> None:
        """Skip entries we hold, truncate at the first conflict, append the rest (Raft §5.3)."""
        if entries and entries[0].index == self._log.last_index + 1:
            self._append_local(entries)  # the usual case: all new, what the loop would find
            return
        for offset, entry in enumerate(entries):
            term = self._log.term_at(entry.index)
            if term is None:
                self._append_local(entries[offset:])
                return
            if term != entry.term:
                self._truncate_local(entry.index)
                self._append_local(entries[offset:])
                return

    def _respond_append(self, request: AppendEntries, *, success: bool, match_index: Index) -> None:
        if match_index > self._durable_index:
            self._barrier_needed = True  # Rule 2
        self._send(
            AppendEntriesResponse(
                from_id=self._id,
                to_id=request.from_id,
                term=self._term,
                success=success,
                match_index=match_index,
                read_context=request.read_context,
            ),
            # A heartbeat answer (match_index 0) claims nothing about our log, only our
            # term: it may overtake earlier steps' log writes (effects.py Rule 5).
            overtakes_log_writes=request.read_context > 0 and match_index == 0,
        )

    def _handle_install_snapshot(self, request: InstallSnapshot) -> None:
        """Called with request.term == our term."""
        assert self._role is not LEADER, f"two leaders in term {self._term}"
        if self._role is not FOLLOWER:
            self._become_follower(self._term, request.from_id)
        self._leader_id = request.from_id
        self._election_elapsed = 0
        snapshot = request.snapshot
        if snapshot.index <= self._commit_index:
            match_index = self._commit_index  # Rule 3: never go backwards
        elif self._log.term_at(snapshot.index) == snapshot.term:
            self._commit_to(snapshot.index)  # we hold the entries: just advance
            match_index = snapshot.index
        else:
            self._log.restore(snapshot)
            self._commit_index = snapshot.index
            self._applied_index = snapshot.index
            self._durable_index = snapshot.index
            self._persist_from = None
            self._persist_snapshot = PersistSnapshot(snapshot=snapshot, discard_log=True)
            self._apply_snapshot = ApplySnapshot(snapshot=snapshot)
            match_index = snapshot.index
        if match_index > self._durable_index:
            self._barrier_needed = True
        self._send(
            InstallSnapshotResponse(
                from_id=self._id, to_id=request.from_id, term=self._term, match_index=match_index
            )
        )
