"""The e2e receivers count a message only when its whole body arrived and parsed.

A daemon killed mid-request leaves the receiver a request whose body is cut off (often empty);
counting that as a delivered message made the crash test pass or fail with the machine's load.
"""

from __future__ import annotations

import socket

from tests.daemon.helpers import Receiver
from tests.e2e.harness import http_peer, wait_for


def _cut_off_post(port: int, path: str, body: bytes, declared: int) -> None:
    """Headers promising ``declared`` bytes, then only ``body``, then the connection closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n\r\n".encode()
            + body
        )


def _complete_post(port: int, path: str, body: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer


def test_http_peer_ignores_a_request_cut_off_mid_body() -> None:
    """HttpPeer: a POST whose connection closes before its body is complete is not a message."""
    with http_peer() as peer:
        _cut_off_post(peer.port, "/hook", b"", declared=120)
        _cut_off_post(peer.port, "/hook", b'{"release_id": 1, "al', declared=120)
        assert wait_for(lambda: peer.incomplete == 2, timeout=30)
        assert peer.posts == [] and peer.accepted() == []


def test_http_peer_counts_a_complete_request() -> None:
    """HttpPeer: a POST whose whole JSON body arrived is recorded and answered."""
    with http_peer() as peer:
        answer = _complete_post(peer.port, "/hook", b'{"release_id": 1}')
        assert answer.startswith(b"HTTP/1.1 200")
        [post] = peer.accepted("/hook")
        assert post.json == {"release_id": 1}
        assert peer.incomplete == 0


def test_http_peer_ignores_a_body_that_is_not_the_json_it_claims() -> None:
    """HttpPeer: a complete body declared JSON that does not parse is not a message."""
    with http_peer() as peer:
        _complete_post(peer.port, "/hook", b'{"release_id": ')
        assert peer.posts == [] and peer.incomplete == 1


def test_daemon_test_receiver_ignores_a_request_cut_off_mid_body() -> None:
    """tests/daemon Receiver: a cut-off body is counted as incomplete, not as a message."""
    receiver = Receiver()
    try:
        port = int(receiver.url.split(":")[2].split("/")[0])
        _cut_off_post(port, "/services/T0/B0/secret", b"", declared=64)
        assert wait_for(lambda: receiver.incomplete == 1, timeout=30)
        _complete_post(port, "/services/T0/B0/secret", b'{"text": "t"}')
        assert receiver.bodies == [{"text": "t"}]
    finally:
        receiver.close()
