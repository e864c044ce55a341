"""netns mode: one namespace per node, directed cuts by iptables DROP, nothing left after close."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.backends import netns
from harness.backends.local import LocalBackend

from .fakes import FAKE_NODE, assert_only_n1_to_n2_is_cut, hears, make_backend, run, wait_until


def netns_usable() -> bool:
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("iptables"):
        return False
    probe = f"sinkron-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode == 0
    if made:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return made


def test_netns_without_root_asks_for_relay_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without root the backend refuses at once and names the alternative."""
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    with pytest.raises(netns.NetnsUnavailable, match="--net relay"):
        make_backend(tmp_path, net="netns")


@pytest.mark.integration
@pytest.mark.skipif(not netns_usable(), reason="needs root and working `ip netns`")
def test_netns_cut_is_directed_and_close_removes_every_namespace(tmp_path: Path) -> None:
    """Cutting n1->n2 in n1's namespace silences n1 at n2 only; close deletes what it made."""

    async def scenario() -> None:
        backend: LocalBackend = make_backend(tmp_path, net="netns")
        assert backend.node_command == list(FAKE_NODE)
        network = backend.network
        assert isinstance(network, netns.NetnsNetwork)
        try:
            await backend.start()
            assert backend.client_url("n1").startswith("http://10.231.")

            await wait_until(lambda: hears(backend, "n2", "n1"))
            await backend.partition({("n1", "n2")})
            await assert_only_n1_to_n2_is_cut(backend)
            await backend.heal()
            await wait_until(lambda: hears(backend, "n2", "n1"), timeout_s=10)
        finally:
            await backend.close()
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert f"sinkron-{network.token}-" not in listed
        links = subprocess.run(["ip", "link"], capture_output=True, text=True).stdout
        assert network.bridge not in links

    run(scenario)
