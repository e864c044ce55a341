"""The HMAC handshake: both sides prove the cluster secret, bound to ids and nonces."""

from __future__ import annotations

import pytest

from impl.errors import RemoteProtocolError
from impl.runtime import auth

A = auth.Credentials(cluster_id="c", node_id="n2", secret=b"secret")
D = auth.Credentials(cluster_id="c", node_id="n1", secret=b"secret")


def _handshake(dialer: auth.Credentials, acceptor: auth.Credentials, *, to: str = "n2") -> str:
    nonce_d, nonce_a = auth.new_nonce(), auth.new_nonce()
    hello = auth.hello(dialer, to=to, nonce=nonce_d)
    who, got_nonce, challenge = auth.accept_hello(acceptor, hello, nonce=nonce_a)
    proof = auth.answer_challenge(dialer, challenge, to=to, nonce_d=nonce_d)
    auth.check_proof(acceptor, proof, dialer=who, nonce_d=got_nonce, nonce_a=nonce_a)
    return who


def test_nodes_sharing_the_secret_complete_the_handshake() -> None:
    """Same cluster, same secret: the acceptor learns the dialer's id."""
    assert _handshake(D, A) == "n1"


def test_acceptor_with_wrong_secret_is_rejected_by_the_dialer() -> None:
    """The dialer refuses an acceptor that cannot prove the secret (mutual auth)."""
    impostor = auth.Credentials(cluster_id="c", node_id="n2", secret=b"wrong")
    with pytest.raises(RemoteProtocolError, match="failed to prove"):
        _handshake(D, impostor)


def test_dialer_with_wrong_secret_is_rejected_by_the_acceptor() -> None:
    """The acceptor refuses a dialer that cannot prove the secret."""
    impostor = auth.Credentials(cluster_id="c", node_id="n1", secret=b"wrong")
    with pytest.raises(RemoteProtocolError, match="failed to prove"):
        _handshake(impostor, A)


def test_other_cluster_is_rejected_even_with_the_same_secret() -> None:
    """The cluster id is checked and bound into the MAC."""
    other = auth.Credentials(cluster_id="other", node_id="n1", secret=b"secret")
    with pytest.raises(RemoteProtocolError, match="cluster"):
        _handshake(other, A)


def test_hello_addressed_to_another_node_is_rejected() -> None:
    """A connection meant for n3 that reached n2 (stale address) is refused."""
    with pytest.raises(RemoteProtocolError, match="addressed"):
        _handshake(D, A, to="n3")


def test_acceptor_mac_cannot_be_reflected_as_a_dialer_proof() -> None:
    """The role tag makes the acceptor's MAC useless as the dialer's proof."""
    nonce_d, nonce_a = auth.new_nonce(), auth.new_nonce()
    hello = auth.hello(D, to="n2", nonce=nonce_d)
    who, got_nonce, challenge = auth.accept_hello(A, hello, nonce=nonce_a)
    reflected = {"t": "proof", "mac": challenge["mac"]}
    with pytest.raises(RemoteProtocolError):
        auth.check_proof(A, reflected, dialer=who, nonce_d=got_nonce, nonce_a=nonce_a)


@pytest.mark.parametrize("frame", [None, [], {"t": "hello"}, {"t": "proof", "mac": 5}, b"x"])
def test_malformed_handshake_frames_raise_remote_protocol_error(frame: object) -> None:
    """Whatever a stranger sends, the handshake fails with the peer's-fault error."""
    with pytest.raises(RemoteProtocolError):
        auth.accept_hello(A, frame, nonce=auth.new_nonce())
