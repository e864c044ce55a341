"""Throw-away SSH hosts for testing the ssh backend on one machine: sshd in containers.

Each host is a container from the offline base image running sshd, on a
private docker network (so the nodes reach each other by container name),
with its ssh and HTTP ports published on 127.0.0.1 only. ``create`` writes a
hosts file for ``SshBackend``; ``destroy`` removes every container, the
network and the key. Traffic goes only to containers this module started.
"""

from __future__ import annotations

import atexit
import contextlib
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.backends.ports import free_ports
from harness.backends.ssh import Host
from harness.commands.image import DEFAULT_BASE as BASE_IMAGE


@dataclass(slots=True)
class SshTestHosts:
    hosts: list[Host]
    hosts_file: Path
    run_id: str
    workdir: Path

    def destroy(self) -> None:
        import docker

        from harness.backends.docker import remove_run_objects

        remove_run_objects(docker.from_env(), self.run_id)
        with contextlib.suppress(OSError):
            for path in self.workdir.iterdir():
                path.unlink()
            self.workdir.rmdir()


def create(count: int = 3, *, image: str = BASE_IMAGE) -> SshTestHosts:
    """Start ``count`` sshd containers and return their hosts file."""
    import asyncssh
    import docker

    client = docker.from_env()
    run_id = "ssh" + uuid.uuid4().hex[:6]
    workdir = Path(tempfile.mkdtemp(prefix="sinkron-ssh-"))
    key = workdir / "id_ed25519"
    # asyncssh makes the key: the harness machine needs no OpenSSH client tools.
    private = asyncssh.generate_private_key("ssh-ed25519")
    key.write_bytes(private.export_private_key())
    key.chmod(0o600)
    public_key = private.export_public_key().decode().strip()
    labels = {"sinkron.run": run_id}
    from harness.backends.docker import remove_run_objects

    # A safety net when the caller never reaches destroy() (an exception in between).
    atexit.register(remove_run_objects, client, run_id)
    network = client.networks.create(f"sinkron-{run_id}", driver="bridge", labels=labels)
    hosts: list[Host] = []
    containers: list[Any] = []
    setup = (
        "mkdir -p /root/.ssh /run/sshd && chmod 700 /root/.ssh && "
        f"echo '{public_key}' > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys && "
        "ssh-keygen -A >/dev/null && exec /usr/sbin/sshd -D -e"
    )
    for number in range(1, count + 1):
        name = f"sinkron-{run_id}-host{number}"
        ssh_port, http_port = free_ports(2)
        containers.append(
            client.containers.run(
                image,
                ["bash", "-c", setup],
                name=name,
                hostname=name,
                detach=True,
                labels=labels,
                network=network.name,
                cap_add=["NET_ADMIN"],
                ports={"22/tcp": ("127.0.0.1", ssh_port), "7000/tcp": ("127.0.0.1", http_port)},
            )
        )
        hosts.append(
            Host(
                id=f"n{number}",
                ssh_host="127.0.0.1",
                ssh_port=ssh_port,
                user="root",
                key=str(key),
                http_url=f"http://127.0.0.1:{http_port}",
                peer_address=f"{name}:7100",
            )
        )
    _wait_for_sshd(hosts)
    hosts_file = workdir / "hosts.toml"
    hosts_file.write_text(
        "".join(
            f'[[host]]\nid = "{h.id}"\nssh_host = "{h.ssh_host}"\nssh_port = {h.ssh_port}\n'
            f'user = "{h.user}"\nkey = "{h.key}"\nhttp_url = "{h.http_url}"\n'
            f'peer_address = "{h.peer_address}"\n\n'
            for h in hosts
        )
    )
    return SshTestHosts(hosts=hosts, hosts_file=hosts_file, run_id=run_id, workdir=workdir)


def _wait_for_sshd(hosts: list[Host], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    for host in hosts:
        while True:
            try:
                with socket.create_connection((host.ssh_host, host.ssh_port), timeout=1) as conn:
                    if conn.recv(4).startswith(b"SSH"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd on {host.id} did not answer within {timeout_s:.0f} s")
            time.sleep(0.2)
