"""How client values are encoded in the log, in snapshots and on the wire: msgpack, unbounded ints.

Why: a client value is any JSON value and JSON integers are unbounded, but
msgpack's integers stop at 64 bits. Integers outside that range travel as a
msgpack extension (type 1, the decimal digits), so every JSON value a client
can send is stored and read back exactly, on every replica. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

import msgpack

BIG_INT_EXT = 1


def _default(value: Any) -> Any:
    if isinstance(value, int):  # msgpack calls default only for ints outside 64 bits
        return msgpack.ExtType(BIG_INT_EXT, str(value).encode("ascii"))
    raise TypeError(f"cannot encode {type(value).__name__}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == BIG_INT_EXT:
        return int(data.decode("ascii"))
    return msgpack.ExtType(code, data)


def pack_value(value: Any) -> bytes:
    """Encode a JSON-like value (bytes allowed).

    Raises:
        TypeError: the value holds something that is not JSON-like.
    """
    return msgpack.packb(value, use_bin_type=True, default=_default)


def unpack_value(data: bytes, *, strict_map_key: bool = True) -> Any:
    """Decode what ``pack_value`` wrote; msgpack's own exceptions propagate."""
    return msgpack.unpackb(data, raw=False, ext_hook=_ext_hook, strict_map_key=strict_map_key)
