"""The HTTP layer's JSON fast paths (orjson) agree with the stdlib path they stand in for."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from impl.runtime.api.common import _DECODER, BadRequest, _decode, json_response, replicable
from impl.values import pack_value

_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)

_tricky = st.sampled_from(
    [
        b"NaN",
        b"-Infinity",
        b"1e400",
        b"18446744073709551616",
        b"-9223372036854775809",
        b"1.7976931348623157e309",
        b'"\\ud800"',
        b"\xef\xbb\xbf{}",
        b"\xff",
        b"[" * 600 + b"]" * 600,
        b"0.1",
        b"-0.0",
        b"",
    ]
)


def _stdlib(raw: bytes) -> tuple[str, Any]:
    try:
        return "ok", _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        return "error", type(error).__name__


def _fast(raw: bytes) -> tuple[str, Any]:
    try:
        return "ok", _decode(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        return "error", type(error).__name__


def _same(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
    """Equal including types (1 is not 1.0 here) and the sign of zero."""
    return repr(a) == repr(b)


@given(
    st.one_of(
        _values.map(lambda v: json.dumps(v).encode()),
        _values.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8")),
        _values.map(lambda v: json.dumps(v).encode("utf-16")),
        st.binary(max_size=40),
        _tricky,
        st.tuples(_tricky, _tricky).map(lambda t: b'{"value": [' + t[0] + b", " + t[1] + b"]}"),
    )
)
def test_the_fast_decoder_gives_the_stdlib_answer(raw: bytes) -> None:
    """Same value or same failure for any bytes (orjson refusals fall back to the stdlib)."""
    assert _same(_fast(raw), _stdlib(raw))


def test_non_finite_numbers_are_still_refused() -> None:
    for raw in (b'{"v": NaN}', b'{"v": 1e400}', b'{"v": -Infinity}'):
        assert _fast(raw)[0] == "error"


@given(_values | st.integers(min_value=2**64) | st.just({"v": "\ud800"}))
def test_responses_carry_json_that_decodes_to_the_data(value: Any) -> None:
    response = json_response(value)
    assert response.content_type == "application/json" and response.charset == "utf-8"
    assert isinstance(response.body, bytes)
    decoded = json.loads(response.body)
    assert repr(decoded) == repr(value)


@given(
    st.one_of(
        st.integers(),
        st.floats(),
        st.booleans(),
        st.none(),
        st.text(),
        st.just("\ud800"),
        st.lists(st.integers() | st.text(), max_size=3),
    )
)
def test_the_scalar_fast_path_of_replicable_agrees_with_encoding(value: Any) -> None:
    """``replicable`` accepts a value exactly when the log's encoder can encode it."""
    try:
        pack_value(value)
        encodable = True
    except (OverflowError, TypeError, ValueError):
        encodable = False
    try:
        replicable("value", value)
        accepted = True
    except BadRequest:
        accepted = False
    assert accepted == encodable
