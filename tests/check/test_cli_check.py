"""`harness check` and `harness export`: exit codes 0/1/2, reports written, errors naming lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import cli
from harness.history import read_history, write_history
from tests.history.samples import (
    JEPSEN_HISTORY_EDN,
    KNOSSOS_CAS_REGISTER_EDN,
    register_history,
)

linearizable = pytest.importorskip(
    "harness.check.linearizable",
    reason="the linearizability engine (helper CHECK) is not in the tree yet",
)


def _write(tmp_path: Path, read_value: int) -> Path:
    path = tmp_path / "history.jsonl"
    write_history(path, register_history(read_value))
    return path


def test_valid_history_exits_0_and_writes_the_three_reports(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A linearizable history: exit 0, verdict table on stdout, reports next to the history."""
    path = _write(tmp_path, read_value=1)
    assert cli.main(["check", str(path), "--model", "register"]) == 0
    assert "VALID" in capsys.readouterr().out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["verdict"] == "valid" and results["ops"] == 4
    assert "VALID" in (tmp_path / "report.md").read_text()
    assert "process 1" in (tmp_path / "timeline.html").read_text()


def test_invalid_history_exits_1_with_counterexample(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A read of a value never written: exit 1, counterexample in the outputs."""
    path = _write(tmp_path, read_value=2)
    out = tmp_path / "reports"
    assert cli.main(["check", str(path), "--model", "register", "--out", str(out)]) == 1
    assert "INVALID" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["verdict"] == "invalid" and results["counterexamples"]
    assert 'id="cwindow"' in (out / "timeline.html").read_text()


def test_malformed_history_exits_2_naming_the_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A completion without an invoke on line 2: exit 2, 'line 2:' on stderr, no reports."""
    path = tmp_path / "broken.jsonl"
    path.write_text(
        '{"process": 0, "time": 0, "type": "invoke", "f": "read"}\n'
        '{"process": 1, "time": 1, "type": "ok", "f": "read", "value": 1}\n'
    )
    assert cli.main(["check", str(path), "--model", "register"]) == 2
    assert "line 2: completion 'ok' for process 1 without an open invoke" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


def test_unknown_model_exits_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A model name that does not exist is a usage error."""
    path = _write(tmp_path, read_value=1)
    assert cli.main(["check", str(path), "--model", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'no-such-model'" in err
    assert "register" in err and "total-queue" in err  # the message lists every choice


def test_knossos_edn_history_is_checked_as_is(tmp_path: Path) -> None:
    """A Knossos cas-register EDN file checks directly: write 3, cas 3->1 (info), read 1 is valid."""
    path = tmp_path / "knossos.edn"
    path.write_text(KNOSSOS_CAS_REGISTER_EDN)
    assert cli.main(["check", str(path), "--model", "cas-register"]) == 0


def test_total_queue_model_exits_1_on_a_lost_message(tmp_path: Path) -> None:
    """--model total-queue runs Jepsen's total-queue check."""
    path = tmp_path / "queue.jsonl"
    path.write_text(
        '{"process": 0, "time": 0, "type": "invoke", "f": "enqueue", "value": 1}\n'
        '{"process": 0, "time": 1, "type": "ok", "f": "enqueue", "value": 1}\n'
    )
    assert cli.main(["check", str(path), "--model", "total-queue"]) == 1
    assert json.loads((tmp_path / "results.json").read_text())["counts"]["lost"] == 1


def test_export_to_edn_and_back_preserves_the_history(tmp_path: Path) -> None:
    """JSONL -> EDN -> JSONL gives back the same ops."""
    path = _write(tmp_path, read_value=1)
    edn = tmp_path / "history.edn"
    back = tmp_path / "back.jsonl"
    assert cli.main(["export", str(path), "--edn", "-o", str(edn)]) == 0
    assert edn.read_text().startswith("{:index 0, :time 0, :process 0, :type :invoke, :f :write")
    assert cli.main(["export", str(edn), "--jsonl", "-o", str(back)]) == 0
    assert read_history(back) == read_history(path)


def test_export_of_a_malformed_history_exits_2_and_leaves_no_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """Export validates too; a broken input produces no half-written output."""
    path = tmp_path / "broken.jsonl"
    path.write_text('{"process": 0, "time": 0, "type": "nope", "f": "read"}\n')
    assert cli.main(["export", str(path), "--edn"]) == 2
    assert "line 1: unknown type 'nope'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [path]


def test_jepsen_edn_with_nemesis_and_independent_keys_is_checked(tmp_path: Path) -> None:
    """Jepsen's history.edn checks with --split-keys; its nemesis ops become timeline windows."""
    path = tmp_path / "history.edn"
    path.write_text(JEPSEN_HISTORY_EDN)
    assert cli.main(["check", str(path), "--model", "register", "--split-keys"]) == 0
    page = (tmp_path / "timeline.html").read_text()
    assert page.count('<rect class="nemesis"') == 1
    assert 'data-label="start-partition &quot;majority&quot;"' in page
    assert 'data-label="read k1 4"' in page


def test_check_inside_a_run_folder_writes_to_check_and_keeps_the_run_reports(
    tmp_path: Path,
) -> None:
    """In a run folder (run.json present) the run's report.md survives; check writes to check/."""
    path = _write(tmp_path, read_value=1)
    (tmp_path / "run.json").write_text("{}")
    (tmp_path / "report.md").write_text("the run's own report")
    assert cli.main(["check", str(path), "--model", "register"]) == 0
    assert (tmp_path / "report.md").read_text() == "the run's own report"
    assert "VALID" in (tmp_path / "check" / "report.md").read_text()


def test_knossos_history_with_invokes_that_never_complete_is_checked(
    tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Knossos leaves crashed ops without a completion; they are checked as info, and said so."""
    path = tmp_path / "bad-analysis.edn"
    path.write_text(
        "[{:process 4, :type :invoke, :f :write, :value 2}\n"
        " {:process 4, :type :ok, :f :write, :value 2}\n"
        " {:process 6, :type :invoke, :f :read, :value nil}\n"  # never completes
        " {:process 20, :type :invoke, :f :write, :value 1}\n"  # never completes
        " {:process 21, :type :invoke, :f :read, :value nil}\n"
        " {:process 21, :type :ok, :f :read, :value 1}\n"
        " {:process 22  :type :invoke, :f :read, :value nil}\n"
        " {:process 22, :type :ok, :f :read, :value 3}]\n"  # nobody wrote 3
    )
    assert cli.main(["check", str(path), "--model", "cas-register"]) == 1
    out = capsys.readouterr().out
    assert "note: 2 invoke(s) never completed (index 2, 3)" in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["counts"]["info"] == 2 and results["notes"]
    assert "never completed" in (tmp_path / "report.md").read_text()
    # Without the read of 3 the same history is valid: the crashed write of 1 explains the read.
    path.write_text("\n".join(path.read_text().splitlines()[:6]) + "]\n")
    assert cli.main(["check", str(path), "--model", "cas-register"]) == 0


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", '{"process": "nemesis", "time": 0, "type": "info", "f": "start"}\n'],
    ids=["empty", "blank", "nemesis-only"],
)
def test_a_history_without_client_ops_is_an_error_not_a_pass(
    tmp_path: Path,
    capsys,  # type: ignore[no-untyped-def]
    text: str,
) -> None:
    """Nothing to check must not print VALID (a truncated file would pass silently)."""
    path = tmp_path / "history.jsonl"
    path.write_text(text)
    assert cli.main(["check", str(path), "--model", "register"]) == 2
    assert "no client operations" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


def test_binary_file_exits_2_naming_the_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A file that is not text is a clear error (line and byte), not a UnicodeDecodeError."""
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\x00\xff\xfe\x00garbage\n")
    assert cli.main(["check", str(path), "--model", "register"]) == 2
    assert "line 1: not UTF-8 text" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "is not JSON"), ('{"a": 1}', "must be a JSON list")],
)
def test_bad_dead_letters_file_exits_2(tmp_path: Path, capsys, content: str, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "queue.jsonl"
    path.write_text(
        '{"process": 0, "time": 0, "type": "invoke", "f": "enqueue", "value": 1}\n'
        '{"process": 0, "time": 1, "type": "ok", "f": "enqueue", "value": 1}\n'
    )
    dead = tmp_path / "dead.json"
    dead.write_text(content)
    argv = ["check", str(path), "--model", "total-queue", "--dead-letters", str(dead)]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("timeout", ["0", "-1", "nan"])
def test_non_positive_timeout_exits_2(tmp_path: Path, capsys, timeout: str) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, read_value=1)
    assert cli.main(["check", str(path), "--model", "register", "--timeout", timeout]) == 2
    assert "--timeout must be a positive number" in capsys.readouterr().err
    argv = ["check", str(path), "--model", "register", "--memory-limit", timeout]
    assert cli.main(argv) == 2
    assert "--memory-limit must be a positive number" in capsys.readouterr().err


