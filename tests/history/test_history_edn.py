"""Jepsen/Knossos EDN histories are read as they are, and our EDN is read back identically."""

from __future__ import annotations

import io
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given

from harness.history import read_history, write_edn
from harness.history.edn import format_edn, iter_edn_forms, op_to_edn
from harness.history.ops import Op, OpType
from harness.history.reader import detect_format
from tests.history.samples import JEPSEN_HISTORY_EDN, KNOSSOS_CAS_REGISTER_EDN
from tests.history.test_history_streaming import well_formed_histories


def _forms(text: str) -> list[object]:
    return [value for value, _ in iter_edn_forms(io.StringIO(text))]


def test_knossos_history_without_index_or_time_is_read_as_is() -> None:
    """Missing :index and :time are synthesized from the position, keywords become strings."""
    ops = read_history(io.StringIO(KNOSSOS_CAS_REGISTER_EDN))
    assert len(ops) == 10
    assert [o.index for o in ops] == list(range(10))
    assert [o.time for o in ops] == list(range(10))
    assert ops[4] == Op(index=4, time=4, process=2, type=OpType.INVOKE, f="cas", value=[3, 4])
    assert ops[7].type is OpType.INFO
    assert ops[1].value is None


def test_jepsen_history_edn_with_tags_nemesis_and_independent_keys() -> None:
    """Tagged Jepsen ops parse; nemesis ops are dropped by default; [k v] splits on request."""
    ops = read_history(io.StringIO(JEPSEN_HISTORY_EDN))
    assert [o.index for o in ops] == [0, 1, 4, 5]
    assert ops[0].time == 1203040
    assert ops[0].value == ["k1", 4] and ops[0].key is None
    split = read_history(io.StringIO(JEPSEN_HISTORY_EDN), split_keys=True)
    assert (split[3].key, split[3].value) == ("k1", 4)
    everything = read_history(io.StringIO(JEPSEN_HISTORY_EDN), keep_nemesis=True)
    nemesis = [o for o in everything if o.process == "nemesis"]
    assert [o.f for o in nemesis] == ["start-partition", "start-partition", "stop-partition"]
    assert nemesis[1].value == ["isolated", {"n1": ["n2", "n3"]}]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nil true false", [None, True, False]),
        (
            "42 -7 12345678901234567890N 1.5 2.5M 1/4",
            [42, -7, 12345678901234567890, 1.5, 2.5, 0.25],
        ),
        (
            ':cas :jepsen.nemesis/partition "a \\"q\\" \\n"',
            ["cas", "jepsen.nemesis/partition", 'a "q" \n'],
        ),
        ("[1 [2 (3)]] #{3 1 2}", [[1, [2, [3]]]]),
        ("{:a 1, :b {:c [nil]}}", [{"a": 1, "b": {"c": [None]}}]),
        ("; a comment\n1 #_ 2 3, 4", [1, 3, 4]),
        ('#inst "2024-01-01" \\a \\newline sym', ["2024-01-01", "a", "\n", "sym"]),
        ('"spans\nlines"', ["spans\nlines"]),
    ],
)
def test_edn_values_map_to_python(text: str, expected: list[object]) -> None:
    """The EDN subset Jepsen histories use maps to the documented Python values."""
    forms = _forms(text)
    if text.startswith("[1"):
        # A top-level vector is streamed: its items come out one by one, then the set.
        assert forms == [1, [2, [3]], [1, 2, 3]]
    else:
        assert forms == expected


def test_format_is_detected_from_the_first_line() -> None:
    """JSON objects start {" ; EDN starts with [, (, #, ; or {:."""
    assert detect_format('{"process": 1}') == "jsonl"
    assert detect_format("  {:process 1}") == "edn"
    assert detect_format("[{:process 1}") == "edn"
    assert detect_format("#jepsen.history.Op{:index 0}") == "edn"


def test_edn_writer_uses_keywords_for_type_and_f_and_nil_for_none() -> None:
    """What Jepsen's reader expects: {:type :invoke, :f :read, :value nil}."""
    line = op_to_edn(
        Op(index=3, time=7, process="nemesis", type=OpType.INFO, f="start", value=None)
    )
    assert line == "{:index 3, :time 7, :process :nemesis, :type :info, :f :start, :value nil}"
    assert format_edn({"a": [1, "x", None, True]}) == '{"a" [1 "x" nil true]}'
    assert (
        op_to_edn(Op(index=0, time=0, process=1, type=OpType.OK, f="odd name")).count(
            ':f "odd name"'
        )
        == 1
    )


@given(well_formed_histories())
def test_edn_round_trip_preserves_every_op(tmp_path_factory, history: list[Op]) -> None:  # type: ignore[no-untyped-def]
    """write_edn then read_history gives back the ops (JSON-typed values survive exactly)."""
    path: Path = tmp_path_factory.mktemp("edn") / "history.edn"
    write_edn(path, history)
    assert read_history(path) == history


def test_a_history_on_one_line_reads_in_linear_time() -> None:
    """Some tools print the whole vector on one line; locating each token's line must not
    rescan the line (it did: 20,000 ops on one line took 22 s, now about 0.5 s)."""
    text = (
        "["
        + " ".join(
            f"{{:process {i // 2}, :type :{'invoke' if i % 2 == 0 else 'ok'}, :f :write, "
            f":value {i // 2}}}"
            for i in range(20_000)
        )
        + "]\n"
    )
    started = time.monotonic()
    ops = read_history(io.StringIO(text))
    assert len(ops) == 20_000
    assert time.monotonic() - started < 6.0


READ_BACK_CLJ = """
(require '[clojure.edn :as edn] '[clojure.java.io :as io])
(with-open [r (java.io.PushbackReader. (io/reader (first *command-line-args*)))]
  (let [ops (take-while #(not= % ::eof)
                        (repeatedly #(edn/read {:eof ::eof :default (fn [_ v] v)} r)))]
    (doseq [op ops]
      (println (pr-str [(:index op) (:process op) (:type op) (:f op) (:value op) (:error op)])))))
"""


@pytest.mark.skipif(shutil.which("clojure") is None, reason="needs Clojure (Debian: clojure)")
def test_exported_edn_is_read_by_clojure_as_jepsen_ops(tmp_path: Path) -> None:
    """What `harness export --edn` writes, Clojure's own EDN reader reads: keywords for
    :type, :f and the nemesis process, nil, vectors, maps, big integers, escapes, ##NaN."""
    ops = [
        Op(index=0, time=5, process=0, type=OpType.INVOKE, f="cas", value=[1, 2]),
        Op(index=1, time=6, process="nemesis", type=OpType.INFO, f="start-partition",
           value={"n1": ["n2", "n3"]}),
        Op(index=2, time=7, process=0, type=OpType.INFO, f="cas", value=[1, 2],
           error='timed out "x" \\ é'),
        Op(index=3, time=8, process=1, type=OpType.INVOKE, f="write", value=2**70),
        Op(index=4, time=9, process=1, type=OpType.OK, f="write", value=2**70),
    ]  # fmt: skip
    path = tmp_path / "history.edn"
    write_edn(path, ops)
    script = tmp_path / "read.clj"
    script.write_text(READ_BACK_CLJ)
    done = subprocess.run(
        ["clojure", str(script), str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "[0 0 :invoke :cas [1 2] nil]",
        '[1 :nemesis :info :start-partition {"n1" ["n2" "n3"]} nil]',
        '[2 0 :info :cas [1 2] "timed out \\"x\\" \\\\ é"]',
        "[3 1 :invoke :write 1180591620717411303424N nil]",
        "[4 1 :ok :write 1180591620717411303424N nil]",
    ]
