"""HTTP routes of the lock manager (API.md: /locks/{name}) and its log-time ticker.

Theory of operation: every decision is made by the replicated lock table
(impl/lock); this module only validates, proposes and waits. An acquire
that the table queues is answered when its grant is applied: the handler
re-reads the request's state in this node's applied table after each applied
batch (``wait_state_changed``) until its own ``wait_ms`` has passed, and then
proposes ``cancel``, whose committed answer is final (the grant, if it won
the race, else 408). Waiters and leases run out on *log time*, which only
moves when entries are applied; so while anything is pending, the leader's
``tick_leases`` proposes a ``tick`` once its clock passes the table's next
deadline.

Answers: acquire 200 {"token", "mode", "expires_at_ms"} | 408 timeout |
409 deadlock {"cycle"}; release 200 {} | 409 not-held; keepalive 200
{"expires_at_ms"} | 409 not-held; GET 200 {"holders", "waiters"}.
Malformed input: 400 naming the field. 503 / 504 come from the runtime; once
an acquire is queued (committed), a 503 from the wait or its cancel becomes 504:
the queued request may still be granted, so the outcome is unknown.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

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
from impl.runtime.outcomes import OutcomeUnknown, RequestOutcome, Unavailable

if TYPE_CHECKING:
    from impl.runtime.services import ServiceHost

SERVICE = "lock"
TICK_INTERVAL_S = 0.05  # how often the leader looks for due leases / waits
# A waiting acquire re-reads at least this often: a batch applied between its read and
# its wait_state_changed() would otherwise go unnoticed until the next one.
POLL_INTERVAL_S_MAX = 0.05


def _int_field(body: dict[str, Any], name: str, minimum: int) -> int:
    value = require(body, name, int)
    if value < minimum:
        raise BadRequest(name, f"field {name!r} must be an integer >= {minimum}")
    if value > 10**12:
        raise BadRequest(name, f"field {name!r} is too large")
    return int(value)


def _owner(body: dict[str, Any]) -> str:
    owner = require(body, "owner", str)
    if not owner:
        raise BadRequest("owner", "field 'owner' must be a non-empty string")
    return str(owner)


def _acquire_op(name: str, body: dict[str, Any]) -> dict[str, Any]:
    mode = require(body, "mode", str)
    if mode not in ("shared", "exclusive"):
        raise BadRequest("mode", "field 'mode' must be 'shared' or 'exclusive'")
    return {
        "f": "acquire",
        "name": name,
        "owner": _owner(body),
        "mode": mode,
        "ttl_ms": _int_field(body, "ttl_ms", 1),
        "wait_ms": _int_field(body, "wait_ms", 0),
    }


def _token_op(f: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    token = require(body, "token", int)
    if not 0 <= token < 2**63:  # tokens are Raft indexes; a 400 names the field
        raise BadRequest("token", "field 'token' must be an integer in [0, 2**63)")
    return {"f": f, "name": name, "owner": _owner(body), "token": token}


def _answer(result: Any) -> Response:
    """Map a final table result to HTTP."""
    if not isinstance(result, dict):
        return error_response(500, "internal", f"unexpected lock result {result!r}")
    if result.get("ok"):
        shown = {k: result[k] for k in ("token", "mode", "expires_at_ms") if k in result}
        return json_response(shown)
    error = result.get("error")
    if error == "deadlock":
        return error_response(
            409, "deadlock", "this wait would close a cycle", cycle=result["cycle"]
        )
    if error == "timeout":
        return error_response(408, "timeout", "the lock was not granted within wait_ms")
    if error == "not-held":
        return error_response(
            409, "not-held", "no grant with this owner and token (expired or released?)"
        )
    if error == "bad-request":
        return error_response(
            400, "bad-request", str(result.get("message")), field=result.get("field")
        )
    return error_response(500, "internal", f"unexpected lock result {result!r}")


async def _request_state(host: ServiceHost, query: dict[str, Any]) -> dict[str, Any]:
    """The queued request's state, from this node's own applied table when it can tell.

    No ReadIndex is needed when this node has applied the acquire's own entry
    (index ``query["request"]``): what it has applied is committed, so "held"
    and "gone" seen locally are final, and a lagging node only sees them a
    little later. Before that (a follower that forwarded the acquire and has
    not applied it yet) the request would look "gone": report "waiting". This
    saves a quorum round per waiter per applied batch.
    """
    services = getattr(host, "services", None)
    machine = services.get(SERVICE) if isinstance(services, dict) else None
    if machine is None:
        return dict(await host.read(SERVICE, query))
    if getattr(host, "applied_index", -1) < query["request"]:
        return {"ok": True, "state": "waiting"}
    return dict(machine.query(query))


async def wait_granted(host: ServiceHost, op: dict[str, Any], queued: dict[str, Any]) -> Any:
    """Wait for a queued request's grant up to its wait_ms; then cancel, which decides."""
    deadline = host.clock.monotonic() + op["wait_ms"] / 1000
    query = {"f": "request", "name": op["name"], "owner": op["owner"], "request": queued["request"]}
    while (remaining := deadline - host.clock.monotonic()) > 0:
        state = await _request_state(host, query)
        if state.get("state") == "held":
            return {"ok": True, **{k: state[k] for k in ("token", "mode", "expires_at_ms")}}
        if state.get("state") == "gone":
            break
        await host.wait_state_changed(min(remaining, POLL_INTERVAL_S_MAX))
    cancel = {"f": "cancel", "name": op["name"], "owner": op["owner"], "request": queued["request"]}
    return await host.propose(SERVICE, cancel)


