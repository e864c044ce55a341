"""timeline.html: a history drawn as one lane per process, in one self-contained file.

Theory of operation: a person debugging a verdict wants to see which
operations overlapped in real time, what the nemesis was doing meanwhile, and
(when the checker said ILLEGAL) which op could not be placed and what the
model looked like just before. Jepsen's and Knossos's timelines answer that
with one column per process; we draw one row (lane) per process, time flowing
left to right in seconds.

Rules:
  1. No network: the page is one HTML file with inline SVG, CSS and a little
     JS; it opens from a results folder on a laptop with no connection.
  2. It works without JS: Python places every bar; JS only adds the hover box,
     zoom and pan (it re-lays out from ``data-t0``/``data-t1`` attributes).
  3. It stays usable at 50k ops: per-bar text labels and ``<title>`` tooltips
     are only written below ``LABELS_OPS_MAX`` ops; above, each bar carries
     only its index into one JSON array of details read by the hover box.
  4. An op that never completed, or completed with ``info``, may have taken
     effect at any later time: a never-completed bar runs to the end of the
     history; an info bar is solid up to the moment the client gave up and a
     thin tail runs on to the end.
  5. Lanes are reused: a process that retired (info) hands its lane to the
     next new process, so thousands of Jepsen-style process ids after many
     infos still fit in about ``concurrency`` lanes (labelled with the ids).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.check.verdict import Counterexample
from harness.history.ops import Op, OpType

LABELS_OPS_MAX = 4000  # above this many ops, bars get no inline text (hover still works)
PLOT_WIDTH_PX = 1200
LABEL_WIDTH_PX = 150
LANE_HEIGHT_PX = 18
LANE_GAP_PX = 4
AXIS_HEIGHT_PX = 24
NEMESIS_ROW_PX = 20
BAR_MIN_WIDTH_PX = 1.5
_OWNER_COLORS = ("#8e7cc3", "#6aa84f", "#e69138", "#3d85c6", "#c27ba0", "#45818e", "#bf9000")


@dataclass(slots=True, kw_only=True)
class _Bar:
    row: int
    t0: int
    t1: int
    css: str
    label: str
    detail: str
    fill: str | None = None
    badge: str | None = None  # e.g. the position in the partial linearization


@dataclass(slots=True, kw_only=True)
class _Layout:
    rows: list[tuple[str, str]] = field(default_factory=list)  # (label, css class)
    bars: list[_Bar] = field(default_factory=list)


def render_timeline(
    ops: Sequence[Op],
    *,
    title: str,
    nemesis_windows: Sequence[tuple[int, int, str]] = (),
    counterexample: Counterexample | None = None,
    lock_holds: Sequence[tuple[str, str, int, int]] = (),
) -> str:
    """The complete HTML text of a timeline page.

    Args:
        ops: the history (invokes and completions, any order of processes).
        title: page title and heading.
        nemesis_windows: (start_ns, end_ns, label) shaded behind all lanes.
        counterexample: when given, its window is highlighted, its stuck ops
            are drawn in red and the ops of its partial linearization are
            numbered, with the model state after each in their hover text.
        lock_holds: (lock name, owner, start_ns, end_ns), drawn in one extra
            lane per lock (sub-rows when shared holds overlap).
    """
    pairs = _pair(ops)
    marks = _counterexample_marks(counterexample)
    layout = _Layout()
    t_end = _end_time(ops, nemesis_windows, lock_holds)
    t_start = min(
        [op.time for op in ops] + [w[0] for w in nemesis_windows] + [h[2] for h in lock_holds]
        or [0]
    )
    row_of, lane_labels = _assign_lanes(pairs)
    layout.rows.extend((label, "lane") for label in lane_labels)
    for invoke, completion in pairs:
        bar = _op_bar(invoke, completion, row_of[invoke.process], t_end, marks)
        layout.bars.append(bar)
        if completion is not None and completion.type is OpType.INFO and completion.time < t_end:
            layout.bars.append(
                _Bar(
                    row=bar.row,
                    t0=completion.time,
                    t1=t_end,
                    css="tail",
                    label="",
                    detail=bar.detail + "\n(outcome unknown: may take effect until the end)",
                )
            )
    _add_lock_lanes(layout, lock_holds)
    window = _window_span(counterexample, t_end)
    return _page(
        title=title,
        layout=layout,
        t_start=t_start,
        t_end=max(t_end, t_start + 1),
        nemesis_windows=nemesis_windows,
        window=window,
        counterexample=counterexample,
        op_count=len(ops),
        labels=len(ops) <= LABELS_OPS_MAX,
    )


# ---------------------------------------------------------------------------- model


def _process_order(process: int | str) -> tuple[int, Any]:
    return (0, process) if isinstance(process, int) else (1, str(process))


def _assign_lanes(pairs: list[tuple[Op, Op | None]]) -> tuple[dict[Any, int], list[str]]:
    """Map processes to lanes, letting a process take over the lane of one that retired.

    Jepsen gives a client a fresh process id after every info, so a long run
    under faults has thousands of processes but only ``concurrency`` of them
    alive at once. A process retires at its info completion (it is never used
    again); a later process whose first invoke comes after that reuses the
    lane, so the number of lanes stays close to the concurrency.
    """
    first_time: dict[Any, int] = {}
    retired_at: dict[Any, int] = {}
    for invoke, completion in pairs:
        first_time.setdefault(invoke.process, invoke.time)
        if completion is not None and completion.type is OpType.INFO:
            retired_at[invoke.process] = completion.time
    order = sorted(first_time, key=lambda p: (first_time[p], _process_order(p)))
    lanes: list[list[Any]] = []
    for process in order:
        row = next(
            (
                i
                for i, members in enumerate(lanes)
                if retired_at.get(members[-1], first_time[process] + 1) <= first_time[process]
            ),
            None,
        )
        if row is None:
            row = len(lanes)
            lanes.append([])
        lanes[row].append(process)
    lanes.sort(key=lambda members: _process_order(members[0]))
    row_of = {process: row for row, members in enumerate(lanes) for process in members}
    return row_of, [_lane_label(members) for members in lanes]


def _lane_label(members: list[Any]) -> str:
    if len(members) == 1:
        return f"process {members[0]}"
    shown = ", ".join(str(p) for p in members[:3])
    more = f" +{len(members) - 3}" if len(members) > 3 else ""
    return f"p {shown}{more}"


def _pair(ops: Sequence[Op]) -> list[tuple[Op, Op | None]]:
    """(invoke, completion or None) in invoke order; stray completions become zero-length."""
    open_by_process: dict[int | str, int] = {}
    pairs: list[tuple[Op, Op | None]] = []
    for op in sorted(ops, key=lambda o: (o.index, o.time)):
        if op.type is OpType.INVOKE:
            open_by_process[op.process] = len(pairs)
            pairs.append((op, None))
        elif op.process in open_by_process:
            position = open_by_process.pop(op.process)
            pairs[position] = (pairs[position][0], op)
        else:
            pairs.append((op, op))  # e.g. a nemesis info with no invoke
    return pairs


def _end_time(
    ops: Sequence[Op],
    nemesis_windows: Sequence[tuple[int, int, str]],
    lock_holds: Sequence[tuple[str, str, int, int]],
) -> int:
    times = [op.time for op in ops] + [w[1] for w in nemesis_windows] + [h[3] for h in lock_holds]
    return max(times, default=1)


def _op_key(op: Op) -> tuple[Any, int]:
    return (op.process, op.index)


@dataclass(slots=True, kw_only=True)
class _Marks:
    stuck: set[tuple[Any, int]] = field(default_factory=set)
    order: dict[tuple[Any, int], tuple[int, str]] = field(default_factory=dict)
    window: set[tuple[Any, int]] = field(default_factory=set)
    dead_end_state: str | None = None  # model state after the longest partial linearization


def _counterexample_marks(counterexample: Counterexample | None) -> _Marks:
    marks = _Marks()
    if counterexample is None:
        return marks
    marks.stuck = {_op_key(op) for op in counterexample.stuck}
    if counterexample.blocked is not None:
        marks.stuck.add(_op_key(counterexample.blocked))
    for number, (op, state) in enumerate(counterexample.linearized, start=1):
        marks.order[_op_key(op)] = (number, state)
        marks.dead_end_state = state
    marks.window = {_op_key(invoke) for invoke, _ in counterexample.window}
    return marks


def _window_span(counterexample: Counterexample | None, t_end: int) -> tuple[int, int] | None:
    if counterexample is None or not counterexample.window:
        return None
    start = min(invoke.time for invoke, _ in counterexample.window)
    end = max(
        completion.time if completion is not None else invoke.time
        for invoke, completion in counterexample.window
    )
    return start, max(end, start + 1)


def _describe_value(invoke: Op, completion: Op | None) -> str:
    value = invoke.value
    if completion is not None and completion.type is OpType.OK and completion.value is not None:
        value = completion.value
    parts = [invoke.f]
    if invoke.key is not None:
        parts.append(_short(invoke.key))
    if value is not None:
        parts.append(_short(value))
    return " ".join(parts)


def _short(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=repr)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _seconds(ns: int) -> str:
    return f"{ns / 1e9:.6f}s"


def _op_bar(invoke: Op, completion: Op | None, row: int, t_end: int, marks: _Marks) -> _Bar:
    outcome = "open" if completion is None else completion.type.value
    t1 = t_end if completion is None else completion.time
    lines = [
        f"process {invoke.process}: {invoke.f}"
        + (f" key={_short(invoke.key, 200)}" if invoke.key is not None else "")
        + f" value={_short(invoke.value, 200)}",
        f"invoke  at {_seconds(invoke.time)} (index {invoke.index})",
    ]
    if completion is None:
        lines.append("never completed: may take effect at any later time")
    else:
        lines.append(
            f"{completion.type.value:<7} at {_seconds(completion.time)} (index {completion.index}),"
            f" latency {(completion.time - invoke.time) / 1e6:.3f} ms"
        )
        if completion.value != invoke.value:
            lines.append(f"returned value={_short(completion.value, 200)}")
        if completion.error is not None:
            lines.append(f"error: {_short(completion.error, 200)}")
    css = f"op {outcome}"
    key = _op_key(invoke)
    badge = None
    if key in marks.window:
        css += " in-window"
    if key in marks.order:
        number, state = marks.order[key]
        badge = str(number)
        css += " linearized"
        lines.append(f"linearized #{number}; model state after: {state}")
    if key in marks.stuck:
        css += " stuck"
        lines.append("STUCK: no linearization can place this op next")
        if marks.dead_end_state is not None:
            lines.append(f"model state at that point: {marks.dead_end_state}")
    return _Bar(
        row=row,
        t0=invoke.time,
        t1=max(t1, invoke.time),
        css=css,
        label=_describe_value(invoke, completion),
        detail="\n".join(lines),
        badge=badge,
    )


def _add_lock_lanes(layout: _Layout, lock_holds: Sequence[tuple[str, str, int, int]]) -> None:
    """One lane per lock; overlapping (shared) holds go to extra sub-rows of that lock."""
    owners = sorted({owner for _, owner, _, _ in lock_holds})
    color = {owner: _OWNER_COLORS[i % len(_OWNER_COLORS)] for i, owner in enumerate(owners)}
    for name in sorted({hold[0] for hold in lock_holds}):
        holds = sorted((h for h in lock_holds if h[0] == name), key=lambda h: (h[2], h[3]))
        row_ends: list[int] = []  # end time of the last hold placed in each sub-row
        first_row = len(layout.rows)
        for _, owner, start, end in holds:
            sub = next((i for i, row_end in enumerate(row_ends) if row_end <= start), None)
            if sub is None:
                sub = len(row_ends)
                row_ends.append(end)
                layout.rows.append((f"lock {name}" if sub == 0 else "", "lane lock"))
            row_ends[sub] = end
            layout.bars.append(
                _Bar(
                    row=first_row + sub,
                    t0=start,
                    t1=max(end, start),
                    css="hold",
                    label=owner,
                    detail=(
                        f"lock {name} held by {owner}\nfrom {_seconds(start)} to {_seconds(end)}"
                        f" ({(end - start) / 1e6:.3f} ms)"
                    ),
                    fill=color[owner],
                )
            )


# ---------------------------------------------------------------------------- drawing


@dataclass(slots=True, kw_only=True)
class _Frame:
    """Where things go on the page: time -> x and row -> y."""

    t_start: int
    t_end: int
    top: int
    rows: int

    @property
    def scale(self) -> float:  # px per ns at the initial (fit) zoom
        return PLOT_WIDTH_PX / (self.t_end - self.t_start)

    def x(self, t: int) -> float:
        return round((t - self.t_start) * self.scale, 2)

    def y(self, row: int) -> int:
        return self.top + row * (LANE_HEIGHT_PX + LANE_GAP_PX)

    @property
    def height(self) -> int:
        return self.y(self.rows) + 8


def _nice_step_ns(span_ns: float) -> int:
    """The 1/2/5 x 10^k nanoseconds closest above ``span_ns`` (axis tick spacing)."""
    exponent = 10 ** math.floor(math.log10(max(span_ns, 1)))
    for factor in (1, 2, 5, 10):
        if factor * exponent >= span_ns:
            return int(factor * exponent)
    return int(10 * exponent)


def _axis_svg(frame: _Frame) -> str:
    step = _nice_step_ns(100 / frame.scale)
    first = math.ceil(frame.t_start / step) * step
    digits = max(0, 9 - int(math.log10(step)))
    parts = []
    for t in range(first, frame.t_end + 1, step):
        x = frame.x(t)
        if x > PLOT_WIDTH_PX - 50:
            break
        parts.append(
            f'<line x1="{x}" x2="{x}" y1="{AXIS_HEIGHT_PX - 6}" y2="{frame.height}" class="tick"/>'
            f'<text x="{x + 2}" y="{AXIS_HEIGHT_PX - 9}" class="ticklabel">{t / 1e9:.{digits}f}s</text>'
        )
    return "".join(parts)


def _truncate(label: str, width_px: float) -> str:
    chars = int((width_px - 4) / 6.4)
    if chars <= 0:
        return ""
    return label if len(label) <= chars else label[: max(chars - 1, 0)] + "…"


def _bars_svg(layout: _Layout, frame: _Frame, details: list[str], labels: bool) -> str:
    parts: list[str] = []
    badges: list[str] = []
    # Tails first, so that the bars of the process that took over the lane are drawn over them.
    for bar in sorted(layout.bars, key=lambda b: b.css != "tail"):
        index = len(details)
        details.append(bar.detail)
        x0, x1 = frame.x(bar.t0), frame.x(bar.t1)
        width = max(x1 - x0, BAR_MIN_WIDTH_PX)
        y = frame.y(bar.row)
        height = LANE_HEIGHT_PX
        if bar.css == "tail":
            y, height = y + LANE_HEIGHT_PX - 4, 4
        style = f' style="fill:{bar.fill}"' if bar.fill else ""
        title = f"<title>{html.escape(bar.detail)}</title>" if labels else ""
        parts.append(
            f'<rect class="{bar.css}" x="{x0}" y="{y}" width="{width:.2f}" height="{height}"'
            f' data-t0="{bar.t0 - frame.t_start}" data-t1="{bar.t1 - frame.t_start}"'
            f' data-i="{index}"{style}>{title}</rect>'
        )
        if labels and bar.label:
            dx = 3 if bar.badge is None else 9 + 7 * len(bar.badge)
            parts.append(
                f'<text class="lbl" x="{x0 + dx}" y="{y + LANE_HEIGHT_PX - 5}" data-dx="{dx}"'
                f' data-t0="{bar.t0 - frame.t_start}" data-t1="{bar.t1 - frame.t_start}"'
                f' data-label="{html.escape(bar.label)}">{html.escape(_truncate(bar.label, width))}</text>'
            )
        if bar.badge is not None:
            badges.append(
                f'<g class="badge" data-i="{index}"><rect x="{x0 - 1}" y="{y - 3}" width="{7 + 7 * len(bar.badge)}"'
                f' height="13" rx="6" data-t0="{bar.t0 - frame.t_start}" data-t1="-1"/>'
                f'<text x="{x0 + 2.5}" y="{y + 7}" data-t0="{bar.t0 - frame.t_start}"'
                f' data-t1="-1">{bar.badge}</text></g>'
            )
    return "".join(parts) + "".join(badges)


def _shades_svg(
    frame: _Frame,
    nemesis_windows: Sequence[tuple[int, int, str]],
    window: tuple[int, int] | None,
    details: list[str],
) -> str:
    parts = []
    bottom = frame.height
    for start, end, label in nemesis_windows:
        index = len(details)
        details.append(f"nemesis: {label}\nfrom {_seconds(start)} to {_seconds(end)}")
        x0 = frame.x(start)
        width = max(frame.x(end) - x0, BAR_MIN_WIDTH_PX)
        rel0, rel1 = start - frame.t_start, end - frame.t_start
        parts.append(
            f'<rect class="nemesis" x="{x0}" y="{AXIS_HEIGHT_PX}" width="{width:.2f}"'
            f' height="{bottom - AXIS_HEIGHT_PX}" data-t0="{rel0}" data-t1="{rel1}" data-i="{index}"/>'
            f'<rect class="nemesis-tag" x="{x0}" y="{AXIS_HEIGHT_PX + 1}" width="{width:.2f}"'
            f' height="{NEMESIS_ROW_PX - 4}" data-t0="{rel0}" data-t1="{rel1}" data-i="{index}"/>'
            f'<text class="lbl nemesis-label" x="{x0 + 3}" y="{AXIS_HEIGHT_PX + NEMESIS_ROW_PX - 8}"'
            f' data-t0="{rel0}" data-t1="{rel1}" data-label="{html.escape(label)}">'
            f"{html.escape(_truncate(label, width))}</text>"
        )
    if window is not None:
        x0 = frame.x(window[0])
        width = max(frame.x(window[1]) - x0, BAR_MIN_WIDTH_PX)
        parts.append(
            f'<rect id="cwindow" class="cwindow" x="{x0}" y="{AXIS_HEIGHT_PX}" width="{width:.2f}"'
            f' height="{bottom - AXIS_HEIGHT_PX}" data-t0="{window[0] - frame.t_start}"'
            f' data-t1="{window[1] - frame.t_start}"/>'
        )
    return "".join(parts)


def _rows_svg(layout: _Layout, frame: _Frame) -> tuple[str, str]:
    """(the label column, the lane stripes) for every row."""
    labels, stripes = [], []
    for row, (label, css) in enumerate(layout.rows):
        y = frame.y(row)
        labels.append(
            f'<text class="{css}" x="{LABEL_WIDTH_PX - 8}" y="{y + LANE_HEIGHT_PX - 5}"'
            f' text-anchor="end" data-lane="{html.escape(label)}">{html.escape(label)}</text>'
        )
        stripes.append(
            f'<rect class="stripe s{row % 2}" x="0" y="{y - LANE_GAP_PX / 2}" width="100%"'
            f' height="{LANE_HEIGHT_PX + LANE_GAP_PX}"/>'
        )
    return "".join(labels), "".join(stripes)


def _summary(layout: _Layout, op_count: int, frame: _Frame) -> str:
    counts: dict[str, int] = {}
    for bar in layout.bars:
        outcome = bar.css.split()[1] if bar.css.startswith("op ") else None
        if outcome:
            counts[outcome] = counts.get(outcome, 0) + 1
    outcomes = ", ".join(
        f"{name} {counts[name]}" for name in ("ok", "fail", "info", "open") if name in counts
    )
    lanes = sum(1 for _, css in layout.rows if css == "lane")
    return (
        f"{op_count} ops on {lanes} processes over {(frame.t_end - frame.t_start) / 1e9:.3f}s"
        + (f" — {outcomes}" if outcomes else "")
    )


def _counterexample_html(counterexample: Counterexample | None) -> str:
    if counterexample is None:
        return ""
    linearized = "".join(
        f"<li><code>{html.escape(_op_text(op))}</code> → <code>{html.escape(state)}</code></li>"
        for op, state in counterexample.linearized
    )
    stuck = "".join(
        f"<li><code>{html.escape(_op_text(op))}</code></li>" for op in counterexample.stuck
    )
    key = (
        ""
        if counterexample.key is None
        else f" (key {html.escape(_short(counterexample.key, 80))})"
    )
    head = (
        f'<section class="counterexample"><h2>Counterexample{key}</h2>'
        f"<p>{html.escape(counterexample.explanation)}</p>"
    )
    if not linearized and not stuck:  # proved from the values alone: nothing was searched
        return head + "<p>No search was needed: the explanation holds in every order.</p></section>"
    return (
        head
        + f"<h3>Longest partial linearization (model state after each op)</h3><ol>{linearized or '<li>(none)</li>'}</ol>"
        + f'<h3>Ops that cannot be placed next</h3><ul class="stuck-list">{stuck or "<li>(none kept)</li>"}</ul></section>'
    )


def _op_text(op: Op) -> str:
    key = f" {_short(op.key)}" if op.key is not None else ""
    value = "" if op.value is None else f" {_short(op.value)}"
    return f"p{op.process} #{op.index} {op.f}{key}{value} @ {_seconds(op.time)}"


def _page(
    *,
    title: str,
    layout: _Layout,
    t_start: int,
    t_end: int,
    nemesis_windows: Sequence[tuple[int, int, str]],
    window: tuple[int, int] | None,
    counterexample: Counterexample | None,
    op_count: int,
    labels: bool,
) -> str:
    top = AXIS_HEIGHT_PX + (NEMESIS_ROW_PX if nemesis_windows else 0) + LANE_GAP_PX
    frame = _Frame(t_start=t_start, t_end=t_end, top=top, rows=len(layout.rows))
    details: list[str] = []
    label_column, stripes = _rows_svg(layout, frame)
    shades = _shades_svg(frame, nemesis_windows, window, details)
    bars = _bars_svg(layout, frame, details, labels)
    window_button = '<button data-zoom="window">zoom to counterexample</button>' if window else ""
    data = json.dumps({"t_span": t_end - t_start, "t_start": t_start, "details": details})
    return _TEMPLATE.format(
        title=html.escape(title),
        density=("" if labels else "dense") + (" has-counterexample" if window else ""),
        summary=html.escape(_summary(layout, op_count, frame)),
        window_button=window_button,
        height=frame.height,
        label_width=LABEL_WIDTH_PX,
        plot_width=PLOT_WIDTH_PX + 40,
        label_column=label_column,
        stripes=stripes,
        shades=shades,
        axis=_axis_svg(frame),
        bars=bars,
        counterexample=_counterexample_html(counterexample),
        data=data.replace("</", "<\\/"),
        css=_CSS,
        script=_SCRIPT,
    )


_CSS = """
body { font: 13px/1.4 system-ui, sans-serif; margin: 16px; color: #222; }
h1 { font-size: 18px; margin: 0 0 4px; } h2 { font-size: 16px; } h3 { font-size: 14px; margin-bottom: 4px; }
.summary { color: #555; margin: 0 0 8px; }
.controls { margin-bottom: 6px; display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
.controls button { font: inherit; padding: 1px 8px; }
.legend span { display: inline-block; padding: 0 6px; margin-right: 4px; border: 1px solid #888; border-radius: 3px; }
.chart { display: flex; border: 1px solid #ccc; }
.chart > svg { flex: none; background: #fafafa; border-right: 1px solid #ccc; }
.scroll { overflow-x: auto; overflow-y: hidden; flex: 1; cursor: grab; }
.scroll.dragging { cursor: grabbing; }
svg text { font: 11px system-ui, sans-serif; }
text.lane { fill: #333; } text.lock { fill: #5b3f8c; font-weight: 600; }
.stripe.s1 { fill: #f3f3f3; } .stripe.s0 { fill: #fff; }
.tick { stroke: #ddd; } .ticklabel { fill: #666; }
rect.op { stroke: #333; stroke-width: 0.5; }
rect.ok, .legend .ok { fill: #6db6fe; background: #6db6fe; }
rect.fail, .legend .fail { fill: #feb5da; background: #feb5da; }
rect.info, .legend .info { fill: #ffaa26; background: #ffaa26; }
rect.open, .legend .open { fill: #ffd9a0; background: #ffd9a0; }
rect.open { stroke-dasharray: 3 2; }
svg.dense rect.op { stroke: none; }
svg.has-counterexample rect.op:not(.in-window), svg.has-counterexample rect.tail { opacity: 0.45; }
rect.tail { fill: #ffaa26; opacity: 0.55; }
rect.hold { stroke: #333; stroke-width: 0.5; opacity: 0.85; }
rect.stuck, .legend .stuck { fill: #e53935; background: #e53935; color: #fff; }
rect.stuck { stroke: #7f0000; stroke-width: 2.5; }
rect.nemesis { fill: #9e9e9e; opacity: 0.18; }
rect.nemesis-tag, .legend .nemesis { fill: #bdbdbd; background: #bdbdbd; }
rect.cwindow { fill: none; stroke: #e53935; stroke-width: 2; stroke-dasharray: 6 3; }
.legend .cwindow { border: 2px dashed #e53935; }
text.lbl { fill: #111; pointer-events: none; }
g.badge rect { fill: #222; } g.badge text { fill: #fff; font-size: 10px; font-weight: 700; }
.hover { position: fixed; display: none; pointer-events: none; background: #fffde7; border: 1px solid #999;
  padding: 4px 8px; white-space: pre; font: 12px ui-monospace, monospace; box-shadow: 0 2px 6px #0003; z-index: 9; }
.counterexample { border-left: 4px solid #e53935; padding-left: 12px; margin-top: 16px; }
"""

_SCRIPT = r"""
(function () {
  const data = JSON.parse(document.getElementById("timeline-data").textContent);
  const scroll = document.querySelector(".scroll"), plot = document.getElementById("plot");
  const hover = document.getElementById("hover"), axis = document.getElementById("axis");
  const height = +plot.getAttribute("height"), fitWidth = +plot.getAttribute("width") - 40;
  const movable = Array.from(plot.querySelectorAll("[data-t0]"));
  function fitScale() { return Math.max(scroll.clientWidth - 12, 200) / data.t_span; }
  let scale = fitScale();
  function niceStep(ns) {
    const e = Math.pow(10, Math.floor(Math.log10(Math.max(ns, 1))));
    for (const f of [1, 2, 5, 10]) if (f * e >= ns) return f * e;
    return 10 * e;
  }
  function drawAxis() {
    const step = niceStep(100 / scale), digits = Math.max(0, 9 - Math.floor(Math.log10(step)));
    let out = "";
    for (let t = 0; t <= data.t_span; t += step) {
      const x = (t * scale).toFixed(1), s = ((t + data.t_start) / 1e9).toFixed(Math.min(digits, 9));
      out += `<line class="tick" x1="${x}" x2="${x}" y1="18" y2="${height}"/>`;
      if (t * scale < data.t_span * scale - 50) out += `<text class="ticklabel" x="${+x + 2}" y="15">${s}s</text>`;
    }
    axis.innerHTML = out;
  }
  function layout() {
    plot.setAttribute("width", data.t_span * scale + 8);
    for (const el of movable) {
      const t0 = +el.dataset.t0, t1 = +el.dataset.t1, x = t0 * scale;
      if (el.tagName === "rect") {
        if (t1 >= 0) el.setAttribute("width", Math.max((t1 - t0) * scale, 1.5).toFixed(2));
        el.setAttribute("x", (t1 < 0 ? x - 1 : x).toFixed(2));
      } else {
        const dx = el.dataset.dx === undefined ? (t1 < 0 ? 2.5 : 3) : +el.dataset.dx;
        el.setAttribute("x", (x + dx).toFixed(2));
        const label = el.dataset.label;
        if (label !== undefined) {
          const chars = Math.floor(((t1 - t0) * scale - dx - 1) / 6.4);
          el.textContent = chars <= 0 ? "" : label.length <= chars ? label : label.slice(0, chars - 1) + "…";
        }
      }
    }
    drawAxis();
  }
  function zoomAt(factor, clientX) {
    const box = scroll.getBoundingClientRect(), px = clientX === undefined ? box.width / 2 : clientX - box.left;
    const t = (scroll.scrollLeft + px) / scale;
    scale = Math.min(Math.max(scale * factor, fitWidth / data.t_span / 4), 2000);
    layout();
    scroll.scrollLeft = t * scale - px;
  }
  document.querySelectorAll("[data-zoom]").forEach(function (button) {
    button.addEventListener("click", function () {
      const what = button.dataset.zoom;
      if (what === "in") zoomAt(2); else if (what === "out") zoomAt(0.5);
      else if (what === "fit") { scale = fitScale(); layout(); scroll.scrollLeft = 0; }
      else if (what === "window") {
        const w = document.getElementById("cwindow"), t0 = +w.dataset.t0, t1 = +w.dataset.t1;
        scale = (scroll.clientWidth * 0.8) / Math.max(t1 - t0, 1); layout();
        scroll.scrollLeft = Math.max(0, t0 * scale - scroll.clientWidth * 0.1);
      }
    });
  });
  scroll.addEventListener("wheel", function (event) {
    if (!(event.ctrlKey || event.metaKey)) return;
    event.preventDefault();
    zoomAt(event.deltaY < 0 ? 1.25 : 0.8, event.clientX);
  }, { passive: false });
  let drag = null;
  scroll.addEventListener("mousedown", function (e) { drag = [e.clientX, scroll.scrollLeft]; scroll.classList.add("dragging"); });
  window.addEventListener("mouseup", function () { drag = null; scroll.classList.remove("dragging"); });
  window.addEventListener("mousemove", function (e) { if (drag) scroll.scrollLeft = drag[1] - (e.clientX - drag[0]); });
  plot.addEventListener("mousemove", function (event) {
    const target = event.target.closest("[data-i]");
    if (!target) { hover.style.display = "none"; return; }
    hover.textContent = data.details[+target.dataset.i];
    hover.style.display = "block";
    const right = event.clientX + 14 + hover.offsetWidth > window.innerWidth;
    hover.style.left = (right ? event.clientX - 14 - hover.offsetWidth : event.clientX + 14) + "px";
    hover.style.top = Math.min(event.clientY + 14, window.innerHeight - hover.offsetHeight - 4) + "px";
  });
  plot.addEventListener("mouseleave", function () { hover.style.display = "none"; });
  plot.querySelectorAll("title").forEach(function (t) { t.remove(); });  // the hover box replaces them
  layout();
})();
"""

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{css}</style></head>
<body>
<h1>{title}</h1>
<p class="summary">{summary}</p>
<div class="controls">
<button data-zoom="in" title="zoom in (or ctrl + wheel)">+</button><button data-zoom="out">&minus;</button>
<button data-zoom="fit">fit</button>{window_button}
<span class="legend"><span class="ok">ok</span><span class="fail">fail</span><span class="info">info</span><span class="open">never completed</span><span class="stuck">stuck</span><span class="nemesis">nemesis</span><span class="cwindow">counterexample window</span></span>
</div>
<div class="chart">
<svg class="labels" width="{label_width}" height="{height}">{label_column}</svg>
<div class="scroll"><svg id="plot" class="plot {density}" width="{plot_width}" height="{height}">
<g class="stripes">{stripes}</g><g id="axis">{axis}</g><g class="shades">{shades}</g><g class="bars">{bars}</g>
</svg></div>
</div>
{counterexample}
<div id="hover" class="hover"></div>
<script type="application/json" id="timeline-data">{data}</script>
<script>{script}</script>
</body></html>
"""
