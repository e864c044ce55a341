"""HTTP routes of the key-value service (API.md: /kv/{key})."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from impl.runtime.api.common import error_response, json_body, json_response, path_key, require
from impl.runtime.http_message import Request, Response
from impl.runtime.http_router import RouteTable

if TYPE_CHECKING:
    from impl.runtime.services import ServiceHost


def _result_response(result: Any) -> Response:
    if isinstance(result, dict) and result.get("ok"):
        return json_response({"value": result.get("value")})
    if isinstance(result, dict) and result.get("error") == "not-found":
        return error_response(404, "not-found", "no such key")
    if isinstance(result, dict) and result.get("error") == "cas-mismatch":
        return error_response(
            409, "cas-mismatch", "current value differs", current=result.get("current")
        )
    message = result.get("message", "") if isinstance(result, dict) else repr(result)
    return error_response(400, "bad-request", str(message))


def register(routes: RouteTable, host: ServiceHost) -> None:
    @routes.get("/kv/{key}")
    async def read(request: Request) -> Response:
        key = path_key(request, "key")
        return _result_response(await host.read("kv", {"f": "read", "key": key}))

    @routes.put("/kv/{key}")
    async def write(request: Request) -> Response:
        key = path_key(request, "key")
        body = json_body(request)
        value = require(body, "value")
        return _result_response(
            await host.propose("kv", {"f": "write", "key": key, "value": value})
        )

    @routes.post("/kv/{key}/cas")
    async def cas(request: Request) -> Response:
        key = path_key(request, "key")
        body = json_body(request)
        expected = require(body, "expected")
        value = require(body, "value")
        op = {"f": "cas", "key": key, "expected": expected, "value": value}
        return _result_response(await host.propose("kv", op))


_ERROR = {"$ref": "#/components/schemas/Error"}
_KEY = [
    {"name": "key", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
]


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


_ANY_VALUE = {
    "description": "any JSON value (integers of any size); nesting deeper than 64 levels "
    "is a 400 naming the field"
}
_VALUE = {"type": "object", "properties": {"value": _ANY_VALUE}, "required": ["value"]}
_OUTCOMES = {
    "400": {"description": "malformed body; the field is named", **_json(_ERROR)},
    "503": {"description": "unavailable: the operation did NOT take effect", **_json(_ERROR)},
    "504": {"description": "timeout: the outcome is unknown", **_json(_ERROR)},
}

OPENAPI_PATHS: dict[str, Any] = {
    "/kv/{key}": {
        "parameters": _KEY,
        "get": {
            "summary": "Linearizable read (ReadIndex on the leader)",
            "responses": {
                "200": {"description": "the value", **_json(_VALUE)},
                "404": {"description": "no such key", **_json(_ERROR)},
                **_OUTCOMES,
            },
        },
        "put": {
            "summary": "Write a value",
            "requestBody": {"required": True, **_json(_VALUE)},
            "responses": {"200": {"description": "written", **_json(_VALUE)}, **_OUTCOMES},
        },
    },
    "/kv/{key}/cas": {
        "parameters": _KEY,
        "post": {
            "summary": "Compare-and-set: write value iff the current value equals expected (missing = null)",
            "requestBody": {
                "required": True,
                **_json(
                    {
                        "type": "object",
                        "properties": {"expected": _ANY_VALUE, "value": _ANY_VALUE},
                        "required": ["expected", "value"],
                    }
                ),
            },
            "responses": {
                "200": {"description": "written", **_json(_VALUE)},
                "409": {"description": "cas-mismatch; current is the value found", **_json(_ERROR)},
                **_OUTCOMES,
            },
        },
    },
}
