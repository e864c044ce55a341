"""Peer frames: length-prefixed msgpack, decoded from arbitrary socket chunks."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from impl.errors import LocalProtocolError, RemoteProtocolError
from impl.runtime.framing import FrameDecoder, FrameTooLargeError, encode_frame

_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text() | st.binary(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=10,
)


@given(frames=st.lists(_values, min_size=1, max_size=6), data=st.data())
def test_decoder_yields_every_frame_whatever_the_chunking(
    frames: list, data: st.DataObject
) -> None:
    """Frames come out whole and in order however the byte stream is split into reads."""
    stream = b"".join(encode_frame(f) for f in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    decoder = FrameDecoder()
    out: list = []
    start = 0
    for cut in [*cuts, len(stream)]:
        out.extend(decoder.feed(stream[start:cut]))
        start = cut
    assert out == frames
    assert decoder.buffered_bytes == 0


def test_partial_frame_is_held_until_complete() -> None:
    """A frame split mid-payload yields nothing until its last byte arrives."""
    frame = encode_frame({"a": 1})
    decoder = FrameDecoder()
    assert decoder.feed(frame[:3]) == []
    assert decoder.feed(frame[3:-1]) == []
    assert decoder.feed(frame[-1:]) == [{"a": 1}]


def test_oversized_frame_is_refused_before_its_payload_arrives() -> None:
    """A header announcing more than the limit is an error at once: no buffering of the body."""
    decoder = FrameDecoder(max_frame_bytes=1024)
    with pytest.raises(FrameTooLargeError):
        decoder.feed(struct.pack(">I", 1025))


def test_encoder_refuses_a_frame_the_peer_would_drop() -> None:
    """Sending more than max_frame_bytes is our own misuse."""
    with pytest.raises(LocalProtocolError, match="exceeds"):
        encode_frame(b"x" * 2000, max_frame_bytes=1024)


@given(garbage=st.binary(min_size=1, max_size=64))
def test_garbage_payload_raises_remote_protocol_error_only(garbage: bytes) -> None:
    """Random bytes framed correctly either decode or raise RemoteProtocolError, nothing else."""
    decoder = FrameDecoder()
    try:
        frames = decoder.feed(struct.pack(">I", len(garbage)) + garbage)
    except RemoteProtocolError:
        return
    assert len(frames) == 1  # a well-formed payload decodes to exactly one value


def test_truncated_msgpack_payload_is_malformed() -> None:
    """A complete frame whose payload is cut msgpack is rejected, not half-decoded."""
    payload = encode_frame([1, 2, "three"])[4:-2]
    with pytest.raises(RemoteProtocolError, match="not msgpack"):
        FrameDecoder().feed(struct.pack(">I", len(payload)) + payload)
