"""HTTP routes for membership changes: /cluster/members.

Adding a node: its address is committed to the address book first (so every
replica can dial it), then it is added as a learner (thesis §4.2.1), and,
with ``"promote": true``, promoted to voter once the leader accepts that (the
leader refuses a promotion of a learner that has not caught up; we retry
until the request timeout). The new node is started with SINKRON_JOIN=1.
These routes must run on the leader; a follower answers 503 with the leader's
id in ``leader``. An unknown member is 404; adding a member twice is 409.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from impl.raft.events import ConfigChangeKind
from impl.runtime.api.common import (
    BadRequest,
    error_response,
    json_body,
    json_response,
    path_key,
    require,
)
from impl.runtime.http_message import Request, Response
from impl.runtime.http_router import RouteTable
from impl.runtime.members import parse_address
from impl.runtime.outcomes import Unavailable

if TYPE_CHECKING:
    from impl.runtime.services import ServiceHost


async def _change(host: ServiceHost, kind: ConfigChangeKind, node: str) -> None:
    change = getattr(host, "change_membership", None)
    if change is None:
        raise Unavailable("this host cannot change membership")
    await change(kind, node)


async def _promote_when_ready(host: ServiceHost, node: str, timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            await _change(host, ConfigChangeKind.PROMOTE, node)
            return
        except Unavailable:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


def _membership(host: ServiceHost) -> tuple[frozenset[str], frozenset[str]]:
    """(voters, learners) in force on this node (the leader's view when it leads)."""
    config = host.raft.config  # type: ignore[attr-defined]
    return frozenset(config.voters), frozenset(config.learners)


def _must_lead(host: ServiceHost) -> None:
    if not host.is_leader():
        raise Unavailable("membership changes run on the leader", leader=host.leader_hint())


def _unknown(node: str) -> Response:
    return error_response(404, "not-found", f"{node} is not a member of the cluster")


def register(routes: RouteTable, host: ServiceHost) -> None:
    @routes.post("/cluster/members")
    async def add(request: Request) -> Response:
        body = json_body(request)
        node = require(body, "id", str)
        address = require(body, "peer_address", str)
        promote = body.get("promote", False)
        if not isinstance(promote, bool):
            raise BadRequest("promote", "field 'promote' must be a boolean")
        if not node or any(c in node for c in "=,: "):
            raise BadRequest("id", "field 'id' must be a node id without '=', ',', ':' or spaces")
        if parse_address(address) is None:
            raise BadRequest("peer_address", "field 'peer_address' must be host:port")
        _must_lead(host)
        voters, learners = _membership(host)
        if node in voters or (node in learners and not promote):
            return error_response(409, "already-member", f"{node} is already a member")
        await host.propose("members", {"f": "set-address", "id": node, "address": address})
        if node not in learners:
            await _change(host, ConfigChangeKind.ADD_LEARNER, node)
        if promote:
            try:
                await _promote_when_ready(host, node, 10.0)
            except Unavailable as error:
                # The learner WAS added (that committed); only the promotion is pending.
                message = f"added as a learner, not promoted yet ({error}); retry the promotion"
                return json_response(
                    {"id": node, "peer_address": address, "voter": False, "message": message}
                )
        return json_response({"id": node, "peer_address": address, "voter": promote})

    @routes.post("/cluster/members/{id}/promote")
    async def promote(request: Request) -> Response:
        node = path_key(request, "id")
        _must_lead(host)
        voters, learners = _membership(host)
        if node in voters:
            return json_response({"id": node, "voter": True})  # idempotent
        if node not in learners:
            return _unknown(node)
        await _promote_when_ready(host, node, 10.0)
        return json_response({"id": node, "voter": True})

    @routes.delete("/cluster/members/{id}")
    async def remove(request: Request) -> Response:
        node = path_key(request, "id")
        _must_lead(host)
        voters, learners = _membership(host)
        if node not in voters | learners:
            return _unknown(node)
        await _change(host, ConfigChangeKind.REMOVE, node)
        return json_response({"id": node, "removed": True})


# host:port with a port of 1..65535, as parse_address accepts it
_ADDRESS_PATTERN = (
    "^.+:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$"
)
_ERR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
_OUT: dict[str, Any] = {
    "200": {"description": "done"},
    "400": {"description": "malformed body", **_ERR},
    "404": {"description": "no such member", **_ERR},
    "409": {"description": "already a member", **_ERR},
    "503": {"description": "not done (not the leader, or the change was refused)", **_ERR},
    "504": {"description": "outcome unknown", **_ERR},
}
OPENAPI_PATHS: dict[str, Any] = {
    "/cluster/members": {
        "post": {
            "summary": "Add a node as a learner (and optionally promote it); run on the leader",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string", "pattern": "^[^=,: ]+$"},
                                "peer_address": {"type": "string", "pattern": _ADDRESS_PATTERN},
                                "promote": {"type": "boolean"},
                            },
                            "required": ["id", "peer_address"],
                        }
                    }
                },
            },
            "responses": _OUT,
        }
    },
    "/cluster/members/{id}/promote": {
        "parameters": _ID,
        "post": {"summary": "Learner -> voter", "responses": _OUT},
    },
    "/cluster/members/{id}": {
        "parameters": _ID,
        "delete": {"summary": "Remove a member", "responses": _OUT},
    },
}
