"""Helpers every route module shares: JSON bodies, typed fields, error replies.

Errors are ``{"error": code, "message": text}`` (API.md). A ``BadRequest``
raised anywhere in a handler becomes a 400 naming the field; the outcomes of
impl/runtime/outcomes.py become 503/504.
"""

from __future__ import annotations

import json
import math
import re
from types import ModuleType
from typing import Any

from impl.runtime.http_message import Request, Response
from impl.runtime.outcomes import RequestOutcome
from impl.values import pack_value

orjson: ModuleType | None
try:  # a dependency of the package; a node image built without it keeps the stdlib path
    import orjson
except ImportError:  # pragma: no cover - exercised only in such images
    orjson = None

MAX_BODY_BYTES = 1 << 20
MAX_DEPTH = 64  # values nest at most this deep (JSON and msgpack decoders recurse)


class BadRequest(Exception):
    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as an ``application/json; charset=utf-8`` response.

    orjson encodes in a tenth of the stdlib's time (CPU per request on the
    leader bounds throughput); what it refuses (integers beyond 64 bits, lone
    surrogates, non-string keys) the stdlib encodes, as it always did.
    """
    try:
        body = orjson.dumps(data) if orjson is not None else json.dumps(data).encode()
    except TypeError:
        body = json.dumps(data).encode()
    return Response(body, status)


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    return json_response({"error": code, "message": message, **extra}, status=status)


class _NonFinite(ValueError):
    pass


def _non_finite(literal: str) -> float:
    """NaN and Infinity are not JSON (RFC 8259 §6); Python's parser accepts them, we do not."""
    raise _NonFinite(f"body holds {literal}, which is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # 1e400 parses to inf, and inf cannot be written back as JSON
        raise _NonFinite(f"number {literal[:40]} is out of range for a double")
    return value


# Built once: json.loads with hooks builds a new decoder per call (half its cost on small bodies).
_DECODER = json.JSONDecoder(parse_constant=_non_finite, parse_float=_finite_float)
# 19 digits in a row may be an integer beyond 64 bits, which orjson reads as a float.
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
# At most 512 levels fit in 1 KiB, which the stdlib decodes without a RecursionError too.
_FAST_MAX = 1024


def _decode(raw: bytes) -> Any:
    """JSON text to a value with the stdlib's semantics (and the hooks above).

    Fast path: orjson for short bodies without long digit runs. It is strict
    RFC 8259 and rejects everything the stdlib path treats specially (NaN,
    Infinity, 1e400, a BOM, UTF-16, lone surrogates), so any input it refuses
    is decoded again by the stdlib, which then accepts it or raises the error
    the 400 names; what it accepts decodes to the same value.
    """
    if orjson is not None and len(raw) <= _FAST_MAX and _LONG_DIGITS.search(raw) is None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))


def json_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (the server read it whole, at most 1 MiB, before).

    Raises:
        BadRequest: missing, too large, not JSON, or not an object.
    """
    raw = request.body
    if len(raw) > MAX_BODY_BYTES:  # the server answers 413 first; a guard for other callers
        raise BadRequest("body", f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        body = _decode(raw)
    except _NonFinite as error:
        raise BadRequest("body", str(error)) from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("body", "body is not valid JSON") from None
    except RecursionError:
        raise BadRequest("body", f"body nests deeper than {MAX_DEPTH} levels") from None
    if not isinstance(body, dict):
        raise BadRequest("body", "body must be a JSON object")
    return body


def require(body: dict[str, Any], name: str, kind: type | tuple[type, ...] | None = None) -> Any:
    """``body[name]``, checked; ``kind=None`` accepts any JSON value (including null).

    Raises:
        BadRequest: the field is missing or has the wrong type.
    """
    if name not in body:
        raise BadRequest(name, f"field {name!r} is required")
    value = body[name]
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON has one number type: 30000.0 is the integer 30000 (RFC 8259 §6)
    if kind is not None and (
        not isinstance(value, kind) or (isinstance(value, bool) and kind is int)
    ):
        expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise BadRequest(name, f"field {name!r} must be {expected}")
    if kind is None:
        replicable(name, value)
    return value


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion (the value is hostile)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


# Always encodable (integers of any size travel as an extension, impl/values.py).
_SCALARS = frozenset({int, float, bool, type(None)})


def replicable(name: str, value: Any) -> None:
    """Raises BadRequest unless ``value`` survives the log's encoding (msgpack)."""
    kind = type(value)
    if kind in _SCALARS or (kind is str and value.isascii()):
        return  # the common case, checked without encoding it (2.5 us per write)
    if _depth(value) > MAX_DEPTH:
        raise BadRequest(name, f"field {name!r} nests deeper than {MAX_DEPTH} levels")
    try:
        pack_value(value)
    except (OverflowError, TypeError, ValueError):
        raise BadRequest(name, f"field {name!r} holds a value that cannot be stored") from None


def outcome_response(error: RequestOutcome) -> Response:
    extra = {"leader": error.leader} if error.leader else {}
    return error_response(error.status, error.code, error.message, **extra)


def path_key(request: Request, name: str) -> str:
    value = request.match_info.get(name, "")
    if not value:
        raise BadRequest(name, f"{name} must not be empty")
    return value
