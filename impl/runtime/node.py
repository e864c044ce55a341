"""One node: the asyncio shell around ``RaftNode`` and the services.

Theory of operation: every input (a tick, a peer message, a client proposal,
a storage acknowledgement) becomes one ``RaftNode.step`` call on the event
loop thread, and the returned effects are carried out in list order
(impl/raft/effects.py). Writes go to a group-commit batch; every other effect
is tagged with the number of writes issued before it and held until those
writes are durable (Rule 2). One group commit at a time takes every write
gathered since the last one into one SQLite transaction on the storage
thread (``_maybe_commit``); when it is durable the loop releases the held
effects in order, steps ``Persisted`` and starts the next batch.

In a step that writes, the effects it lists BEFORE its first write leave at
once (Rule 3): the core only puts a message there when it depends on no
write, for example a leader's AppendEntries (thesis §10.2.1). Effects of a
step that writes nothing wait for every pending write, because such a step
may answer with a term or vote still in flight; the one exception is a Send
the core marked ``overtakes_log_writes`` (a heartbeat's answer, effects.py
Rule 5), which leaves once no term or vote write is pending. Applies keep
their order: one is held whenever anything is held.

Client proposals and ReadIndex requests arriving in one loop iteration are
stepped together in one ``call_soon`` callback (at most ``FLUSH_BATCH_MAX``
per iteration, so timers and peer traffic are served in between), so their
Persists share a commit and their messages share a socket write; consecutive
proposals are one ``ProposeBatch`` step, so each follower gets one
AppendEntries for all of them. Messages released by a commit, or produced by
a read's worth of peer frames, leave right away rather than one iteration
later (latency at low load).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
from collections import deque
from typing import Any, NoReturn

import msgpack

from impl.errors import RemoteProtocolError
from impl.raft.codec import message_from_wire, message_to_wire
from impl.raft.config import RaftConfig
from impl.raft.effects import (
    Accepted,
    Apply,
    ApplySnapshot,
    Effect,
    Persist,
    PersistSnapshot,
    ReadReady,
    Rejected,
    Send,
)
from impl.raft.events import (
    CompactLog,
    Event,
    Persisted,
    Propose,
    ProposeBatch,
    Received,
    Tick,
)
from impl.raft.messages import Message
from impl.raft.node import RaftNode
from impl.raft.types import (
    ClusterConfig,
    Entry,
    EntryKind,
    Index,
    NodeId,
    RestoredState,
    Role,
    Term,
)
from impl.runtime import auth
from impl.runtime.clock import Clock
from impl.runtime.config import Settings
from impl.runtime.forwarding import Forwarder
from impl.runtime.members import parse_address
from impl.runtime.metrics import Metrics
from impl.runtime.outbox import merge_appends
from impl.runtime.outcomes import OutcomeUnknown, Unavailable
from impl.runtime.requests import ClientRequests, Waiting, fail, resolve
from impl.runtime.services import SERVICES, ServiceSpec
from impl.runtime.storage import AsyncStorage, SqliteStore, StorageWrite
from impl.statemachine import StateMachine, decode_command

log = logging.getLogger("sinkron.node")

FLUSH_BATCH_MAX = 256  # client events stepped per loop iteration (see ``_flush``)
STOP_WRITER_S = 5.0  # the in-flight group commit may take this long to finish on stop
STOP_TASKS_S = 1.0  # cancelled loops (ticks, services) get this long to end
STOP_POLL_S = 0.005


class Node(ClientRequests):
    """A running Sinkron node; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        services: tuple[ServiceSpec, ...] = SERVICES,
        raft_config: RaftConfig | None = None,
    ) -> None:
        self.settings = settings
        self.node_id = settings.node_id
        self.clock = clock or Clock()
        self.metrics = Metrics()
        self.service_specs = services
        self.services: dict[str, StateMachine] = {s.name: s.factory() for s in services}
        self.raft_config = raft_config or RaftConfig()
        self.request_timeout_s = settings.request_timeout_ms / 1000
        self.raft: RaftNode
        self.storage: AsyncStorage
        self.forwarder = Forwarder(self)
        self.applied_index = 0
        self.snapshot_index = 0
        self._inflight_bytes = 0  # bytes of proposals awaiting their outcome (requests.py)
        self._request_ids = itertools.count(1)
        self._proposals: dict[int, Waiting] = {}  # request id -> waiting for Accepted/Rejected
        self._appended: dict[int, Waiting] = {}  # log index -> waiting for Apply
        self._reads: dict[int, Waiting] = {}  # request id -> waiting for ReadReady
        self._read_points: list[tuple[int, asyncio.Future[None]]] = []
        self._inbox: list[Event] = []
        self._flush_scheduled = False
        self._outbox: dict[str, list[Message]] = {}
        self._outbox_scheduled = False
        self._write_seq = 0
        self._durable_seq = 0
        self._pending_writes: list[StorageWrite] = []
        self._held: deque[tuple[int, Effect]] = deque()
        self._writer_busy = False  # a group commit is in flight on the writer thread
        self._commit_scheduled = False
        self._storage_closed = False
        self._hard_state_seq = 0  # number of the last write that changes term, vote or snapshot
        self._state_waiters: list[asyncio.Future[None]] = []  # woken by the next apply batch
        self._tasks: list[asyncio.Task[None]] = []
        self._last_seen: tuple[Role, int, str | None] | None = None
        self._commit_seen = -1
        self._stopping = False
        self.transport: Any = None
        # Set by start() and used instead of asyncio.get_running_loop(), which costs a
        # getpid() system call per call in CPython 3.11 (several per replicated write).
        self.loop: asyncio.AbstractEventLoop

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> int:
        """Open storage, recover, start listening; return the bound peer port.

        Raises:
            StorageError: the data directory is damaged or foreign.
        """
        from impl.runtime.transport import PeerTransport

        s = self.settings
        self.loop = asyncio.get_running_loop()
        store = SqliteStore.open(
            s.data_dir, cluster_id=s.cluster_id, node_id=s.node_id, fsync=s.fsync
        )
        loaded = store.load()
        self.storage = AsyncStorage(store, self.loop, on_commit=self._observe_commit)
        if loaded.snapshot is not None:
            self._restore_services(loaded.snapshot.data)
            self.applied_index = self.snapshot_index = loaded.snapshot.index
        bootstrap = None if s.join else ClusterConfig(voters=frozenset(NodeId(p) for p in s.peers))
        restored = RestoredState(
            hard_state=loaded.hard_state,
            snapshot=loaded.snapshot,
            entries=loaded.entries,
            bootstrap=bootstrap,
        )
        self.raft = RaftNode(NodeId(s.node_id), self.raft_config, restored, random.randint)
        log.info(
            "recovered term=%d vote=%s snapshot=%d entries=%d from %s",
            loaded.hard_state.term,
            loaded.hard_state.voted_for,
            self.snapshot_index,
            len(loaded.entries),
            store.path,
        )
        credentials = auth.Credentials(
            cluster_id=s.cluster_id, node_id=s.node_id, secret=s.cluster_secret.encode()
        )
        self.transport = PeerTransport(
            credentials=credentials,
            addresses=dict(s.peers),
            on_frame=self._on_frame,
            on_frames_done=self._after_frames,
            metrics=self.metrics,
            max_frame_bytes=s.max_frame_bytes,
            send_queue_max=s.send_queue_max,
        )
        self._refresh_addresses()
        port = await self.transport.start(s.peer_host, s.peer_port)
        ticks = asyncio.create_task(self._tick_loop(), name="ticks")
        ticks.add_done_callback(_fail_stop)
        self._tasks.append(ticks)
        for spec in self.service_specs:
            if spec.background is not None:
                self._tasks.append(asyncio.create_task(spec.background(self), name=spec.name))  # type: ignore[arg-type]
        self._observe_state()
        return port

    async def stop(self) -> None:
        """Stop ticking, finish the in-flight commit, close sockets and the database.

        Every wait is bounded, so SIGTERM stops the node promptly even when its
        peers are dead or blackholed: only the commit already in flight is
        waited for (up to ``STOP_WRITER_S``), never a peer.
        """
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        self._maybe_commit()
        deadline = self.clock.monotonic() + STOP_WRITER_S
        while (self._writer_busy or self._pending_writes) and self.clock.monotonic() < deadline:
            await asyncio.sleep(STOP_POLL_S)  # the commit in flight (and any queued behind it)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_TASKS_S)
        if self.transport is not None:
            await self.transport.close()
        self.forwarder.fail_all()
        self._storage_closed = True  # a commit still in flight may finish; start no other
        await self.storage.close()

    # ------------------------------------------------------------------ stepping

    def _step(self, event: Event) -> None:
        effects = self.raft.step(event)
        if effects:
            self._carry_out(effects)
        self._observe_state()

    def _carry_out(self, effects: list[Effect]) -> None:
        # Early effects (listed before the step's first write) may overtake pending
        # writes only in a step that writes: there the core separated them on purpose.
        # In a step without writes nothing tells us what they depend on (a follower's
        # reply reveals a term that may still be in flight), so they wait for all.
        step_writes = any(isinstance(e, (Persist, PersistSnapshot)) for e in effects)
        independent = step_writes or self._write_seq == self._durable_seq
        for effect in effects:
            if isinstance(effect, (Persist, PersistSnapshot)):
                self._pending_writes.append(effect)
                self._write_seq += 1
                if isinstance(effect, PersistSnapshot) or effect.hard_state is not None:
                    self._hard_state_seq = self._write_seq
                if not self._commit_scheduled:
                    # At the end of this iteration's callbacks, so the writes of every
                    # step in it share the commit (_flush and _after_frames start it
                    # earlier, once their batch is stepped).
                    self._commit_scheduled = True
                    self.loop.call_soon(self._maybe_commit)
                independent = False
            elif isinstance(effect, (Apply, ApplySnapshot)) and self._held:
                self._held.append((self._write_seq, effect))  # Rule 4: applies stay in order
            elif independent:
                self._execute(effect)  # Rule 3
            elif (
                isinstance(effect, Send)
                and effect.overtakes_log_writes
                and self._hard_state_seq <= self._durable_seq
            ):
                # The core marked it as claiming nothing but our term (effects.py Rule 5),
                # and every term or vote write is durable: log writes need not hold it.
                self._execute(effect)
            else:
                self._held.append((self._write_seq, effect))  # Rule 2

    def _execute(self, effect: Effect) -> None:
        match effect:
            case Send():
                self._send(effect)
            case Apply(entries=entries):
                self._apply(entries)
            case ApplySnapshot(snapshot=snapshot):
                log.info("installing the leader's snapshot at index %d", snapshot.index)
                self._restore_services(snapshot.data)
                for index in [i for i in self._appended if i <= snapshot.index]:
                    lost = self._appended.pop(index)
                    fail(lost.future, OutcomeUnknown("replaced by a snapshot before it was seen"))
                self.applied_index = self.snapshot_index = snapshot.index
                self._after_apply()
            case Accepted(request_id=rid, index=index, term=term):
                proposal = self._proposals.pop(rid, None)
                if proposal is not None:
                    proposal.term = term
                    self._appended[index] = proposal
            case ReadReady(request_id=rid, index=index):
                read = self._reads.pop(rid, None)
                if read is not None:
                    resolve(read.future, index)
            case Rejected(request_id=rid, reason=reason, leader_hint=hint):
                refused = self._proposals.pop(rid, None) or self._reads.pop(rid, None)
                if refused is not None:
                    fail(refused.future, Unavailable(f"rejected: {reason.value}", leader=hint))
            case _:
                raise AssertionError(f"unexpected effect {effect!r}")

    def _send(self, effect: Send) -> None:
        """Buffer the message; the iteration's messages leave together (outbox.py)."""
        self._outbox.setdefault(effect.to, []).append(effect.message)
        if not self._outbox_scheduled:
            self._outbox_scheduled = True
            self.loop.call_soon(self._flush_outbox)

    def _after_frames(self) -> None:
        """A read's worth of peer frames was stepped: persist and answer now."""
        self._maybe_commit()
        self._flush_outbox()

    def _flush_outbox(self) -> None:
        """Send the buffered messages; called when scheduled, and early where latency counts."""
        self._outbox_scheduled = False
        if not self._outbox:
            return
        outbox, self._outbox = self._outbox, {}
        config = self.raft_config
        for peer, messages in outbox.items():
            for message in merge_appends(
                messages,
                max_entries=config.max_entries_per_append,
                max_bytes=config.max_append_bytes,
            ):
                self.transport.send(peer, ["raft", message_to_wire(message)])

    def _submit(self, event: Event) -> None:
        """Queue a client event; all queued in one loop iteration are stepped together."""
        self._inbox.append(event)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        # At most FLUSH_BATCH_MAX events per callback: the rest wait one loop iteration,
        # so timers (ticks) and peer traffic (heartbeat answers) are served in between
        # however many clients are proposing; a starved leader would lose leadership.
        self._flush_scheduled = False
        inbox = self._inbox
        if len(inbox) > FLUSH_BATCH_MAX:
            batch, self._inbox = inbox[:FLUSH_BATCH_MAX], inbox[FLUSH_BATCH_MAX:]
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)
        else:
            batch, self._inbox = inbox, []
        proposals: list[Propose] = []
        for event in batch:
            if type(event) is Propose:
                proposals.append(event)
                continue
            self._step_proposals(proposals)
            self._step(event)
        self._step_proposals(proposals)
        self._flush_outbox()  # the batch's appends leave now, not an iteration later
        self._maybe_commit()

    def _step_proposals(self, proposals: list[Propose]) -> None:
        """Step consecutive proposals as one ``ProposeBatch`` (one append per follower)."""
        if len(proposals) == 1:
            self._step(proposals[0])
        elif proposals:
            self._step(ProposeBatch(proposals=tuple(proposals)))
        proposals.clear()

    async def _tick_loop(self) -> None:
        """Step one ``Tick`` per tick interval of the monotonic clock.

        A leader whose loop iterations grow long under client load steps every
        tick that came due at once, so its heartbeats keep the wall-clock pace
        the followers' election timeouts assume; stepping one tick per
        iteration stretched them past the timeout and cost it its leadership.
        Other roles keep one tick per iteration: a follower reads the peer
        traffic that arrived in between before its election timer advances.
        """
        interval = self.settings.tick_ms / 1000
        deadline = self.clock.monotonic()
        while True:
            deadline += interval
            delay = deadline - self.clock.monotonic()
            if delay < -10 * interval:  # the process was paused: do not replay missed ticks
                deadline = self.clock.monotonic()
            await asyncio.sleep(max(delay, 0))
            self._step(Tick())
            while self.raft.role is Role.LEADER and (deadline + interval <= self.clock.monotonic()):
                deadline += interval
                self._step(Tick())

    def _maybe_commit(self) -> None:
        """Start committing the pending writes, unless a commit is in flight.

        One group commit at a time, so commits stay in order; writes that
        arrive meanwhile form the next batch, started as soon as this one is
        durable (``_commit_done``). Without fsync a small batch commits right
        here (``AsyncStorage.write_now``): that saves the two thread hand-offs
        on every write's path at low load. Otherwise the batch goes to the
        writer thread, and the loop keeps serving peers and clients while the
        disk works.
        """
        self._commit_scheduled = False
        if not self._pending_writes or self._writer_busy or self._storage_closed:
            return
        batch, self._pending_writes = self._pending_writes, []
        upto = self._write_seq
        elapsed = self.storage.write_now(batch)
        if elapsed is not None:
            self._committed(batch, upto, elapsed)
            return
        self._writer_busy = True
        self.storage.submit(batch, lambda outcome: self._commit_done(batch, upto, outcome))

    def _commit_done(
        self, batch: list[StorageWrite], upto: int, outcome: float | Exception
    ) -> None:
        """The writer thread finished ``batch``: release what waited, start the next batch."""
        self._writer_busy = False
        if isinstance(outcome, Exception):
            # An I/O error: nothing after it can be made durable. Crash-stop is safe
            # (nothing was acknowledged before it was durable); limping on is not.
            _crash_stop("fatal error in the storage writer; exiting", exc_info=outcome)
        self._committed(batch, upto, outcome)
        self._maybe_commit()

    def _committed(self, batch: list[StorageWrite], upto: int, elapsed: float) -> None:
        """``batch`` (the writes up to number ``upto``) is durable: release what waited."""
        if elapsed > 0.1:
            log.warning("slow fsync: %.0f ms for %d writes", elapsed * 1000, len(batch))
        self._durable_seq = upto
        while self._held and self._held[0][0] <= self._durable_seq:
            self._execute(self._held.popleft()[1])
        last = _last_written(batch)
        if last is not None and not self._stopping:
            self._step(Persisted(index=last[0], term=last[1]))
        self._flush_outbox()  # released acknowledgements leave now, not an iteration later

    def _observe_commit(self, seconds: float, writes: int) -> None:
        self.metrics.fsync_seconds.observe(seconds)
        self.metrics.group_commit_size.observe(writes)

    def _observe_state(self) -> None:
        raft = self.raft
        seen = (raft.role, raft.term, raft.leader_id)
        if seen != self._last_seen:
            previous = self._last_seen
            self._last_seen = seen
            log.info("role=%s term=%d leader=%s", raft.role.value, raft.term, raft.leader_id)
            for role in Role:
                self.metrics.role.labels(role=role.value).set(int(role is raft.role))
            self.metrics.term.set(raft.term)
            if previous is not None and previous[0] is Role.LEADER and raft.role is not Role.LEADER:
                self._fail_reads("lost leadership")
        if raft.commit_index != self._commit_seen:  # a gauge update costs more than the test
            self._commit_seen = raft.commit_index
            self.metrics.commit_index.set(raft.commit_index)

    # ------------------------------------------------------------------ applying

    def _apply(self, entries: tuple[Entry, ...]) -> None:
        members_changed = woke_clients = False
        for entry in entries:
            if entry.index <= self.applied_index:
                continue  # Rule 4: never re-apply (a restart replays from the snapshot)
            assert entry.index == self.applied_index + 1, (
                f"apply gap: applied {self.applied_index}, got {entry.index}"
            )
            result: Any = None
            if entry.kind is EntryKind.NORMAL:
                result, service = self._apply_command(entry)
                members_changed |= service == "members"
            self.applied_index = entry.index
            waiting = self._appended.pop(entry.index, None)
            if waiting is not None:
                woke_clients = True
                if waiting.term == entry.term:
                    resolve(waiting.future, result)
                else:
                    fail(waiting.future, Unavailable("another leader's entry took its place"))
        if members_changed:
            self._refresh_addresses()
        if woke_clients and not self._flush_scheduled:
            # Queued behind the wake-ups of the clients just answered, so the proposals
            # they make next are stepped in the same loop iteration, one earlier than a
            # flush scheduled by their first _submit (a loop iteration per write at c=1).
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)
        self._after_apply()
        self._maybe_snapshot()

    def _apply_command(self, entry: Entry) -> tuple[Any, str]:
        try:
            command = decode_command(entry.data)
        except RemoteProtocolError as error:
            # Only encode_command writes NORMAL entries, so this one is damaged (SQLite keeps
            # no checksum of a blob's bytes) or another version's. Applying past it would
            # leave this replica's services silently unlike the others': crash-stop instead.
            _crash_stop(
                "entry %d of the replicated log cannot be applied (%s): it was damaged on "
                "disk (in %s, or on the leader it came from) or written by another version; "
                "stopping",
                entry.index,
                error,
                self.settings.data_dir,
            )
        machine = self.services.get(command.service)
        if machine is None:
            return {"ok": False, "error": "unknown-service", "message": command.service}, ""
        return machine.apply(entry.index, command), command.service

    def _after_apply(self) -> None:
        self.metrics.applied_index.set(self.applied_index)
        if self._read_points:
            ready = [(i, f) for i, f in self._read_points if i <= self.applied_index]
            self._read_points = [(i, f) for i, f in self._read_points if i > self.applied_index]
            for _, future in ready:
                resolve(future, None)
        if self._state_waiters:  # usually none: nothing is built per apply for nobody
            waiters, self._state_waiters = self._state_waiters, []
            for waiter in waiters:
                resolve(waiter, None)

    def _maybe_snapshot(self) -> None:
        if self.applied_index - self.snapshot_index <= self.settings.snapshot_entries:
            return
        data = self._snapshot_services()
        self.snapshot_index = self.applied_index
        log.info("snapshot at index %d (%d bytes)", self.applied_index, len(data))
        self._step(CompactLog(index=Index(self.applied_index), data=data))

    def _snapshot_services(self) -> bytes:
        return msgpack.packb(
            {name: m.snapshot() for name, m in self.services.items()}, use_bin_type=True
        )

    def _restore_services(self, data: bytes) -> None:
        images = msgpack.unpackb(data, raw=False) if data else {}
        for name, machine in self.services.items():
            machine.restore(images.get(name, b""))
        self._refresh_addresses()

    def _refresh_addresses(self) -> None:
        members = self.services.get("members")
        if members is None or self.transport is None:
            return
        for node, text in getattr(members, "addresses", {}).items():
            address = parse_address(text)
            if address is not None:
                self.transport.set_address(node, address)

    # ------------------------------------------------------------------ peer frames

    def _on_frame(self, sender: str, frame: Any) -> None:
        """Dispatch one authenticated frame; malformed ones raise RemoteProtocolError."""
        if not isinstance(frame, list) or len(frame) != 2 or not isinstance(frame[0], str):
            raise RemoteProtocolError("a frame is [kind, payload]")
        kind, payload = frame
        if kind == "raft":
            message = message_from_wire(payload)
            if message.from_id != sender or message.to_id != self.node_id:
                raise RemoteProtocolError(f"message {message} arrived on the link from {sender}")
            self._step(Received(message=message))
        elif kind == "fwd":
            self.forwarder.handle_request(sender, payload)
        elif kind == "fwdr":
            self.forwarder.handle_reply(sender, payload)
        else:
            raise RemoteProtocolError(f"unknown frame kind {kind!r}")


