"""Datadriven scenario transcripts (etcd's datadriven style) over the test pump.

Theory of operation: a scenario file is a list of blocks

    command arg arg ...
    ----
    expected output (every step the command caused, one line per effect)

separated by blank lines; lines starting with ``#`` before a block are
comments. The runner replays each command on a ``Pump`` and compares the
rendered output with the expected text. Run with ``SINKRON_REWRITE=1`` to
rewrite the expected output in place after an intended change, then review
the diff like any other code change.

Commands:
    cluster n1 n2 n3 [learners=n4] [joiners=n5] [pre_vote=0] [check_quorum=0]
    timeout n1 5            fix n1's election timeout (restarts it from its disk)
    tick n1 [count]         tick one node (no delivery)
    tick-all [count]        tick every node then deliver everything, count times (output omitted)
    deliver                 deliver every in-flight message, printing each step
    propose n1 data         Propose(data) at n1
    read n1 id              ReadIndex at n1
    compact n1 index        CompactLog at n1 (data = b"snap@index")
    change n1 add-learner|promote|remove n4
    transfer n1 n2
    isolate n1 / heal
    status                  one line per node
"""

from __future__ import annotations

from pathlib import Path

from impl.raft.config import RaftConfig
from impl.raft.effects import (
    Accepted,
    Apply,
    ApplySnapshot,
    Effect,
    Persist,
    PersistSnapshot,
    ReadReady,
    Rejected,
    Send,
)
from impl.raft.events import (
    CompactLog,
    ConfigChangeKind,
    Event,
    Persisted,
    Propose,
    ProposeConfigChange,
    ReadIndex,
    Received,
    Tick,
    TransferLeadership,
)
from impl.raft.messages import format_entries
from impl.raft.types import Index, NodeId

from .pump import Pump

SEPARATOR = "----"


def render_effect(effect: Effect) -> str:
    match effect:
        case Send():
            return f"Send {effect.message}"
        case Persist():
            hard = (
                ""
                if effect.hard_state is None
                else f" hard=term:{effect.hard_state.term},vote:{effect.hard_state.voted_for}"
            )
            if not hard and not effect.entries:
                return "Persist barrier"
            return f"Persist{hard} entries={format_entries(effect.entries)}"
        case PersistSnapshot():
            s = effect.snapshot
            return f"PersistSnapshot {s.index}@{s.term} discard_log={effect.discard_log}"
        case Apply():
            return "Apply " + " ".join(str(e) for e in effect.entries)
        case ApplySnapshot():
            return f"ApplySnapshot {effect.snapshot.index}@{effect.snapshot.term}"
        case Accepted():
            return f"Accepted id={effect.request_id} at {effect.index}@{effect.term}"
        case ReadReady():
            return f"ReadReady id={effect.request_id} index={effect.index}"
        case Rejected():
            return (
                f"Rejected id={effect.request_id} {effect.reason.value} hint={effect.leader_hint}"
            )
    raise AssertionError(f"unknown effect {effect!r}")


def render_event(event: Event) -> str:
    match event:
        case Received():
            return f"recv {event.message}"
        case Persisted():
            return f"persisted {event.index}@{event.term}"
        case Tick():
            return "tick"
    return type(event).__name__


