"""The OpenAPI 3 document served at /openapi.json, assembled from the route modules.

Each service's api module contributes ``OPENAPI_PATHS`` next to the handlers
it describes, so the document changes in the same diff as the code. The
/_test/ paths are listed only when test hooks are enabled, because only then
do they exist.
"""

from __future__ import annotations

from typing import Any

from impl.runtime.services import ServiceSpec

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error", "message"],
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


_STATUS = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "role": {"type": "string", "enum": ["follower", "pre-candidate", "candidate", "leader"]},
        "term": {"type": "integer"},
        "leader": {"type": ["string", "null"]},
        "commit_index": {"type": "integer"},
        "applied_index": {"type": "integer"},
        "members": {"type": "array", "items": {"type": "string"}},
        "learners": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["id", "role", "term", "leader", "commit_index", "applied_index", "members"],
}

_NODE_PATHS: dict[str, Any] = {
    "/health": {
        "get": {
            "summary": "Liveness: the process serves HTTP",
            "responses": {"200": {"description": "ok", **_json({"type": "object"})}},
        }
    },
    "/status": {
        "get": {
            "summary": "This node's view of Raft",
            "responses": {"200": {"description": "status", **_json(_STATUS)}},
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics",
            "responses": {"200": {"description": "text exposition format"}},
        }
    },
    "/openapi.json": {
        "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3"}}}
    },
}

_TEST_PATHS: dict[str, Any] = {
    "/_test/clock": {
        "get": {
            "summary": "The clock offset (test hooks only)",
            "responses": {"200": {"description": "offset", **_json({"type": "object"})}},
        },
        "put": {
            "summary": "Skew this node's wall clock (test hooks only)",
            "requestBody": {
                "required": True,
                **_json(
                    {
                        "type": "object",
                        "properties": {"offset_ms": {"type": "integer"}},
                        "required": ["offset_ms"],
                    }
                ),
            },
            "responses": {
                "200": {"description": "set", **_json({"type": "object"})},
                "400": {"description": "malformed", **_json(_ERROR_SCHEMA)},
            },
        },
    }
}


def build_openapi(services: tuple[ServiceSpec, ...], *, test_hooks: bool) -> dict[str, Any]:
    paths: dict[str, Any] = dict(_NODE_PATHS)
    for spec in services:
        paths.update(spec.openapi_paths)
    if test_hooks:
        paths.update(_TEST_PATHS)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Sinkron node API",
            "version": "0.1.0",
            "description": (
                "Every node answers every request, forwarding to the leader. "
                "503 means the operation did not take effect; 504 means its outcome is unknown."
            ),
        },
        "paths": paths,
        "components": {"schemas": {"Error": _ERROR_SCHEMA}},
    }
