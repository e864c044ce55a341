"""timeline.html: one self-contained page with lanes, outcomes, faults and the counterexample."""

from __future__ import annotations

import json
import re

from harness.check.verdict import Counterexample
from harness.history.ops import Op, OpType
from harness.report.timeline import LABELS_OPS_MAX, render_timeline


def _op(index: int, process: int | str, type_: str, f: str, value: object = None) -> Op:
    return Op(
        index=index, time=index * 1_000_000, process=process, type=OpType(type_), f=f, value=value
    )


HISTORY = [
    _op(0, 0, "invoke", "write", 1),
    _op(1, 1, "invoke", "read"),
    _op(2, 0, "ok", "write", 1),
    _op(3, 1, "ok", "read", 2),
    _op(4, 2, "invoke", "write", 3),
    _op(5, 2, "fail", "write", 3),
    _op(6, 0, "invoke", "write", 4),
    _op(7, 0, "info", "write", 4),
    _op(8, 5, "invoke", "read"),
    _op(9, 5, "ok", "read", 4),
    _op(10, 1, "invoke", "read"),
]


def _data(page: str) -> dict:
    match = re.search(
        r'<script type="application/json" id="timeline-data">(.*?)</script>', page, re.S
    )
    assert match is not None
    return json.loads(match.group(1))


def test_page_is_self_contained() -> None:
    """No network: no external scripts, styles, images or fonts."""
    page = render_timeline(HISTORY, title="t")
    assert page.startswith("<!doctype html>")
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "@import" not in page and "url(" not in page
    # Stricter: nothing that could make a browser fetch anything, with or without scheme.
    assert not re.search(r"https?:|<link|<img|<iframe|\ssrc=|@font-face", page, re.I)


def test_one_lane_per_live_process_and_bars_colored_by_outcome() -> None:
    """Each process gets a lane; ok/fail/info/never-completed bars carry their outcome class."""
    page = render_timeline(HISTORY, title="kv run")
    for lane in ("process 1", "process 2"):
        assert f'data-lane="{lane}"' in page
    classes = re.findall(r'<rect class="(op [a-z]+)[^"]*"', page)
    assert sorted(classes) == sorted(["op ok", "op ok", "op ok", "op fail", "op info", "op open"])
    assert '<rect class="tail"' in page  # the info bar's tail runs on to the end
    assert "<title>process 1: read" in page  # a tooltip without JS


def test_process_after_info_reuses_the_retired_lane() -> None:
    """Process 5 starts after process 0's info, so both share one lane labelled with both ids."""
    page = render_timeline(HISTORY, title="t")
    assert 'data-lane="p 0, 5"' in page
    assert 'data-lane="process 5"' not in page


def test_nemesis_windows_and_lock_holds_are_drawn() -> None:
    """Fault windows are shaded with their label; lock holds get a 'lock X' lane per lock."""
    page = render_timeline(
        HISTORY,
        title="t",
        nemesis_windows=[(2_000_000, 6_000_000, "partition n1 | n2 n3")],
        lock_holds=[
            ("a", "c1", 0, 3_000_000),
            ("a", "c2", 1_000_000, 2_000_000),
            ("b", "c1", 0, 1),
        ],
    )
    assert page.count('<rect class="nemesis"') == 1
    assert 'data-label="partition n1 | n2 n3"' in page
    assert 'data-lane="lock a"' in page and 'data-lane="lock b"' in page
    assert page.count('<rect class="hold"') == 3
    details = _data(page)["details"]
    assert any("lock a held by c2" in detail for detail in details)


def test_counterexample_marks_window_stuck_op_and_numbered_linearization() -> None:
    """The window is outlined, the stuck op is red, linearized ops are numbered with states."""
    write, read = HISTORY[0], HISTORY[1]
    counterexample = Counterexample(
        key=None,
        window=[(write, HISTORY[2]), (read, HISTORY[3])],
        linearized=[(write, "value=1")],
        stuck=[read],
        explanation="read -> 2 but nothing wrote 2",
    )
    page = render_timeline(HISTORY, title="t", counterexample=counterexample)
    assert 'id="cwindow"' in page
    stuck = re.findall(r'<rect class="([^"]*stuck[^"]*)"', page)
    assert stuck == ["op ok in-window stuck"]
    assert re.search(r'<g class="badge" data-i="\d+">.*?>1</text></g>', page)
    details = _data(page)["details"]
    assert any("linearized #1; model state after: value=1" in detail for detail in details)
    assert any("STUCK" in detail and "process 1: read" in detail for detail in details)
    assert any("STUCK" in d and "model state at that point: value=1" in d for d in details)
    assert "read -&gt; 2 but nothing wrote 2" in page


def test_large_history_drops_inline_labels_but_keeps_every_bar() -> None:
    """Above LABELS_OPS_MAX ops, bars have no text or title (hover data only) to stay light."""
    ops = []
    for i in range(LABELS_OPS_MAX // 2 + 10):
        ops.append(_op(2 * i, i % 7, "invoke", "read"))
        ops.append(_op(2 * i + 1, i % 7, "ok", "read", i))
    page = render_timeline(ops, title="big")
    assert page.count('<rect class="op ok"') == len(ops) // 2
    assert '<text class="lbl"' not in page
    assert "</title></rect>" not in page
    assert len(_data(page)["details"]) == len(ops) // 2
    assert 'class="plot dense"' in page
