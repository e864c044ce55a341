"""The node's router (impl/runtime/http_router.py): which handler, or which 404/405."""

from __future__ import annotations

import pytest

from impl.runtime.http_message import Request, Response
from impl.runtime.http_router import Router, RouteTable


async def _handler(request: Request) -> Response:
    return Response()


def _router() -> tuple[Router, dict[str, object]]:
    routes = RouteTable()
    handlers: dict[str, object] = {}
    for method, path in [
        ("GET", "/health"),
        ("GET", "/kv/{key}"),
        ("PUT", "/kv/{key}"),
        ("POST", "/kv/{key}/cas"),
        ("DELETE", "/cluster/members/{id}"),
        ("POST", "/cluster/members"),
    ]:

        async def handler(request: Request) -> Response:
            return Response()

        routes.route(method, path)(handler)
        handlers[f"{method} {path}"] = handler
    return Router(routes), handlers


def test_each_route_resolves_to_its_handler_with_the_segments_captured() -> None:
    router, handlers = _router()
    resolved = router.resolve("PUT", "/kv/bench-1")
    assert resolved.handler is handlers["PUT /kv/{key}"]
    assert (resolved.route, resolved.match_info) == ("/kv/{key}", {"key": "bench-1"})
    resolved = router.resolve("POST", "/kv/a/cas")
    assert resolved.handler is handlers["POST /kv/{key}/cas"] and resolved.match_info == {
        "key": "a"
    }
    assert router.resolve("GET", "/health").handler is handlers["GET /health"]


def test_captured_segments_are_percent_decoded_after_splitting() -> None:
    """``%2F`` stays inside its segment: the key is ``a/b``, not two segments."""
    router, _ = _router()
    assert router.resolve("GET", "/kv/a%2Fb").match_info == {"key": "a/b"}
    assert router.resolve("GET", "/kv/%E2%82%AC%20x").match_info == {"key": "€ x"}
    assert router.resolve("GET", "/%68ealth").route == "/health"


def test_a_known_path_with_another_method_is_a_405_listing_the_allowed_ones() -> None:
    router, _ = _router()
    resolved = router.resolve("DELETE", "/kv/a")
    assert resolved.handler is None and resolved.allowed == {"GET", "HEAD", "PUT"}
    assert router.resolve("GET", "/cluster/members").allowed == {"POST"}


@pytest.mark.parametrize(
    "path", ["/kv/", "/kv", "/nope", "*", "", "kv/a", "/kv/a/cas/x", "//kv/a", "/health/"]
)
def test_unknown_paths_and_empty_segments_match_nothing(path: str) -> None:
    router, _ = _router()
    resolved = router.resolve("GET", path)
    assert resolved.handler is None and resolved.allowed == frozenset()


def test_head_is_served_by_the_get_handler() -> None:
    router, handlers = _router()
    assert router.resolve("HEAD", "/kv/a").handler is handlers["GET /kv/{key}"]
    assert router.resolve("HEAD", "/cluster/members").allowed == {"POST"}


def test_a_route_registered_twice_is_refused() -> None:
    routes = RouteTable()
    routes.get("/kv/{key}")(_handler)
    routes.get("/kv/{key}")(_handler)
    with pytest.raises(ValueError, match="registered twice"):
        Router(routes)
