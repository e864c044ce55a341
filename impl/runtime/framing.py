"""Length-prefixed msgpack frames for the peer transport (sans-I/O).

Theory of operation: a frame is a 4-byte big-endian length followed by that
many bytes of msgpack. ``FrameDecoder.feed`` takes whatever bytes the socket
produced (partial frames, several frames at once) and returns the complete
frames' decoded objects. A length above ``max_frame_bytes`` or a payload that
is not msgpack raises ``RemoteProtocolError``: after that the byte stream can
no longer be trusted to be aligned on frame boundaries, so the caller drops
the connection (and counts it) rather than guessing.

Rules, because every peer message goes through here (the decoder runs inside
the socket's ``data_received``):

1. A read that holds only whole frames (the common case: one Raft message per
   read) is decoded in place: each payload is sliced straight out of the bytes
   the socket produced, with no intermediate buffer.
2. Bytes are buffered only for a frame that straddles reads, and the buffer is
   not decoded again until the frame it waits for can be complete
   (``_needed_bytes``): a large frame arriving in many reads is appended to
   the buffer read by read and taken out once, not re-copied or re-parsed on
   every read.
3. An oversized length is refused as soon as its header is in, before any of
   its payload is buffered.

``take_frame_payload`` cuts one frame off a buffer, for the handshake, which
must read exactly one frame at a time under a smaller size limit.
"""

from __future__ import annotations

import struct
from typing import Any

from impl.errors import LocalProtocolError, RemoteProtocolError
from impl.values import pack_value, unpack_value

HEADER = struct.Struct(">I")
_HEADER_SIZE = HEADER.size
_unpack_header_from = HEADER.unpack_from


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


def decode_payload(payload: bytes) -> Any:
    """Decode one frame's payload (the bytes after its length header).

    Raises:
        RemoteProtocolError: the payload is not msgpack.
    """
    try:
        return unpack_value(payload, strict_map_key=False)
    except Exception as error:  # msgpack raises several unrelated classes
        raise RemoteProtocolError(f"frame payload is not msgpack: {error}") from error


def _too_large(length: int, max_frame_bytes: int) -> FrameTooLargeError:
    return FrameTooLargeError(f"frame of {length} bytes exceeds the {max_frame_bytes}-byte limit")


def take_frame_payload(buffer: bytearray, *, max_frame_bytes: int) -> bytes | None:
    """Remove the first frame from ``buffer`` and return its payload; None if incomplete.

    Raises:
        FrameTooLargeError: the first frame announces more than ``max_frame_bytes``.
    """
    if len(buffer) < _HEADER_SIZE:
        return None
    (length,) = _unpack_header_from(buffer, 0)
    if length > max_frame_bytes:
        raise _too_large(length, max_frame_bytes)
    end = _HEADER_SIZE + length
    if len(buffer) < end:
        return None
    payload = bytes(buffer[_HEADER_SIZE:end])
    del buffer[:end]
    return payload


class FrameDecoder:
    """Accumulates bytes and yields whole decoded frames."""

    def __init__(self, *, max_frame_bytes: int = MAX_FRAME_BYTES_DEFAULT) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()  # the start of a frame that straddles reads
        self._needed_bytes = _HEADER_SIZE  # buffered bytes that make the next frame decodable
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
                When good frames came before the bad one in this call, they are
                returned and the error is raised by the next ``feed`` or
                ``raise_pending``.
        """
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        if buffer:
            buffer += data
            if len(buffer) < self._needed_bytes:
                return []  # rule 2: the frame it waits for cannot be complete yet
            data = bytes(buffer)
            buffer.clear()
        frames: list[Any] = []
        try:
            consumed = self._decode_into(data, frames)
        except RemoteProtocolError as error:
            if not frames:
                raise
            self._error = error  # hand out the good frames first; fail on the next call
            return frames
        if consumed < len(data):
            buffer += memoryview(data)[consumed:]
            self._needed_bytes = (
                _HEADER_SIZE + _unpack_header_from(buffer, 0)[0]
                if len(buffer) >= _HEADER_SIZE
                else _HEADER_SIZE
            )
        return frames

    def _decode_into(self, data: bytes, frames: list[Any]) -> int:
        """Append the whole frames at the start of ``data``; return the bytes they took."""
        max_frame_bytes = self.max_frame_bytes
        size = len(data)
        position = 0
        while size - position >= _HEADER_SIZE:
            (length,) = _unpack_header_from(data, position)
            if length > max_frame_bytes:
                raise _too_large(length, max_frame_bytes)
            start = position + _HEADER_SIZE
            end = start + length
            if end > size:
                break
            frames.append(decode_payload(data[start:end]))
            position = end
        return position
