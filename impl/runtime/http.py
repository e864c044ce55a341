"""The node's HTTP application: node routes, service routes, and the error policy.

``build_app`` returns the dispatcher that impl/runtime/http_server.py calls
with every complete request. It applies the "never crash on client input"
rule: ``BadRequest`` -> 400 naming the field, ``Unavailable`` -> 503,
``OutcomeUnknown`` -> 504, unknown paths -> JSON 404, known paths with
another method -> JSON 405 with ``Allow``, and any other exception -> 500
JSON with the error logged (a bug, never a crash).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from impl.runtime.api.common import (
    BadRequest,
    error_response,
    json_body,
    json_response,
    outcome_response,
    require,
)
from impl.runtime.http_message import Handler, Request, Response
from impl.runtime.http_router import Router, RouteTable
from impl.runtime.http_server import Dispatch
from impl.runtime.openapi import build_openapi
from impl.runtime.outcomes import RequestOutcome

if TYPE_CHECKING:
    from impl.runtime.node import Node

log = logging.getLogger("sinkron.http")

_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"})


def _observe_latency(node: Node, route: str, method: str, seconds: float) -> None:
    label = method if method in _METHODS else "OTHER"  # bounded: clients mint no series
    node.metrics.request_seconds.labels(endpoint=route, method=label).observe(seconds)


def _dispatcher(router: Router, node: Node) -> Dispatch:
    async def dispatch(request: Request) -> Response:
        started = time.perf_counter()
        handler, route, request.match_info, allowed = router.resolve(request.method, request.path)
        if handler is None:
            if allowed:
                response = error_response(405, "method-not-allowed", "Method Not Allowed")
                response.headers["Allow"] = ",".join(sorted(allowed))
            else:
                response = error_response(404, "not-found", "Not Found")
            _observe_latency(node, "unmatched", request.method, time.perf_counter() - started)
            return response
        try:
            response = await handler(request)
        except BadRequest as error:
            response = error_response(400, "bad-request", error.message, field=error.field)
        except RequestOutcome as error:
            response = outcome_response(error)
        except Exception:
            log.exception("handler failed on %s %s", request.method, request.path)
            response = error_response(500, "internal", "internal error; see the node log")
        _observe_latency(node, route, request.method, time.perf_counter() - started)
        return response

    return dispatch


def node_routes(node: Node) -> RouteTable:
    """The routes every node has (health, status, metrics, the document, test hooks)."""
    routes = RouteTable()
    openapi = json_response(build_openapi(node.service_specs, test_hooks=node.settings.test_hooks))

    @routes.get("/health")
    async def health(request: Request) -> Response:
        return json_response({"ok": True})

    @routes.get("/status")
    async def status(request: Request) -> Response:
        return json_response(node.status())

    @routes.get("/metrics")
    async def metrics(request: Request) -> Response:
        return Response(node.metrics.render(), content_type="text/plain", charset="utf-8")

    @routes.get("/openapi.json")
    async def openapi_json(request: Request) -> Response:
        return openapi

    if node.settings.test_hooks:

        def _clock() -> Response:
            return json_response(
                {"offset_ms": node.clock.offset_ms, "wall_ms": node.clock.wall_ms()}
            )

        @routes.get("/_test/clock")
        async def get_clock(request: Request) -> Response:
            return _clock()

        @routes.put("/_test/clock")
        async def set_clock(request: Request) -> Response:
            offset = require(json_body(request), "offset_ms", int)
            if abs(offset) > 10 * 365 * 24 * 3600 * 1000:
                raise BadRequest("offset_ms", "offset_ms must be within ten years")
            node.clock.set_offset_ms(offset)
            log.warning("clock offset set to %d ms (test hook)", offset)
            return _clock()

    return routes


def build_app(node: Node) -> Dispatch:
    """The dispatcher for ``HttpServer``: the node's routes and every service's."""
    routes = node_routes(node)
    for spec in node.service_specs:
        spec.register_routes(routes, node)
    return _dispatcher(Router(routes), node)


__all__ = ["Handler", "build_app", "node_routes"]
