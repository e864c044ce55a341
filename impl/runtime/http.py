"""The aiohttp application: node routes, service routes, and the error policy.

Every route is wrapped in ``_guarded``, the "never crash on client input" rule made concrete:
``BadRequest`` -> 400 naming the field, ``Unavailable`` -> 503,
``OutcomeUnknown`` -> 504, unknown paths and methods -> JSON 404/405 (``_unmatched``), and any other
exception -> 500 JSON with the error logged (a bug, never a crash).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from yarl import URL

from impl.runtime.api.common import (
    BadRequest,
    error_response,
    json_body,
    json_response,
    outcome_response,
    require,
)
from impl.runtime.openapi import build_openapi
from impl.runtime.outcomes import RequestOutcome

if TYPE_CHECKING:
    from impl.runtime.node import Node

log = logging.getLogger("sinkron.http")

_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _status_code(status: int) -> str:
    return {404: "not-found", 405: "method-not-allowed", 413: "too-large"}.get(status, "http-error")


def _guarded(handler: Handler, endpoint: str, node: Node) -> Handler:
    """``handler`` with the error policy applied and its latency observed.

    A wrapper per route rather than an aiohttp middleware: any middleware makes
    aiohttp add a second layer of its own and a partial per request, about 18 us
    of CPU per request on the leader (measured with one route, uvloop), and the
    leader's CPU is what bounds throughput on a shared 2-core machine.
    """
    histograms: dict[str, Any] = {}

    async def guarded(request: web.Request) -> web.StreamResponse:
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
            response = error_response(error.status, _status_code(error.status), error.reason)
            if "Allow" in error.headers:  # RFC 9110 §15.5.6: a 405 lists the allowed methods
                response.headers["Allow"] = error.headers["Allow"]
        except Exception:
            log.exception("handler failed on %s %s", request.method, request.path)
            response = error_response(500, "internal", "internal error; see the node log")
        _observe(histograms, node, endpoint, request.method, time.perf_counter() - started)
        return response

    return guarded


def _observe(
    histograms: dict[str, Any], node: Node, endpoint: str, method: str, seconds: float
) -> None:
    """Observe a request's latency; one labels() lookup per endpoint and method, not per request."""
    histogram = histograms.get(method)
    if histogram is None:
        label = method if method in _METHODS else "OTHER"  # bounded: clients mint no series
        histogram = node.metrics.request_seconds.labels(endpoint=endpoint, method=label)
        histograms[method] = histogram
    histogram.observe(seconds)


class _Anything(web.Resource):
    """A resource matching every request target, also ``*`` and ``http://host/...`` forms.

    A ``/{tail:...}`` pattern would miss targets without a leading slash
    (``OPTIONS *``), which would then get aiohttp's plain-text 404.
    """

    @property
    def canonical(self) -> str:
        return "/"  # indexed under "/", the router's last stop for every path

    def _match(self, path: str) -> dict[str, str]:
        return {}

    def raw_match(self, path: str) -> bool:
        return False

    def add_prefix(self, prefix: str) -> None:
        raise NotImplementedError

    def get_info(self) -> Any:  # aiohttp types it with a private TypedDict
        return {"path": "*"}

    def url_for(self, *args: str, **kwargs: str) -> URL:
        raise NotImplementedError


def _unmatched(router: web.UrlDispatcher, node: Node) -> None:
    """The catch-all route: JSON 404, or 405 with Allow when the path exists for other methods.

    Registered last, so aiohttp's router reaches it only when no route matched
    (method and path); it then asks every other resource which methods it
    would have allowed for this path, as aiohttp's own 405 does.
    """
    histograms: dict[str, Any] = {}
    catch_all = _Anything()

    async def unmatched(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        allowed: set[str] = set()
        for resource in router.resources():
            if resource is catch_all:
                continue
            match, methods = await resource.resolve(request)
            if match is None:
                allowed |= methods
        if allowed:
            response = error_response(405, "method-not-allowed", "Method Not Allowed")
            response.headers["Allow"] = ",".join(sorted(allowed))
        else:
            response = error_response(404, "not-found", "Not Found")
        _observe(histograms, node, "unmatched", request.method, time.perf_counter() - started)
        return response

    router.register_resource(catch_all)
    catch_all.add_route("*", unmatched)


def build_app(node: Node) -> web.Application:
    app = web.Application(client_max_size=1 << 20)
    routes = web.RouteTableDef()
    openapi = build_openapi(node.service_specs, test_hooks=node.settings.test_hooks)

    @routes.get("/health")
    async def health(request: web.Request) -> web.Response:
        return json_response({"ok": True})

    @routes.get("/status")
    async def status(request: web.Request) -> web.Response:
        return json_response(node.status())

    @routes.get("/metrics")
    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=node.metrics.render(), content_type="text/plain")

    @routes.get("/openapi.json")
    async def openapi_json(request: web.Request) -> web.Response:
        return json_response(openapi)

    if node.settings.test_hooks:

        @routes.get("/_test/clock")
        async def get_clock(request: web.Request) -> web.Response:
            return json_response(
                {"offset_ms": node.clock.offset_ms, "wall_ms": node.clock.wall_ms()}
            )

        @routes.put("/_test/clock")
        async def set_clock(request: web.Request) -> web.Response:
            offset = require(await json_body(request), "offset_ms", int)
            if abs(offset) > 10 * 365 * 24 * 3600 * 1000:
                raise BadRequest("offset_ms", "offset_ms must be within ten years")
            node.clock.set_offset_ms(offset)
            log.warning("clock offset set to %d ms (test hook)", offset)
            return json_response(
                {"offset_ms": node.clock.offset_ms, "wall_ms": node.clock.wall_ms()}
            )

    for spec in node.service_specs:
        spec.register_routes(routes, node)
    for route in routes:
        assert isinstance(route, web.RouteDef)
        guarded = _guarded(route.handler, route.path, node)
        web.RouteDef(route.method, route.path, guarded, route.kwargs).register(app.router)
    _unmatched(app.router, node)
    return app
