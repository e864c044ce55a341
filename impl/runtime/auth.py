"""HMAC challenge-response that opens every peer connection (sans-I/O).

Theory of operation: the dialer D opens a TCP connection to the acceptor A.

    D -> A  hello     {cluster_id, from: D, to: A, nonce: Nd}
    A -> D  challenge {from: A, nonce: Na, mac: HMAC(secret, "A"|cluster|A|D|Nd|Na)}
    D -> A  proof     {mac: HMAC(secret, "D"|cluster|D|A|Nd|Na)}

Each side proves it knows the cluster secret, bound to this cluster id, both
node ids and both fresh nonces, so a recorded handshake cannot be replayed on
another connection and a node of another cluster sharing the secret is still
refused. The role tag ("A" or "D") stops one side's MAC from being reflected
back as the other's. Only after the proof checks does the acceptor deliver
frames from the connection; the connection then carries traffic from D to A
only (a directed link, so the harness can cut one direction).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from impl.errors import RemoteProtocolError

NONCE_BYTES = 16


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def _mac(
    secret: bytes, role: str, cluster_id: str, me: str, peer: str, nonce_d: bytes, nonce_a: bytes
) -> bytes:
    message = b"\x00".join(
        [role.encode(), cluster_id.encode(), me.encode(), peer.encode(), nonce_d, nonce_a]
    )
    return hmac.new(secret, message, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    cluster_id: str
    node_id: str
    secret: bytes


def hello(creds: Credentials, *, to: str, nonce: bytes) -> dict[str, object]:
    return {
        "t": "hello",
        "cluster_id": creds.cluster_id,
        "from": creds.node_id,
        "to": to,
        "nonce": nonce,
    }


def _field(frame: object, name: str, kind: type) -> object:
    if not isinstance(frame, dict) or not isinstance(frame.get(name), kind):
        raise RemoteProtocolError(f"handshake frame lacks a {kind.__name__} field {name!r}")
    return frame[name]


def accept_hello(
    creds: Credentials, frame: object, *, nonce: bytes
) -> tuple[str, bytes, dict[str, object]]:
    """Check a dialer's hello; return (dialer id, dialer nonce, challenge frame).

    Raises:
        RemoteProtocolError: wrong shape, other cluster, or addressed to another node.
    """
    if _field(frame, "t", str) != "hello":
        raise RemoteProtocolError("expected a hello frame")
    cluster_id = _field(frame, "cluster_id", str)
    dialer = _field(frame, "from", str)
    to = _field(frame, "to", str)
    nonce_d = _field(frame, "nonce", bytes)
    assert isinstance(dialer, str) and isinstance(nonce_d, bytes)
    if cluster_id != creds.cluster_id:
        raise RemoteProtocolError(
            f"hello from cluster {cluster_id!r}, this is {creds.cluster_id!r}"
        )
    if to != creds.node_id:
        raise RemoteProtocolError(f"hello addressed to {to!r}, this is {creds.node_id!r}")
    if len(nonce_d) != NONCE_BYTES:
        raise RemoteProtocolError("hello nonce has the wrong length")
    mac = _mac(creds.secret, "A", creds.cluster_id, creds.node_id, dialer, nonce_d, nonce)
    return dialer, nonce_d, {"t": "challenge", "from": creds.node_id, "nonce": nonce, "mac": mac}


def answer_challenge(
    creds: Credentials, frame: object, *, to: str, nonce_d: bytes
) -> dict[str, object]:
    """Check the acceptor's proof and return ours.

    Raises:
        RemoteProtocolError: the acceptor is not ``to`` or does not know the secret.
    """
    if _field(frame, "t", str) != "challenge":
        raise RemoteProtocolError("expected a challenge frame")
    acceptor = _field(frame, "from", str)
    nonce_a = _field(frame, "nonce", bytes)
    mac = _field(frame, "mac", bytes)
    assert isinstance(nonce_a, bytes) and isinstance(mac, bytes)
    if acceptor != to:
        raise RemoteProtocolError(f"dialed {to!r} but {acceptor!r} answered")
    expected = _mac(creds.secret, "A", creds.cluster_id, to, creds.node_id, nonce_d, nonce_a)
    if not hmac.compare_digest(mac, expected):
        raise RemoteProtocolError(f"{to!r} failed to prove the cluster secret")
    proof = _mac(creds.secret, "D", creds.cluster_id, creds.node_id, to, nonce_d, nonce_a)
    return {"t": "proof", "mac": proof}


def check_proof(
    creds: Credentials, frame: object, *, dialer: str, nonce_d: bytes, nonce_a: bytes
) -> None:
    """Raises RemoteProtocolError unless the dialer proved the cluster secret."""
    if _field(frame, "t", str) != "proof":
        raise RemoteProtocolError("expected a proof frame")
    mac = _field(frame, "mac", bytes)
    assert isinstance(mac, bytes)
    expected = _mac(creds.secret, "D", creds.cluster_id, dialer, creds.node_id, nonce_d, nonce_a)
    if not hmac.compare_digest(mac, expected):
        raise RemoteProtocolError(f"{dialer!r} failed to prove the cluster secret")