@pytest.mark.parametrize(
    "model", ["register", "cas-register", "kv", "mutex", "rwlock", "queue", "set", "total-queue"]
)
def test_every_model_of_the_issue_is_reachable_from_the_cli(tmp_path: Path, model: str) -> None:
    """Each --model name runs its checker (a one-op history each model accepts: exit 0)."""
    f, value = {
        "register": ("write", 1),
        "cas-register": ("write", 1),
        "kv": ("write", 1),
        "mutex": ("acquire", "a"),
        "rwlock": ("acquire", {"owner": "a", "mode": "shared"}),
        "queue": ("enqueue", 1),
        "set": ("add", 1),
        "total-queue": ("enqueue", 1),
    }[model]
    done = {"token": 1} if model == "rwlock" else value
    path = tmp_path / "history.jsonl"
    path.write_text(
        json.dumps({"process": 0, "time": 0, "type": "invoke", "f": f, "value": value})
        + "\n"
        + json.dumps({"process": 0, "time": 1, "type": "ok", "f": f, "value": done})
        + "\n"
    )
    code = cli.main(["check", str(path), "--model", model])
    results = json.loads((tmp_path / "results.json").read_text())
    expected = "total-queue" if model == "total-queue" else "linearizable"
    assert (code, results["checker"], results["model"]) == (
        1 if model == "total-queue" else 0,
        expected,
        model,
    )


