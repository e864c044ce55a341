"""LocalBackend process control and relay partitions, against fake nodes (fast, no Raft).

The fake node (fake_node.py) keeps the runtime's env contract and reports in
/status how long ago it last heard each peer, which makes link cuts visible.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from harness.backends.local import NodeStartError

from .fakes import (
    alive,
    assert_only_n1_to_n2_is_cut,
    get_json,
    hears,
    make_backend,
    run,
    wait_until,
)


def test_start_waits_for_health_and_close_leaves_no_process(tmp_path: Path) -> None:
    """After start every node answers /health; after close none of their pids is alive."""

    async def scenario() -> None:
        healthy: list[str] = []
        backend = make_backend(tmp_path, on_node_healthy=healthy.append)
        await backend.start()
        pids = [backend.nodes[node].pid for node in backend.node_ids]
        assert sorted(healthy) == ["n1", "n2", "n3"]
        for node in backend.node_ids:
            assert await get_json(backend.client_url(node) + "/health") == {"ok": True}
        await backend.close()
        assert all(pid is not None and not alive(pid) for pid in pids)
        await backend.close()  # idempotent

    run(scenario)


def test_kill_then_start_node_reuses_ports_data_and_log(tmp_path: Path) -> None:
    """A killed node comes back on the same URL, data dir and (appended) log."""

    async def scenario() -> None:
        async with make_backend(tmp_path, nodes=2) as backend:
            url = backend.client_url("n2")
            old_pid = backend.nodes["n2"].pid
            await backend.kill_node("n2")
            assert old_pid is not None and not alive(old_pid)
            with pytest.raises(aiohttp.ClientError):
                await get_json(url + "/health")
            await backend.start_node("n2")
            assert (await get_json(url + "/status"))["pid"] != old_pid
            log = backend.nodes["n2"].log_path.read_text()
            assert log.count("=== start n2") == 2
            assert backend.nodes["n2"].data_dir.is_dir()

    run(scenario)


def test_stop_node_is_a_clean_sigterm(tmp_path: Path) -> None:
    """stop_node sends SIGTERM first, so the node gets to shut down by itself."""

    async def scenario() -> None:
        async with make_backend(tmp_path, nodes=1) as backend:
            await backend.stop_node("n1")
            assert not backend.nodes["n1"].running
            assert "stopping on SIGTERM" in backend.nodes["n1"].log_path.read_text()
            assert backend.nodes["n1"].process is not None
            assert backend.nodes["n1"].process.returncode == 0

    run(scenario)


def test_paused_node_keeps_its_socket_but_stops_answering(tmp_path: Path) -> None:
    """SIGSTOP freezes the node (requests hang, no refusal); SIGCONT brings it back."""

    async def scenario() -> None:
        async with make_backend(tmp_path, nodes=1) as backend:
            url = backend.client_url("n1") + "/health"
            await backend.pause_node("n1")
            with pytest.raises(TimeoutError):
                await get_json(url, timeout_s=0.3)
            await backend.resume_node("n1")
            assert await get_json(url) == {"ok": True}

    run(scenario)


def test_partition_cuts_exactly_the_listed_directed_links(tmp_path: Path) -> None:
    """Cutting n1->n2 silences n1 at n2 only; n2->n1 and n1->n3 keep flowing; heal restores."""

    async def scenario() -> None:
        async with make_backend(tmp_path) as backend:
            for node, peer in [("n2", "n1"), ("n1", "n2"), ("n3", "n1")]:
                await wait_until(lambda n=node, p=peer: hears(backend, n, p))
            await backend.partition({("n1", "n2")})
            await assert_only_n1_to_n2_is_cut(backend)
            await backend.heal()
            await wait_until(lambda: hears(backend, "n2", "n1"), timeout_s=10)

    run(scenario)


def test_node_that_dies_during_start_raises_with_its_log_tail(tmp_path: Path) -> None:
    """A node that exits before /health fails start() with the tail of its log."""

    async def scenario() -> None:
        backend = make_backend(tmp_path, nodes=1, spec={"extra_env": {"FAKE_NODE_CRASH": "1"}})
        with pytest.raises(NodeStartError, match="crashing on purpose"):
            await backend.start()
        assert not backend.nodes["n1"].running

    run(scenario)


def test_clock_offset_goes_through_the_test_hook(tmp_path: Path) -> None:
    """set_clock_offset reaches PUT /_test/clock of that node only."""

    async def scenario() -> None:
        async with make_backend(tmp_path, nodes=2) as backend:
            await backend.set_clock_offset("n2", -1500)
            n1 = await get_json(backend.client_url("n1") + "/status")
            n2 = await get_json(backend.client_url("n2") + "/status")
            assert (n1["clock_offset_ms"], n2["clock_offset_ms"]) == (0, -1500)

    run(scenario)


def test_collect_logs_copies_one_file_per_node(tmp_path: Path) -> None:
    """collect_logs writes <node>.log for every node."""

    async def scenario() -> None:
        async with make_backend(tmp_path, nodes=2) as backend:
            await backend.collect_logs(tmp_path / "logs")
        assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["n1.log", "n2.log"]
        assert "fake node n1 up" in (tmp_path / "logs" / "n1.log").read_text()

    run(scenario)


def test_fixed_base_port_gives_documented_urls(tmp_path: Path) -> None:
    """base_port B puts node k's HTTP API on B+k and its peer port on B+100+k."""
    backend = make_backend(tmp_path, spec={"base_port": 31000})
    assert backend.client_url("n2") == "http://127.0.0.1:31002"
    assert backend.nodes["n3"].peer_port == 31103
