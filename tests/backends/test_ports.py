"""Free ports are outside the kernel's ephemeral range and never handed out twice in a row."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness.backends import ports
from harness.backends.ports import ephemeral_range, free_ports, plan_ports


def test_free_ports_avoid_the_ephemeral_range_so_outgoing_connections_cannot_take_them() -> None:
    low, high = ephemeral_range()
    for port in free_ports(20):
        assert not low <= port <= high


def test_consecutive_callers_never_get_the_same_port() -> None:
    first = set(free_ports(50))
    second = set(free_ports(50))
    assert len(first) == 50 and len(second) == 50
    assert not first & second


def test_a_port_someone_listens_on_is_never_handed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ten ports the shared ledger now keeps from every other caller (other tests run in
    # parallel), half of which we occupy. A block around one free port was flaky: its
    # neighbours could be another test's nodes' ports (seen once in CI).
    window = sorted(free_ports(10))
    listeners = []
    try:
        for port in window[::2]:
            sock = socket.socket()
            sock.bind(("127.0.0.1", port))
            sock.listen()
            listeners.append(sock)
        monkeypatch.setattr(ports, "LEDGER", tmp_path / "ledger.json")
        monkeypatch.setattr(ports, "candidate_range", lambda: window)
        handed = free_ports(5)
        assert sorted(handed) == list(window[1::2])
    finally:
        for sock in listeners:
            sock.close()


def test_fixed_base_port_plan_uses_documented_offsets() -> None:
    plan = plan_ports(["n1", "n2"], 7000)
    assert (plan["n1"].http_port, plan["n1"].peer_port) == (7001, 7101)
    assert (plan["n2"].http_port, plan["n2"].peer_port) == (7002, 7102)
