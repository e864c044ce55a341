"""Length-prefixed msgpack frames for the peer transport (sans-I/O).

Theory of operation: a frame is a 4-byte big-endian length followed by that
many bytes of msgpack. ``FrameDecoder.feed`` takes whatever bytes the socket
produced (partial frames, several frames at once) and returns the complete
frames' decoded objects. A length above ``max_frame_bytes`` or a payload that
is not msgpack raises ``RemoteProtocolError``: after that the byte stream can
no longer be trusted to be aligned on frame boundaries, so the caller drops
the connection (and counts it) rather than guessing.
"""

from __future__ import annotations

import struct
from typing import Any

from impl.errors import LocalProtocolError, RemoteProtocolError
from impl.values import pack_value, unpack_value

HEADER = struct.Struct(">I")


class FrameTooLargeError(RemoteProtocolError):
    """A frame announced more bytes than the receiver accepts."""


MAX_FRAME_BYTES_DEFAULT = 16 * 1024 * 1024


def encode_frame(obj: Any, *, max_frame_bytes: int = MAX_FRAME_BYTES_DEFAULT) -> bytes:
    """Serialise ``obj`` as one frame.

    Raises:
        LocalProtocolError: the encoded object is larger than ``max_frame_bytes``;
            the peer would drop it, so the caller must not send it.
    """
    payload = pack_value(obj)
    if len(payload) > max_frame_bytes:
        raise LocalProtocolError(
            f"frame of {len(payload)} bytes exceeds the {max_frame_bytes}-byte limit; "
            "raise SINKRON_MAX_FRAME_BYTES or send less at once"
        )
    return HEADER.pack(len(payload)) + payload


class FrameDecoder:
    """Accumulates bytes and yields whole decoded frames."""

    def __init__(self, *, max_frame_bytes: int = MAX_FRAME_BYTES_DEFAULT) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._error: RemoteProtocolError | None = None

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    def raise_pending(self) -> None:
        """Raise the error met after the frames the last ``feed`` returned, if any."""
        if self._error is not None:
            raise self._error

    def feed(self, data: bytes) -> list[Any]:
        """Add ``data``; return every frame now complete, in order.

        Raises:
            RemoteProtocolError: a frame announces more than ``max_frame_bytes``
                or its payload is not valid msgpack. The stream is unusable.
        """
        self.raise_pending()
        self._buffer += data
        frames: list[Any] = []
        try:
            self._decode_into(frames)
        except RemoteProtocolError as error:
            if not frames:
                raise
            self._error = error  # hand out the good frames first; fail on the next call
        return frames

    def _decode_into(self, frames: list[Any]) -> None:
        while len(self._buffer) >= HEADER.size:
            (length,) = HEADER.unpack_from(self._buffer, 0)
            if length > self.max_frame_bytes:
                raise FrameTooLargeError(
                    f"frame of {length} bytes exceeds the {self.max_frame_bytes}-byte limit"
                )
            end = HEADER.size + length
            if len(self._buffer) < end:
                break
            payload = bytes(self._buffer[HEADER.size : end])
            del self._buffer[:end]
            frames.append(_decode_payload(payload))


def _decode_payload(payload: bytes) -> Any:
    try:
        return unpack_value(payload, strict_map_key=False)
    except Exception as error:  # msgpack raises several unrelated classes
        raise RemoteProtocolError(f"frame payload is not msgpack: {error}") from error
