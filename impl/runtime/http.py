"""The aiohttp application: node routes, service routes, and the error policy.

The middleware is the "never crash on client input" rule made concrete:
``BadRequest`` -> 400 naming the field, ``Unavailable`` -> 503,
``OutcomeUnknown`` -> 504, aiohttp's own 404/405 -> JSON, and any other
exception -> 500 JSON with the error logged (a bug, never a crash).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from impl.runtime.api.common import BadRequest, error_response, json_body, outcome_response, require
from impl.runtime.openapi import build_openapi
from impl.runtime.outcomes import RequestOutcome

if TYPE_CHECKING:
    from impl.runtime.node import Node

log = logging.getLogger("sinkron.http")

_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _endpoint(request: web.Request) -> str:
    """The route template (``/kv/{key}``), so metrics have one series per endpoint."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def build_app(node: Node) -> web.Application:
    histograms: dict[tuple[str, str], Any] = {}

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            response = await handler(request)
        except BadRequest as error:
            response = error_response(400, "bad-request", error.message, field=error.field)
        except RequestOutcome as error:
            response = outcome_response(error)
        except web.HTTPException as error:
            if error.status < 400:
                raise
            code = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}.get(
                error.status, "http-error"
            )
            response = error_response(error.status, code, error.reason)
            if "Allow" in error.headers:  # RFC 9110 §15.5.6: a 405 lists the allowed methods
                response.headers["Allow"] = error.headers["Allow"]
        except Exception:
            log.exception("handler failed on %s %s", request.method, request.path)
            response = error_response(500, "internal", "internal error; see the node log")
        method = request.method if request.method in _METHODS else "OTHER"
        series = (_endpoint(request), method)  # bounded: clients cannot mint new series
        histogram = histograms.get(series)
        if histogram is None:  # one labels() lookup per endpoint, not per request
            histogram = node.metrics.request_seconds.labels(endpoint=series[0], method=series[1])
            histograms[series] = histogram
        histogram.observe(time.perf_counter() - started)
        return response

    app = web.Application(middlewares=[errors], client_max_size=1 << 20)
    routes = web.RouteTableDef()
    openapi = build_openapi(node.service_specs, test_hooks=node.settings.test_hooks)

    @routes.get("/health")
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    @routes.get("/status")
    async def status(request: web.Request) -> web.Response:
        return web.json_response(node.status())

    @routes.get("/metrics")
    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=node.metrics.render(), content_type="text/plain")

    @routes.get("/openapi.json")
    async def openapi_json(request: web.Request) -> web.Response:
        return web.json_response(openapi)

    if node.settings.test_hooks:

        @routes.get("/_test/clock")
        async def get_clock(request: web.Request) -> web.Response:
            return web.json_response(
                {"offset_ms": node.clock.offset_ms, "wall_ms": node.clock.wall_ms()}
            )

        @routes.put("/_test/clock")
        async def set_clock(request: web.Request) -> web.Response:
            offset = require(await json_body(request), "offset_ms", int)
            if abs(offset) > 10 * 365 * 24 * 3600 * 1000:
                raise BadRequest("offset_ms", "offset_ms must be within ten years")
            node.clock.set_offset_ms(offset)
            log.warning("clock offset set to %d ms (test hook)", offset)
            return web.json_response(
                {"offset_ms": node.clock.offset_ms, "wall_ms": node.clock.wall_ms()}
            )

    for spec in node.service_specs:
        spec.register_routes(routes, node)
    app.add_routes(routes)
    return app