def register(routes: RouteTable, host: ServiceHost) -> None:
    @routes.post("/locks/{name}/acquire")
    async def acquire(request: Request) -> Response:
        op = _acquire_op(path_key(request, "name"), json_body(request))
        result = await host.propose(SERVICE, op)
        if isinstance(result, dict) and result.get("queued"):
            try:
                result = await wait_granted(host, op, result)
            except Unavailable as error:
                # The request is in the committed table: it may still be granted later
                # (and was, in a run under a partition), so "certainly not" would be a lie.
                raise OutcomeUnknown(
                    f"queued as request {result['request']}, then {error.message}; it may "
                    "still be granted",
                    leader=error.leader,
                ) from error
        return _answer(result)

    @routes.post("/locks/{name}/release")
    async def release(request: Request) -> Response:
        op = _token_op("release", path_key(request, "name"), json_body(request))
        return _answer(await host.propose(SERVICE, op))

    @routes.post("/locks/{name}/keepalive")
    async def keepalive(request: Request) -> Response:
        op = _token_op("keepalive", path_key(request, "name"), json_body(request))
        result = await host.propose(SERVICE, op)
        if isinstance(result, dict) and result.get("ok"):
            return json_response({"expires_at_ms": result["expires_at_ms"]})
        return _answer(result)

    @routes.get("/locks/{name}")
    async def show(request: Request) -> Response:
        result = await host.read(SERVICE, {"f": "lock", "name": path_key(request, "name")})
        return json_response({"holders": result["holders"], "waiters": result["waiters"]})


async def _pending(host: ServiceHost) -> dict[str, Any]:
    """The table's next deadline, from the local table when the host exposes it.

    Only the leader ticks, and the leader's applied table is as fresh as any;
    a slightly stale view only delays a tick by one round, so no ReadIndex
    (a quorum round every TICK_INTERVAL_S) is spent on it.
    """
    services = getattr(host, "services", None)
    machine = services.get(SERVICE) if isinstance(services, dict) else None
    if machine is not None:
        return dict(machine.query({"f": "pending"}))
    return dict(await host.read(SERVICE, {"f": "pending"}))


async def tick_leases(host: ServiceHost) -> None:
    """On the leader: propose a tick when its clock has passed the table's next deadline."""
    while True:
        await asyncio.sleep(TICK_INTERVAL_S)
        if not host.is_leader():
            continue
        try:
            due = (await _pending(host)).get("next_deadline_ms")
            if due is not None and host.clock.wall_ms() >= due:
                await host.propose(SERVICE, {"f": "tick"})
        except RequestOutcome:
            continue  # leadership moved or the cluster is unavailable; try on the next round


_ERROR = {"$ref": "#/components/schemas/Error"}
_NAME = [
    {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
]


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "required": True,
        **_json({"type": "object", "properties": properties, "required": required}),
    }


_OWNER = {"type": "string", "minLength": 1}
_TOKEN = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
_COMMON = {
    "400": {"description": "malformed body; the field is named", **_json(_ERROR)},
    "503": {"description": "unavailable: the operation did NOT take effect", **_json(_ERROR)},
    "504": {"description": "outcome unknown", **_json(_ERROR)},
}
_NOT_HELD = {"409": {"description": "not-held: wrong token, expired or released", **_json(_ERROR)}}

OPENAPI_PATHS: dict[str, Any] = {
    "/locks/{name}/acquire": {
        "parameters": _NAME,
        "post": {
            "summary": "Acquire (waiting up to wait_ms; wait_ms 0 is a try-lock)",
            "requestBody": _body(
                {
                    "owner": _OWNER,
                    "mode": {"type": "string", "enum": ["shared", "exclusive"]},
                    "ttl_ms": {"type": "integer", "minimum": 1, "maximum": 10**12},
                    "wait_ms": {"type": "integer", "minimum": 0, "maximum": 10**12},
                },
                ["owner", "mode", "ttl_ms", "wait_ms"],
            ),
            "responses": {
                "200": {"description": "granted: fencing token and lease expiry (log time)"},
                "408": {"description": "not granted within wait_ms", **_json(_ERROR)},
                "409": {"description": "deadlock: the owners on the cycle", **_json(_ERROR)},
                **_COMMON,
            },
        },
    },
    "/locks/{name}/release": {
        "parameters": _NAME,
        "post": {
            "summary": "Release a grant",
            "requestBody": _body({"owner": _OWNER, "token": _TOKEN}, ["owner", "token"]),
            "responses": {"200": {"description": "released"}, **_NOT_HELD, **_COMMON},
        },
    },
    "/locks/{name}/keepalive": {
        "parameters": _NAME,
        "post": {
            "summary": "Extend a grant's lease to log time + ttl_ms",
            "requestBody": _body({"owner": _OWNER, "token": _TOKEN}, ["owner", "token"]),
            "responses": {"200": {"description": "new expires_at_ms"}, **_NOT_HELD, **_COMMON},
        },
    },
    "/locks/{name}": {
        "parameters": _NAME,
        "get": {
            "summary": "Holders and FIFO waiters (linearizable read)",
            "responses": {"200": {"description": "holders and waiters"}, **_COMMON},
        },
    },
}
