"""`harness check` and `harness export`: exit codes 0/1/2, reports written, errors naming lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import cli
from harness.check.verdict import CheckResult, Verdict
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
    assert "no-such-model" in capsys.readouterr().err


def test_unknown_verdict_exits_2(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """When the checker runs out of budget the verdict is unknown and the exit code 2."""

    def out_of_budget(ops, model, *, timeout_s=None):  # type: ignore[no-untyped-def]
        return CheckResult(
            checker="linearizable", model=model, verdict=Verdict.UNKNOWN, reasons=["timeout"]
        )

    monkeypatch.setattr(linearizable, "check_linearizable", out_of_budget)
    path = _write(tmp_path, read_value=1)
    assert cli.main(["check", str(path), "--model", "register", "--timeout", "0.001"]) == 2
    assert json.loads((tmp_path / "results.json").read_text())["verdict"] == "unknown"


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