def _fail_stop(task: asyncio.Task[None]) -> None:
    """A core loop died of a bug or an I/O error: stop the process rather than limp on.

    Crash-stop is safe by construction (nothing was acknowledged before it was
    durable); a node that keeps answering HTTP without ticking or writing is not.
    """
    if task.cancelled() or task.exception() is None:
        return
    _crash_stop("fatal error in the %s loop; exiting", task.get_name(), exc_info=task.exception())


def _crash_stop(message: str, *args: object, exc_info: BaseException | None = None) -> NoReturn:
    """Log ``message`` as critical and exit 70 at once, without unwinding anything.

    Crash-stop is safe by construction (nothing was acknowledged before it was
    durable); a node that limps on past a lost write or a skipped entry is not.
    """
    log.critical(message, *args, exc_info=exc_info)
    logging.shutdown()
    os._exit(70)


def _last_written(batch: list[StorageWrite]) -> tuple[Index, Term] | None:
    """The (index, term) of the log's last entry after ``batch``, if the batch touched the log."""
    for write in reversed(batch):
        if isinstance(write, Persist) and write.entries:
            return write.entries[-1].index, write.entries[-1].term
        if isinstance(write, PersistSnapshot) and write.discard_log:
            return write.snapshot.index, write.snapshot.term
    return None