def test_export_independent_writes_jepsen_tuples_that_split_back(tmp_path: Path) -> None:
    """--independent puts the key in the value as Jepsen's independent workloads do."""
    path = tmp_path / "history.jsonl"
    write_history(path, register_history(1, key="k1"))
    edn = tmp_path / "history.edn"
    assert cli.main(["export", str(path), "--edn", "--independent", "-o", str(edn)]) == 0
    first = edn.read_text().splitlines()[0]
    assert ':value ["k1" 1]' in first and ":key" not in first
    back = tmp_path / "back.jsonl"
    assert cli.main(["export", str(edn), "--jsonl", "--split-keys", "-o", str(back)]) == 0
    assert read_history(back) == read_history(path)


def _hard_queue_history(path: Path) -> Path:
    """40 concurrent crashed enqueues and a dequeue of a value never enqueued: the queue
    model cannot prune the crashed ops, so the search outgrows any small budget."""
    lines = [
        {"process": p, "time": p, "type": "invoke", "f": "enqueue", "value": p} for p in range(40)
    ]
    lines += [
        {"process": p, "time": 40 + p, "type": "info", "f": "enqueue", "value": p}
        for p in range(40)
    ]
    lines += [
        {"process": 99, "time": 80, "type": "invoke", "f": "dequeue", "value": None},
        {"process": 99, "time": 81, "type": "ok", "f": "dequeue", "value": -1},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.mark.parametrize(
    ("option", "reason"),
    [(["--timeout", "0.3"], "timeout after 0.3 s"), (["--memory-limit", "0.1"], "memory cap")],
    ids=["timeout", "memory-cap"],
)
def test_out_of_budget_check_exits_2_with_the_reason(
    tmp_path: Path,
    capsys,  # type: ignore[no-untyped-def]
    option: list[str],
    reason: str,
) -> None:
    """Verdict path UNKNOWN from the command line, by time and by memory: exit 2, the reason
    printed and in results.json, never a hang and never a verdict."""
    path = _hard_queue_history(tmp_path / "hard.jsonl")
    assert cli.main(["check", str(path), "--model", "queue", *option]) == 2
    assert "UNKNOWN" in capsys.readouterr().out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["verdict"] == "unknown"
    assert any(reason in text for text in results["reasons"]), results["reasons"]


def test_independent_tuples_without_split_keys_get_a_note(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A Jepsen independent history checked without --split-keys is one object; say so."""
    path = tmp_path / "history.edn"
    path.write_text(
        "".join(
            f"{{:process {p}, :type :{t}, :f :write, :value [:k{p % 2} {p}]}}\n"
            for p in range(6)
            for t in ("invoke", "ok")
        )
    )
    assert cli.main(["check", str(path), "--model", "register"]) == 0
    assert "without --split-keys all keys are checked as one object" in capsys.readouterr().out
    assert cli.main(["check", str(path), "--model", "register", "--split-keys"]) == 0
    assert "--split-keys" not in capsys.readouterr().out
