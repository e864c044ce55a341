"""JSON Lines reading is lazy, writing is durable per line, and both round-trip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from harness.history import HistoryWriter, iter_history, read_history, write_history
from harness.history.ops import Op, OpType
from tests.history.samples import op


class LinesOnlyFile:
    """A text source that serves lines one by one and refuses to be read whole.

    ``served`` counts the lines handed out, so a test can see how far ahead of
    the consumer the reader went.
    """

    def __init__(self, lines: list[str]) -> None:
        self._lines = iter(lines)
        self.served = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.served += 1
        return line

    def read(self, *args: object) -> str:
        raise AssertionError("the reader must not read the whole file")

    def readlines(self, *args: object) -> list[str]:
        raise AssertionError("the reader must not read the whole file")


def _jsonl(count: int) -> list[str]:
    lines = []
    for i in range(count):
        kind = "invoke" if i % 2 == 0 else "ok"
        lines.append(f'{{"process": 0, "time": {i}, "type": "{kind}", "f": "read", "value": 1}}\n')
    return lines


def test_iter_history_is_a_lazy_generator() -> None:
    """Taking the first ops of a long history reads only the lines they come from."""
    source = LinesOnlyFile(_jsonl(10_000))
    ops = iter_history(source)  # type: ignore[arg-type]
    assert source.served == 0, "nothing may be read before the first op is asked for"
    first = next(ops)
    second = next(ops)
    assert (first.type, second.type) == (OpType.INVOKE, OpType.OK)
    assert source.served <= 3


def test_edn_reading_is_lazy_inside_one_top_level_vector() -> None:
    """A Knossos file is one big vector; its maps still come out one at a time."""
    lines = ["[\n"] + [
        f"{{:process 0, :type :{'invoke' if i % 2 == 0 else 'ok'}, :f :read, :value 1}}\n"
        for i in range(10_000)
    ]
    source = LinesOnlyFile([*lines, "]\n"])
    ops = iter_history(source)  # type: ignore[arg-type]
    next(ops)
    next(ops)
    assert source.served <= 4


def test_history_writer_flushes_every_line(tmp_path: Path) -> None:
    """An op is on disk as soon as write() returns, so a crash loses at most the op in flight."""
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path) as writer:
        writer.write(op(0, 0, "invoke", "write", 1))
        assert len(read_history(path)) == 1
        writer.write(op(1, 0, "ok", "write", 1))
        assert len(read_history(path)) == 2
    assert writer.count == 2


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def well_formed_histories(draw: st.DrawFn) -> list[Op]:
    """Random histories that obey the invoke/complete rules (processes retire after info)."""
    ops: list[Op] = []
    open_: dict[int, Op] = {}
    live = [0, 1, 2]
    next_process = 3
    time = 0
    for index in range(draw(st.integers(0, 30))):
        time += draw(st.integers(0, 10**6))
        process = draw(st.sampled_from(live))
        key = draw(st.none() | st.sampled_from(["k1", "k2"]))
        if process in open_:
            invoke = open_.pop(process)
            kind = draw(st.sampled_from([OpType.OK, OpType.FAIL, OpType.INFO]))
            value = draw(_values)
            error = draw(st.none() | st.text(max_size=5))
            ops.append(
                Op(
                    index=index,
                    time=time,
                    process=process,
                    type=kind,
                    f=invoke.f,
                    value=value,
                    key=invoke.key,
                    error=error,
                )
            )
            if kind is OpType.INFO:
                live[live.index(process)] = next_process
                next_process += 1
        else:
            f = draw(st.sampled_from(["read", "write", "cas", "odd name"]))
            invoke = Op(
                index=index,
                time=time,
                process=process,
                type=OpType.INVOKE,
                f=f,
                value=draw(_values),
                key=key,
            )
            open_[process] = invoke
            ops.append(invoke)
    return ops


@given(well_formed_histories())
def test_jsonl_round_trip_preserves_every_op(tmp_path_factory, history: list[Op]) -> None:  # type: ignore[no-untyped-def]
    """write_history then read_history gives back exactly the ops written."""
    path = tmp_path_factory.mktemp("rt") / "history.jsonl"
    write_history(path, history)
    assert read_history(path) == history


def _peak_while_streaming(path: Path) -> tuple[int, int]:
    """(ops seen, peak bytes allocated) while counting the ops of ``path`` without keeping them."""
    import tracemalloc

    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_history(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak


def test_streaming_a_file_from_its_path_does_not_hold_the_file(tmp_path: Path) -> None:
    """Streaming 20,000 ops (1.4 MB of JSONL, 1.4 MB of EDN) stays under 256 KiB of
    allocations (measured: 32 KiB); slurping the file costs 3.9 MB and keeping the ops
    3.2 MB. The bound is independent of the file length."""
    lines = _jsonl(20_000)
    jsonl = tmp_path / "history.jsonl"
    jsonl.write_text("".join(lines))
    edn = tmp_path / "history.edn"
    edn.write_text(
        "[\n"
        + "".join(
            f"{{:process 0, :time {i}, :type :{'invoke' if i % 2 == 0 else 'ok'}, "
            f":f :read, :value 1}}\n"
            for i in range(20_000)
        )
        + "]\n"
    )
    for path in (jsonl, edn):
        count, peak = _peak_while_streaming(path)
        assert count == 20_000
        assert path.stat().st_size > 1_000_000
        assert peak < 256 * 1024, (path.name, peak)
