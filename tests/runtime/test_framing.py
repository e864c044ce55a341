"""Peer frames: length-prefixed msgpack, decoded from arbitrary socket chunks."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from impl.errors import LocalProtocolError, RemoteProtocolError
from impl.runtime.framing import (
    FrameDecoder,
    FrameTooLargeError,
    decode_payload,
    encode_frame,
    take_frame_payload,
)
from impl.values import unpack_value

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


def _naive_decode(stream: bytes, max_frame_bytes: int) -> tuple[list, type | None]:
    """The reference: decode a whole stream at once, stopping at the first bad frame."""
    frames: list = []
    position = 0
    while len(stream) - position >= 4:
        (length,) = struct.unpack_from(">I", stream, position)
        if length > max_frame_bytes:
            return frames, FrameTooLargeError
        end = position + 4 + length
        if end > len(stream):
            break
        try:
            frames.append(unpack_value(stream[position + 4 : end], strict_map_key=False))
        except Exception:
            return frames, RemoteProtocolError
        position = end
    return frames, None


_pieces = st.one_of(
    _values.map(encode_frame),
    st.binary(min_size=1, max_size=6).map(lambda junk: struct.pack(">I", len(junk)) + junk),
    st.just(struct.pack(">I", 1 << 20)),  # oversized for the 1 KiB decoder below
    st.binary(min_size=1, max_size=600).map(encode_frame),  # may straddle many reads
)


@given(pieces=st.lists(_pieces, min_size=1, max_size=6), data=st.data())
def test_decoder_matches_a_naive_whole_stream_decoder(
    pieces: list[bytes], data: st.DataObject
) -> None:
    """However a stream is chunked, the decoder yields the naive decoder's frames, then its error."""
    stream = b"".join(pieces)
    expected_frames, expected_error = _naive_decode(stream, 1024)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    decoder = FrameDecoder(max_frame_bytes=1024)
    frames: list = []
    error: RemoteProtocolError | None = None
    start = 0
    try:
        for cut in [*cuts, len(stream)]:
            frames.extend(decoder.feed(stream[start:cut]))
            start = cut
        decoder.raise_pending()
    except RemoteProtocolError as raised:
        error = raised
    assert frames == expected_frames
    if expected_error is None:
        assert error is None
    else:
        assert error is not None
        assert isinstance(error, FrameTooLargeError) == (expected_error is FrameTooLargeError)


def test_good_frames_before_a_bad_one_are_returned_and_the_error_comes_next() -> None:
    """A read holding good frames then garbage hands out the good ones; the stream then fails."""
    decoder = FrameDecoder()
    good = encode_frame(["ok", 1]) + encode_frame(["ok", 2])
    assert decoder.feed(good + b"\x00\x00\x00\x02\xc1\xc1") == [["ok", 1], ["ok", 2]]
    with pytest.raises(RemoteProtocolError, match="not msgpack"):
        decoder.raise_pending()
    with pytest.raises(RemoteProtocolError, match="not msgpack"):
        decoder.feed(encode_frame(["ok", 3]))


def test_frame_spread_over_many_reads_is_held_then_decoded_once() -> None:
    """A large frame arriving in small reads is buffered whole and decoded when complete."""
    frame = encode_frame(b"x" * 5000)
    decoder = FrameDecoder()
    fed = 0
    while len(frame) - fed > 100:
        assert decoder.feed(frame[fed : fed + 100]) == []
        fed += 100
        assert decoder.buffered_bytes == fed
    assert decoder.feed(frame[fed:] + encode_frame(1)[:2]) == [b"x" * 5000]
    assert decoder.buffered_bytes == 2


def test_take_frame_payload_cuts_exactly_one_frame() -> None:
    """The handshake's reader takes one frame and leaves the bytes after it in the buffer."""
    buffer = bytearray(encode_frame("hello") + encode_frame("proof")[:3])
    assert decode_payload(take_frame_payload(buffer, max_frame_bytes=64) or b"") == "hello"
    assert take_frame_payload(buffer, max_frame_bytes=64) is None
    assert bytes(buffer) == encode_frame("proof")[:3]
    with pytest.raises(FrameTooLargeError):
        take_frame_payload(bytearray(struct.pack(">I", 65)), max_frame_bytes=64)
