"""Client values survive the log encoding exactly, whatever JSON integers they hold."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from impl.kv import KvStateMachine
from impl.statemachine import Command, decode_command, encode_command
from impl.values import pack_value, unpack_value

json_values = st.recursive(
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


@given(json_values)
def test_any_json_value_round_trips_through_the_value_codec(value: object) -> None:
    """JSON integers are unbounded; msgpack's stop at 64 bits; the codec bridges the gap."""
    assert unpack_value(pack_value(value)) == value


def test_a_write_of_a_huge_integer_is_applied_and_survives_a_snapshot() -> None:
    """A 100-bit integer goes through a command, the KV state and a snapshot unchanged."""
    huge = 2**100 + 7
    command = decode_command(
        encode_command(
            Command(service="kv", op={"f": "write", "key": "k", "value": [huge, -huge]}, stamp_ms=1)
        )
    )
    machine = KvStateMachine()
    assert machine.apply(1, command) == {"ok": True, "value": [huge, -huge]}
    restored = KvStateMachine()
    restored.restore(machine.snapshot())
    assert restored.query({"f": "read", "key": "k"}) == {"ok": True, "value": [huge, -huge]}
