"""Configuration: precedence of flag > env > .env, and exit 2 naming the bad setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from impl.errors import ConfigurationError
from impl.runtime.config import collect_raw, load_settings, parse_peers, validate
from tests.runtime.cluster import run_node_once

BASE = {
    "SINKRON_NODE_ID": "n1",
    "SINKRON_PEERS": "n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103",
    "SINKRON_CLUSTER_SECRET": "s",
}


def _settings(**overrides: str):  # type: ignore[no-untyped-def]
    env = {**BASE, **overrides}
    return validate(collect_raw({}, {k: v for k, v in env.items() if v is not None}, None))


def test_defaults_fill_everything_but_the_required_settings() -> None:
    """With only id, peers and secret, a node gets documented defaults."""
    settings = _settings()
    assert settings.peer_port == 7101  # from its own SINKRON_PEERS entry
    assert settings.fsync is True and settings.test_hooks is False
    assert settings.data_dir == Path("data/n1")


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"SINKRON_CLUSTER_SECRET": ""}, "SINKRON_CLUSTER_SECRET"),
        ({"SINKRON_PEERS": "n1=localhost"}, "SINKRON_PEERS"),
        ({"SINKRON_PEERS": "n1=a:1,n1=b:2"}, "SINKRON_PEERS: duplicate node id 'n1'"),
        ({"SINKRON_PEERS": "n2=a:1,n3=b:2"}, "SINKRON_PEERS: this node (n1) is not listed"),
        ({"SINKRON_PEERS": "n1=a:99999"}, "SINKRON_PEERS"),
        ({"SINKRON_TICK_MS": "fast"}, "SINKRON_TICK_MS"),
        ({"SINKRON_TICK_MS": "0"}, "SINKRON_TICK_MS"),
        ({"SINKRON_FSYNC": "maybe"}, "SINKRON_FSYNC"),
        ({"SINKRON_HTTP_PORT": "-1"}, "SINKRON_HTTP_PORT"),
        ({"SINKRON_LOG_LEVEL": "LOUD"}, "SINKRON_LOG_LEVEL"),
        ({"SINKRON_NODE_ID": "n 1"}, "SINKRON_NODE_ID"),
    ],
)
def test_invalid_setting_is_refused_by_name(overrides: dict[str, str], named: str) -> None:
    """Each invalid value raises ConfigurationError whose message starts with the setting."""
    with pytest.raises(ConfigurationError) as caught:
        _settings(**overrides)
    assert str(caught.value).startswith(named)


def test_join_allows_a_node_missing_from_peers_given_a_peer_port() -> None:
    """A joining node lists the existing cluster and its own listening port."""
    settings = _settings(SINKRON_NODE_ID="n4", SINKRON_JOIN="1", SINKRON_PEER_PORT="7104")
    assert settings.join and settings.peer_port == 7104


def test_flags_override_environment_which_overrides_dotenv(tmp_path: Path) -> None:
    """Precedence: --flag > SINKRON_* in the environment > .env file > default."""
    env_file = tmp_path / ".env"
    env_file.write_text("SINKRON_TICK_MS=30\nSINKRON_HTTP_PORT=9001\nSINKRON_SNAPSHOT_ENTRIES=77\n")
    settings = load_settings(
        ["--env-file", str(env_file), "--http-port", "9003"],
        {**BASE, "SINKRON_HTTP_PORT": "9002", "SINKRON_TICK_MS": "40"},
    )
    assert (settings.http_port, settings.tick_ms, settings.snapshot_entries) == (9003, 40, 77)


def test_parse_peers_keeps_order_and_strips_spaces() -> None:
    """Peer lists tolerate spaces and trailing commas."""
    assert parse_peers(" n1=h1:1 , n2=[::1]:2,") == {"n1": ("h1", 1), "n2": ("::1", 2)}


def test_node_process_exits_2_naming_the_missing_secret(tmp_path: Path) -> None:
    """`python -m impl.runtime` without a secret exits 2 and says which setting is wrong."""
    env = {"PATH": "/usr/bin:/bin", "SINKRON_NODE_ID": "n1", "SINKRON_PEERS": BASE["SINKRON_PEERS"]}
    result = run_node_once(env, tmp_path)
    assert result.returncode == 2
    assert "SINKRON_CLUSTER_SECRET" in result.stderr


def test_node_process_refuses_damaged_data_dir_with_exit_1(tmp_path: Path) -> None:
    """A node pointed at a damaged database exits non-zero naming the file; it never starts empty."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "sinkron.db").write_bytes(b"this is not sqlite" * 100)
    env = {
        "PATH": "/usr/bin:/bin",
        **BASE,
        "SINKRON_DATA_DIR": str(data),
        "SINKRON_HTTP_PORT": "0",
        "SINKRON_PEER_PORT": "0",
    }
    result = run_node_once(env, tmp_path)
    assert result.returncode == 1
    assert "sinkron.db" in result.stderr and "refusing to start" in result.stderr
