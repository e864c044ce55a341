"""Node settings from command-line flags, SINKRON_* environment variables and .env.

Theory of operation: every setting has one name, ``SINKRON_<NAME>``, and one
flag, ``--<name-with-dashes>``. Precedence: flag > environment > .env file >
default. ``load_settings`` validates everything up front and raises
``ConfigurationError`` whose message starts with the setting's name, so a
node with a bad setting exits 2 before it touches the data directory.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from impl.errors import ConfigurationError


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    name: str  # without the SINKRON_ prefix
    default: str | None
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(name="NODE_ID", default=None, help="this node's id, e.g. n1 (required)"),
    Setting(
        name="PEERS",
        default=None,
        help="peer-transport addresses of all nodes, id=host:port,... (required; self included)",
    ),
    Setting(name="HTTP_HOST", default="127.0.0.1", help="address the HTTP API binds"),
    Setting(name="HTTP_PORT", default="8000", help="port of the HTTP API"),
    Setting(name="PEER_HOST", default="127.0.0.1", help="address the peer transport listens on"),
    Setting(
        name="PEER_PORT",
        default=None,
        help="port the peer transport listens on (default: this node's port in SINKRON_PEERS)",
    ),
    Setting(name="DATA_DIR", default=None, help="data directory (default ./data/<node id>)"),
    Setting(name="CLUSTER_ID", default="sinkron", help="cluster name; stored in the data dir"),
    Setting(name="CLUSTER_SECRET", default=None, help="shared secret for peer auth (required)"),
    Setting(name="TEST_HOOKS", default="0", help="1 enables the /_test/ routes"),
    Setting(name="TICK_MS", default="20", help="Raft tick interval in ms"),
    Setting(name="FSYNC", default="1", help="0 disables fsync (benchmarks only; unsafe)"),
    Setting(
        name="SNAPSHOT_ENTRIES",
        default="10000",
        help="take a snapshot when this many entries were applied since the last one",
    ),
    Setting(name="JOIN", default="0", help="1: start with no membership, wait to be added"),
    Setting(name="LOG_LEVEL", default="INFO", help="DEBUG, INFO, WARNING or ERROR"),
    Setting(
        name="REQUEST_TIMEOUT_MS",
        default="2000",
        help="how long a client request may wait for commit or a forwarded reply",
    ),
    Setting(
        name="MAX_FRAME_BYTES", default=str(16 * 1024 * 1024), help="largest peer frame accepted"
    ),
    Setting(
        name="SEND_QUEUE_MAX",
        default="4096",
        help="per-peer outgoing frame queue; the oldest Raft message is dropped when full",
    ),
    Setting(
        name="MAX_INFLIGHT_PROPOSALS",
        default="1024",
        help="leader: proposals appended but not yet applied before new ones answer 503 overloaded",
    ),
    Setting(
        name="MAX_INFLIGHT_BYTES",
        default=str(64 * 1024 * 1024),
        help="leader: bytes of commands awaiting their outcome before new ones answer 503",
    ),
)

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    node_id: str
    peers: dict[str, tuple[str, int]]
    http_host: str
    http_port: int
    peer_host: str
    peer_port: int
    data_dir: Path
    cluster_id: str
    cluster_secret: str
    test_hooks: bool
    tick_ms: int
    fsync: bool
    snapshot_entries: int
    join: bool
    log_level: str
    request_timeout_ms: int
    max_frame_bytes: int
    send_queue_max: int
    max_inflight_proposals: int
    max_inflight_bytes: int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env-file", default=".env", help="read settings from this file if present"
    )
    for setting in SETTINGS:
        parser.add_argument(
            "--" + setting.name.lower().replace("_", "-"),
            dest=setting.name,
            default=None,
            help=f"{setting.help} [SINKRON_{setting.name}]",
        )


def parse_peers(text: str) -> dict[str, tuple[str, int]]:
    """Parse ``id=host:port,...``.

    Raises:
        ConfigurationError: an entry is malformed or an id repeats.
    """
    peers: dict[str, tuple[str, int]] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        node_id, sep, address = item.partition("=")
        host, colon, port_text = address.rpartition(":")
        if not sep or not colon or not node_id.strip() or not host:
            raise ConfigurationError(f"SINKRON_PEERS: entry {item!r} is not id=host:port")
        node_id = node_id.strip()
        if node_id in peers:
            raise ConfigurationError(f"SINKRON_PEERS: duplicate node id {node_id!r}")
        peers[node_id] = (host.strip("[]"), _port(f"SINKRON_PEERS ({node_id})", port_text))
    if not peers:
        raise ConfigurationError("SINKRON_PEERS: no peers given; list every node as id=host:port")
    return peers


def _port(name: str, text: str, *, allow_zero: bool = False) -> int:
    value = _int(name, text)
    if not (0 if allow_zero else 1) <= value <= 65535:
        raise ConfigurationError(f"{name}: {value} is not a TCP port")
    return value


def _int(name: str, text: str, *, minimum: int | None = None) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ConfigurationError(f"{name}: {text!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{name}: {value} is below the minimum {minimum}")
    return value


def _bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigurationError(f"{name}: {text!r} is not 0 or 1")


def collect_raw(
    flags: Mapping[str, str | None], environ: Mapping[str, str], env_file: Path | None
) -> dict[str, str | None]:
    """Merge the three sources with flag > environment > .env > default."""
    from_file = dotenv_values(env_file) if env_file is not None and env_file.is_file() else {}
    raw: dict[str, str | None] = {}
    for setting in SETTINGS:
        key = "SINKRON_" + setting.name
        value = flags.get(setting.name)
        if value is None:
            value = environ.get(key)
        if value is None:
            value = from_file.get(key)
        raw[setting.name] = value if value is not None else setting.default
    return raw


def validate(raw: Mapping[str, str | None]) -> Settings:
    """Turn raw strings into Settings.

    Raises:
        ConfigurationError: the message names the offending setting first.
    """

    def required(name: str) -> str:
        value = raw.get(name)
        if value is None or not value.strip():
            raise ConfigurationError(f"SINKRON_{name}: required but not set")
        return value.strip()

    def text(name: str) -> str:
        value = raw.get(name)
        assert value is not None, f"setting {name} has no default"
        return value

    node_id = required("NODE_ID")
    if any(c in node_id for c in "=,: "):
        raise ConfigurationError(
            f"SINKRON_NODE_ID: {node_id!r} may not contain '=', ',', ':' or spaces"
        )
    peers = parse_peers(required("PEERS"))
    join = _bool("SINKRON_JOIN", text("JOIN"))
    secret = required("CLUSTER_SECRET")
    if node_id not in peers and not join:
        raise ConfigurationError(
            f"SINKRON_PEERS: this node ({node_id}) is not listed; list every node including "
            "this one, or set SINKRON_JOIN=1 to join an existing cluster"
        )
    peer_port_raw = raw.get("PEER_PORT")
    if peer_port_raw is not None and peer_port_raw.strip():
        peer_port = _port("SINKRON_PEER_PORT", peer_port_raw, allow_zero=True)
    elif node_id in peers:
        peer_port = peers[node_id][1]
    else:
        raise ConfigurationError(
            "SINKRON_PEER_PORT: required when this node is not in SINKRON_PEERS"
        )
    log_level = text("LOG_LEVEL").strip().upper()
    if log_level not in _LOG_LEVELS:
        raise ConfigurationError(f"SINKRON_LOG_LEVEL: {log_level!r} is not one of {_LOG_LEVELS}")
    data_dir_raw = raw.get("DATA_DIR")
    data_dir = Path(data_dir_raw) if data_dir_raw else Path("data") / node_id
    return Settings(
        node_id=node_id,
        peers=peers,
        http_host=text("HTTP_HOST"),
        http_port=_port("SINKRON_HTTP_PORT", text("HTTP_PORT"), allow_zero=True),
        peer_host=text("PEER_HOST"),
        peer_port=peer_port,
        data_dir=data_dir,
        cluster_id=required("CLUSTER_ID"),
        cluster_secret=secret,
        test_hooks=_bool("SINKRON_TEST_HOOKS", text("TEST_HOOKS")),
        tick_ms=_int("SINKRON_TICK_MS", text("TICK_MS"), minimum=1),
        fsync=_bool("SINKRON_FSYNC", text("FSYNC")),
        snapshot_entries=_int("SINKRON_SNAPSHOT_ENTRIES", text("SNAPSHOT_ENTRIES"), minimum=1),
        join=join,
        log_level=log_level,
        request_timeout_ms=_int(
            "SINKRON_REQUEST_TIMEOUT_MS", text("REQUEST_TIMEOUT_MS"), minimum=1
        ),
        max_frame_bytes=_int("SINKRON_MAX_FRAME_BYTES", text("MAX_FRAME_BYTES"), minimum=1024),
        send_queue_max=_int("SINKRON_SEND_QUEUE_MAX", text("SEND_QUEUE_MAX"), minimum=1),
        max_inflight_proposals=_int(
            "SINKRON_MAX_INFLIGHT_PROPOSALS", text("MAX_INFLIGHT_PROPOSALS"), minimum=1
        ),
        max_inflight_bytes=_int(
            "SINKRON_MAX_INFLIGHT_BYTES", text("MAX_INFLIGHT_BYTES"), minimum=1
        ),
    )


def load_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Parse flags, read the environment and .env, validate.

    Raises:
        ConfigurationError: any invalid or missing setting.
    """
    parser = argparse.ArgumentParser(prog="sinkron-node", description="Run one Sinkron node.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    flags = {s.name: getattr(args, s.name) for s in SETTINGS}
    env_file = Path(args.env_file) if args.env_file else None
    return validate(collect_raw(flags, os.environ if environ is None else environ, env_file))
