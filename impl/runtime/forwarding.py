"""Client requests relayed from a follower to the leader over the peer transport.

Theory of operation: a follower sends ``["fwd", {rid, kind, service, op}]``
on its dialed link to the leader; the leader runs the request locally (it
never forwards again: if it lost leadership it answers "unavailable") and
answers ``["fwdr", {rid, ok, result | error, message}]`` on ITS dialed link
back. Both directions are ordinary directed links, so forwarding obeys the
same partitions as Raft traffic. A lost request or reply shows up as a
timeout, which for a proposal means "outcome unknown" (it may have been
appended) and for a read means nothing happened. When the request frame is
still in the local send queue at the timeout (the link to the leader never
came up), it is taken back and the answer is "unavailable": provably unsent.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING, Any

from impl.errors import RemoteProtocolError
from impl.runtime.outcomes import OutcomeUnknown, RequestOutcome, Unavailable

if TYPE_CHECKING:
    from impl.runtime.node import Node

log = logging.getLogger("sinkron.forwarding")

_KINDS = ("propose", "read")
LEADER_SHARE_OF_TIMEOUT = 0.8


class Forwarder:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._ids = itertools.count(1)
        self._waiting: dict[int, tuple[str, asyncio.Future[Any]]] = {}
        self._serving: set[asyncio.Task[None]] = set()

    async def forward(self, leader: str, kind: str, service: str, op: dict[str, Any]) -> Any:
        """Run a request on ``leader``.

        Raises:
            Unavailable: it certainly did not run (no link to the leader, or the leader refused).
            OutcomeUnknown: no reply in time.
        """
        rid = next(self._ids)
        future: asyncio.Future[Any] = self.node.loop.create_future()
        frame = ["fwd", {"rid": rid, "kind": kind, "service": service, "op": op}]
        queued = self.node.transport.send(leader, frame)
        if queued is None:
            raise Unavailable(f"no connection to the leader {leader}", leader=leader)
        self.node.metrics.forwarded.labels(kind=kind).inc()
        self._waiting[rid] = (leader, future)
        try:
            return await asyncio.wait_for(future, self.node.request_timeout_s)
        except TimeoutError:
            if self.node.transport.retract(leader, queued):
                # It never left this node (the link to the leader is down): nothing happened.
                raise Unavailable(f"could not reach the leader {leader}", leader=leader) from None
            raise OutcomeUnknown(
                f"no reply from the leader {leader} in time", leader=leader
            ) from None
        finally:
            self._waiting.pop(rid, None)

    def handle_request(self, sender: str, payload: Any) -> None:
        if not isinstance(payload, dict):
            raise RemoteProtocolError("forward payload must be a map")
        rid, kind = payload.get("rid"), payload.get("kind")
        service, op = payload.get("service"), payload.get("op")
        if not isinstance(rid, int) or kind not in _KINDS or not isinstance(service, str):
            raise RemoteProtocolError("forward payload lacks rid/kind/service")
        if not isinstance(op, dict):
            raise RemoteProtocolError("forward op must be a map")
        task = self.node.loop.create_task(self._serve(sender, rid, kind, service, op))
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)

    async def _serve(
        self, sender: str, rid: int, kind: str, service: str, op: dict[str, Any]
    ) -> None:
        reply: dict[str, Any] = {"rid": rid}
        try:
            # Answer before the forwarding node gives up, so it gets a definite
            # outcome (503 stays 503) instead of its own timeout's "unknown".
            timeout_s = LEADER_SHARE_OF_TIMEOUT * self.node.request_timeout_s
            if kind == "propose":
                result = await self.node.propose_local(service, op, timeout_s=timeout_s)
            else:
                result = await self.node.read_local(service, op, timeout_s=timeout_s)
            reply.update(ok=True, result=result)
        except RequestOutcome as outcome:
            reply.update(
                ok=False, error=outcome.code, message=outcome.message, leader=outcome.leader
            )
        except Exception as error:  # a bug must not kill the reply path; the client sees unknown
            log.exception("forwarded %s failed", kind)
            reply.update(ok=False, error="timeout", message=f"leader failed: {error!r}")
        self.node.transport.send(sender, ["fwdr", reply])

    def handle_reply(self, sender: str, payload: Any) -> None:
        if not isinstance(payload, dict) or not isinstance(payload.get("rid"), int):
            raise RemoteProtocolError("forward reply lacks rid")
        entry = self._waiting.get(payload["rid"])
        if entry is None or entry[0] != sender or entry[1].done():
            return  # late or unexpected: the caller already gave up
        future = entry[1]
        if payload.get("ok"):
            future.set_result(payload.get("result"))
            return
        message = str(payload.get("message", ""))
        leader = payload.get("leader") if isinstance(payload.get("leader"), str) else None
        if payload.get("error") == Unavailable.code:
            future.set_exception(Unavailable(f"leader {sender}: {message}", leader=leader))
        else:
            future.set_exception(OutcomeUnknown(f"leader {sender}: {message}", leader=leader))

    def fail_all(self) -> None:
        for _, future in self._waiting.values():
            if not future.done():
                future.set_exception(OutcomeUnknown("node stopping"))
        for task in self._serving:
            task.cancel()
