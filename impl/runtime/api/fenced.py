"""HTTP routes of the fenced register (impl/fenced): /fenced/{key}.

    PUT  /fenced/{key}       {"value": v, "token": t}  200 {"token"} | 409 {"error": "fenced", "highest"}
    POST /fenced/{key}/read  {"token": t}              200 {"value", "token"} | 404 | 409 fenced
    GET  /fenced/{key}                                 200 {"value", "token"} | 404   (no fence raised)

A fenced read goes through the log because it raises the key's fence
(impl/fenced, Rule 3); the GET is a plain linearizable read for observers.
"""

from __future__ import annotations

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

if TYPE_CHECKING:
    from impl.runtime.services import ServiceHost

SERVICE = "fenced"


def _token(body: dict[str, Any]) -> int:
    token = require(body, "token", int)
    if not 0 <= token < 2**63:  # tokens are Raft indexes; a 400 names the field
        raise BadRequest("token", "field 'token' must be an integer in [0, 2**63)")
    return int(token)


def _answer(result: Any) -> Response:
    if isinstance(result, dict) and result.get("ok"):
        return json_response({k: result[k] for k in ("value", "token") if k in result})
    error = result.get("error") if isinstance(result, dict) else None
    if error == "fenced":
        return error_response(
            409, "fenced", "a newer token has accessed this key", highest=result["highest"]
        )
    if error == "not-found":
        return error_response(404, "not-found", "no such key")
    if error == "bad-request":
        return error_response(
            400, "bad-request", str(result.get("message")), field=result.get("field")
        )
    return error_response(500, "internal", f"unexpected fenced result {result!r}")


def register(routes: RouteTable, host: ServiceHost) -> None:
    @routes.put("/fenced/{key}")
    async def write(request: Request) -> Response:
        key = path_key(request, "key")
        body = json_body(request)
        op = {
            "f": "write",
            "key": key,
            "value": require(body, "value"),
            "token": _token(body),
        }
        return _answer(await host.propose(SERVICE, op))

    @routes.post("/fenced/{key}/read")
    async def fenced_read(request: Request) -> Response:
        key = path_key(request, "key")
        body = json_body(request)
        op = {"f": "read", "key": key, "token": _token(body)}
        return _answer(await host.propose(SERVICE, op))

    @routes.get("/fenced/{key}")
    async def read(request: Request) -> Response:
        return _answer(await host.read(SERVICE, {"f": "read", "key": path_key(request, "key")}))


_ERROR = {"$ref": "#/components/schemas/Error"}
_KEY = [
    {"name": "key", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
]
_COMMON = {
    "400": {"description": "malformed body; the field is named"},
    "503": {"description": "unavailable: the operation did NOT take effect"},
    "504": {"description": "outcome unknown"},
}
_NOT_FOUND = {"404": {"description": "no value was ever written at this key"}}
_FENCED = {"409": {"description": "fenced: a newer token has accessed this key"}}
_TOKEN = {
    "type": "integer",
    "minimum": 0,
    "maximum": 2**63 - 1,
    "description": "the fencing token of the caller's lock grant",
}


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


OPENAPI_PATHS: dict[str, Any] = {
    "/fenced/{key}": {
        "parameters": _KEY,
        "get": {
            "summary": "Observe the value (no fence)",
            "responses": {"200": {"description": "value"}, **_NOT_FOUND, **_COMMON},
        },
        "put": {
            "summary": "Write with a fencing token",
            "requestBody": _body({"value": {}, "token": _TOKEN}, ["value", "token"]),
            "responses": {"200": {"description": "accepted"}, **_FENCED, **_COMMON},
        },
    },
    "/fenced/{key}/read": {
        "parameters": _KEY,
        "post": {
            "summary": "Read with a fencing token (raises the fence)",
            "requestBody": _body({"token": _TOKEN}, ["token"]),
            "responses": {"200": {"description": "value"}, **_NOT_FOUND, **_FENCED, **_COMMON},
        },
    },
}
