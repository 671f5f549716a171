"""Real local peers for the delivery tests: an HTTP server speaking the Slack webhook, Slack Web
API, Alertmanager and generic webhook protocols, and aiosmtpd SMTP servers (plain, STARTTLS,
implicit TLS, with or without AUTH). All on 127.0.0.1, port chosen by the OS.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from monitor.notify.blockkit import check_payload


@dataclass
class Reply:
    status: int = 200
    body: str | bytes = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow server)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival
    answered: int = 0

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class HttpPeer:
    """Answers each POST with the next scripted Reply (then ``default``); records everything.

    Slack payloads (webhook paths under /services/ and chat.postMessage) are checked with
    slack_sdk's Block Kit models on arrival; problems are collected in ``block_problems``.
    """

    def __init__(self, tls: tuple[Path, Path] | None = None, *, keep_alive: bool = False) -> None:
        self.received: list[Received] = []
        self.connections = 0  # accepted so far
        self.open_connections = 0  # not yet closed by the client (keep_alive: HTTP/1.1)
        self.script: list[Reply] = []
        self.default = Reply()
        self.block_problems: list[str] = []
        self._lock = threading.Lock()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def setup(self) -> None:
                super().setup()
                with peer._lock:
                    peer.connections += 1
                    peer.open_connections += 1

            def finish(self) -> None:
                try:
                    super().finish()
                finally:
                    with peer._lock:
                        peer.open_connections -= 1

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                rec = Received(self.path, dict(self.headers.items()), body, time.monotonic())
                with peer._lock:
                    reply = peer.script.pop(0) if peer.script else peer.default
                    peer.received.append(rec)
                if self.path.startswith("/services/") or self.path.endswith("chat.postMessage"):
                    problems = check_payload(json.loads(body))
                    with peer._lock:
                        peer.block_problems.extend(problems)
                if reply.delay:
                    time.sleep(reply.delay)
                rec.answered = reply.status
                data = reply.body.encode() if isinstance(reply.body, str) else reply.body
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls:  # HTTPS with the given (cert, key)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.answered < 300]

    def all_closed(self, within: float = 5.0) -> bool:
        """Whether every connection is closed by the client, waiting up to ``within`` seconds
        for the server to see it (the client's close reaches the server asynchronously)."""
        deadline = time.monotonic() + within
        while self.open_connections and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.open_connections == 0

    def start(self) -> HttpPeer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def http_peer(
    tls: tuple[Path, Path] | None = None, *, keep_alive: bool = False
) -> Iterator[HttpPeer]:
    """A started ``HttpPeer``; ``keep_alive`` answers HTTP/1.1, keeping connections open until
    the client closes them (``open_connections`` counts them)."""
    peer = HttpPeer(tls, keep_alive=keep_alive).start()
    try:
        yield peer
    finally:
        peer.stop()


# -- SMTP -------------------------------------------------------------------------------------
def free_port() -> int:
    """aiosmtpd's Controller cannot bind port 0 (it connects to check readiness), so ask the OS."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1, made with the openssl CLI (``cryptography`` is
    not installed here)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class MailSink:
    """An aiosmtpd handler that keeps each accepted message, or refuses while told to."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse_with: str | None = None  # e.g. "451 4.3.0 try again later"
        self.bad_recipients: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.bad_recipients:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_with:
            return self.refuse_with
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


@dataclass
class SmtpPeer:
    host: str
    port: int
    sink: MailSink
    cert: Path | None
    controller: Any


@contextmanager
def smtp_peer(
    tmp_path: Path,
    *,
    starttls: bool = False,
    implicit_tls: bool = False,
    auth: tuple[str, str] | None = None,
) -> Iterator[SmtpPeer]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    sink = MailSink()
    cert = key = None
    kwargs: dict[str, Any] = {}
    if starttls or implicit_tls:
        cert, key = self_signed_cert(tmp_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        if implicit_tls:
            kwargs["ssl_context"] = context
        else:
            kwargs.update(tls_context=context, require_starttls=True)
    if auth:
        user, password = auth

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == user and auth_data.password.decode() == password
            # handled=False: aiosmtpd answers "535 credentials invalid" itself.
            return AuthResult(success=ok, handled=False)

        # With implicit TLS the whole session is encrypted, but aiosmtpd cannot tell, so it
        # must not insist on STARTTLS before AUTH (nor require AUTH without it: it warns).
        kwargs.update(
            authenticator=authenticator,
            auth_required=not implicit_tls,
            auth_require_tls=not implicit_tls,
        )
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield SmtpPeer("127.0.0.1", port, sink, cert, controller)
    finally:
        controller.stop()