class ScenarioRunner:
    def __init__(self) -> None:
        self.pump: Pump | None = None
        self.proposals = 0

    def run(self, command: str) -> str:
        words = command.split()
        name, args = words[0], words[1:]
        if name == "cluster":
            return self._cluster(args)
        pump = self.pump
        assert pump is not None, "the first command must be 'cluster'"
        start = len(pump.effects_log)
        if name == "tick":
            pump.tick(NodeId(args[0]), int(args[1]) if len(args) > 1 else 1)
        elif name == "tick-all":
            pump.tick_all(int(args[0]) if args else 1)
            return self._status()
        elif name == "deliver":
            pump.deliver_all()
        elif name == "timeout":
            pump.timeouts[NodeId(args[0])] = int(args[1])
            pump.start(NodeId(args[0]))
            return "ok"
        elif name in ("isolate", "heal"):
            pump.isolate(NodeId(args[0])) if name == "isolate" else pump.heal()
            return "ok"
        elif name == "status":
            return self._status()
        else:
            pump.step(NodeId(args[0]), self._client_event(name, args))
        return self._render(start)

    def _client_event(self, name: str, args: list[str]) -> Event:
        if name == "propose":
            self.proposals += 1
            return Propose(request_id=self.proposals, data=args[1].encode())
        if name == "read":
            return ReadIndex(request_id=int(args[1]))
        if name == "compact":
            return CompactLog(index=Index(int(args[1])), data=f"snap@{args[1]}".encode())
        if name == "change":
            kind = ConfigChangeKind(args[1])
            return ProposeConfigChange(request_id=0, kind=kind, node=NodeId(args[2]))
        if name == "transfer":
            return TransferLeadership(request_id=0, to=NodeId(args[1]))
        raise AssertionError(f"unknown command {name!r}")

    def _cluster(self, args: list[str]) -> str:
        voters = [NodeId(a) for a in args if "=" not in a]
        options = dict(a.split("=", 1) for a in args if "=" in a)
        config = RaftConfig(
            pre_vote=options.get("pre_vote", "1") == "1",
            check_quorum=options.get("check_quorum", "1") == "1",
        )
        learners = tuple(NodeId(x) for x in options.get("learners", "").split(",") if x)
        joiners = tuple(NodeId(x) for x in options.get("joiners", "").split(",") if x)
        self.pump = Pump(voters, learners=learners, joiners=joiners, config=config)
        for node_id in self.pump.nodes:  # no randomness: every timeout is the maximum
            self.pump.timeouts[node_id] = config.election_timeout_ticks_max
            self.pump.start(node_id)
        return self._status()

    def _render(self, start: int) -> str:
        assert self.pump is not None
        lines = []
        for node_id, event, effects in self.pump.effects_log[start:]:
            if isinstance(event, Tick) and not effects:
                continue  # quiet ticks would drown the transcript
            lines.append(f"> {node_id} {render_event(event)}")
            lines.extend(f"  {render_effect(e)}" for e in effects)
        return "\n".join(lines) if lines else "(nothing)"

    def _status(self) -> str:
        assert self.pump is not None
        lines = []
        for node_id, node in self.pump.nodes.items():
            lines.append(
                f"{node_id}: {node.role.value} term={node.term} leader={node.leader_id} "
                f"last={node.last_index}/{node.last_term} commit={node.commit_index} "
                f"applied={node.applied_index} config=[{node.config}]"
            )
        return "\n".join(lines)


def parse(text: str) -> list[tuple[list[str], str, str]]:
    """Blocks of (comment lines, command, expected output)."""
    blocks = []
    lines = text.splitlines()
    position = 0
    while position < len(lines):
        comments: list[str] = []
        while position < len(lines) and (
            not lines[position].strip() or lines[position].startswith("#")
        ):
            if lines[position].startswith("#"):
                comments.append(lines[position])
            position += 1
        if position >= len(lines):
            break
        command = lines[position]
        position += 1
        assert position < len(lines) and lines[position] == SEPARATOR, f"no ---- after {command!r}"
        position += 1
        expected = []
        while position < len(lines) and lines[position].strip():
            expected.append(lines[position])
            position += 1
        blocks.append((comments, command, "\n".join(expected)))
    return blocks


def render(blocks: list[tuple[list[str], str, str]]) -> str:
    parts = []
    for comments, command, output in blocks:
        parts.append("\n".join([*comments, command, SEPARATOR, output]))
    return "\n\n".join(parts) + "\n"


def run_file(path: Path, *, rewrite: bool) -> list[tuple[str, str, str]]:
    """Replay ``path``; return mismatches (command, expected, actual), or rewrite the file."""
    blocks = parse(path.read_text())
    runner = ScenarioRunner()
    actual_blocks = []
    mismatches = []
    for comments, command, expected in blocks:
        actual = runner.run(command)
        actual_blocks.append((comments, command, actual))
        if actual != expected:
            mismatches.append((command, expected, actual))
    if rewrite:
        path.write_text(render(actual_blocks))
        return []
    return mismatches
