"""The container configuration files hold up without a Docker engine: the compose file
validates without a .env, hosts files are checked field by field, and the image digest
follows exactly what the node runs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.backends.ssh import load_hosts
from harness.commands import image

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_validates_without_an_env_file(tmp_path: Path) -> None:
    """`docker-compose config -q` passes in a checkout that has no .env (defaults everywhere)."""
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed: skipped")
    shutil.copy(REPO_ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    result = subprocess.run(
        ["docker-compose", "config"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "127.0.0.1:7001:7000" in result.stdout or "host_ip: 127.0.0.1" in result.stdout, (
        "HTTP is published on 127.0.0.1 only, 7001 by default"
    )
    # Compose v1 and v2 print the same facts with different indentation: match loosely.
    node4 = result.stdout.split("\n  node4:\n", 1)[1].split("\n  node", 1)[0]
    assert re.search(r"profiles:\s*\n\s*- scale", node4), "node4 must stay behind 'scale'"
    assert re.search(r"SINKRON_JOIN: [\"']?1", node4), "node4 must start with SINKRON_JOIN=1"


def test_hosts_file_round_trips_and_names_the_bad_field(tmp_path: Path) -> None:
    """A hosts file gives one Host per entry; a missing field is named with the host number."""
    good = tmp_path / "hosts.toml"
    good.write_text(
        '[[host]]\nid = "n1"\nssh_host = "10.0.0.1"\nkey = "~/k"\n\n'
        '[[host]]\nid = "n2"\nssh_host = "10.0.0.2"\nssh_port = 2222\n'
        'peer_address = "h2:7200"\n'
    )
    first, second = load_hosts(good)
    assert (first.ssh_port, first.user, first.http_url) == (22, "root", "http://10.0.0.1:7000")
    assert first.key is not None and not first.key.startswith("~")
    assert (second.peer_host, second.peer_port) == ("h2", 7200)
    bad = tmp_path / "bad.toml"
    bad.write_text('[[host]]\nid = "n1"\nssh_host = "a"\n\n[[host]]\nid = "n2"\n')
    with pytest.raises(ValueError, match=r"host #2.*ssh_host"):
        load_hosts(bad)
    duplicate = tmp_path / "dup.toml"
    duplicate.write_text(
        '[[host]]\nid = "n1"\nssh_host = "a"\n\n[[host]]\nid = "n1"\nssh_host = "b"\n'
    )
    with pytest.raises(ValueError, match="duplicate"):
        load_hosts(duplicate)


def test_image_digest_follows_the_node_sources_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Editing impl/ or the Dockerfile changes the image tag; editing harness/ does not."""
    for name in ("pyproject.toml", "Dockerfile"):
        (tmp_path / name).write_text(name)
    for package in ("impl", "harness"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(image, "REPO_ROOT", tmp_path)
    original = image.source_digest()
    (tmp_path / "harness" / "a.py").write_text("x = 2\n")
    assert image.source_digest() == original
    (tmp_path / "impl" / "a.py").write_text("x = 2\n")
    after_impl = image.source_digest()
    assert after_impl != original
    (tmp_path / "Dockerfile").write_text("changed")
    assert image.source_digest() != after_impl
