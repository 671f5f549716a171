"""Real local peers and a daemon driver for the end-to-end, fuzz and security tests.

Everything listens on 127.0.0.1 with a port chosen by the OS (SMTP: a free port picked first,
because aiosmtpd's Controller cannot use port 0):

- ``HttpPeer``: one ThreadingHTTPServer that serves scripted GET answers per path (a source that
  publishes releases on command, with ETag, or fails on command: 500, 429 + Retry-After, hang,
  malformed body) and records every POST (a Slack-compatible webhook receiver answering 200 "ok",
  or 429 / 500 / hang on command). ``tls=(cert, key)`` makes it HTTPS.
- ``SmtpPeer``: a real aiosmtpd server that records messages, or refuses them with 451 on command.
- ``Daemon``: runs ``python -m monitor --config X run [--once]`` as a subprocess and can SIGKILL it.
- ``self_signed``: a throwaway CA-less certificate for 127.0.0.1 made with ``cryptography``.

The receivers count a message only once its whole body arrived (and, when it says it is JSON,
parsed): a connection cut mid-request by a killed daemon is counted in ``incomplete``, never as a
message. So a scenario can assert "none missing, duplicates only within the at-least-once
window" without a killed connection's empty body passing for a delivery.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Answer:
    """One scripted HTTP answer. ``hang`` seconds of silence before answering (a timeout)."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0


@dataclass
class Post:
    """One complete request: its whole body arrived (and parsed, when declared JSON)."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what we answered

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def read_body(handler: BaseHTTPRequestHandler) -> bytes | None:
    """The request's whole body, or None when the client went away before sending all of it
    (a short read at end of stream) or sent JSON that does not parse."""
    try:
        length = int(handler.headers.get("Content-Length") or 0)
    except ValueError:
        return None
    try:
        body = handler.rfile.read(length) if length > 0 else b""
    except (ConnectionError, TimeoutError, ssl.SSLError):
        return None
    if len(body) != length:
        return None
    if "json" in (handler.headers.get("Content-Type") or ""):
        try:
            json.loads(body)
        except ValueError:
            return None
    return body


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout tests, killed daemons) is expected, not an error.
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError | ssl.SSLError | TimeoutError):
            super().handle_error(request, client_address)


class HttpPeer:
    """GET: ``routes[path]`` (a callable or an Answer; 404 otherwise). POST: record, then answer
    ``post_script`` items first, then ``post_default``."""

    def __init__(self, *, tls: tuple[Path, Path] | None = None) -> None:
        self.routes: dict[str, Answer | Callable[[dict[str, str]], Answer]] = {}
        self.gets: list[tuple[str, dict[str, str], int]] = []
        self.posts: list[Post] = []
        self.incomplete = 0  # requests cut off or unparseable: never counted as messages
        self.post_script: list[Answer] = []
        self.post_default = Answer(200, b"ok")
        self.lock = threading.Lock()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle + delayed ACK add
            # 40 ms to every answer.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _answer(self, answer: Answer) -> None:
                if answer.hang:
                    time.sleep(answer.hang)
                self.send_response(answer.status)
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if answer.status != 304:
                    self.wfile.write(answer.body)

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                route = peer.routes.get(path)
                headers = {k: v for k, v in self.headers.items()}
                if route is None:
                    answer = Answer(404, b"not found")
                elif callable(route):
                    answer = route(headers)
                else:
                    answer = route
                with peer.lock:
                    peer.gets.append((self.path, headers, answer.status))
                self._answer(answer)

            def do_POST(self) -> None:
                body = read_body(self)
                if body is None:
                    with peer.lock:
                        peer.incomplete += 1
                    self.close_connection = True
                    return
                with peer.lock:
                    answer = peer.post_script.pop(0) if peer.post_script else peer.post_default
                    peer.posts.append(
                        Post(self.path, dict(self.headers.items()), body, answer.status)
                    )
                self._answer(answer)

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def accepted(self, path: str | None = None) -> list[Post]:
        """POSTs we answered with 2xx (the messages a receiver really got)."""
        with self.lock:
            return [p for p in self.posts if 200 <= p.status < 300 and path in (None, p.path)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def http_peer(**kw: Any) -> Iterator[HttpPeer]:
    peer = HttpPeer(**kw)
    try:
        yield peer
    finally:
        peer.close()


class Publisher:
    """A source that publishes releases on command: the canonical CSV at a path, with an ETag
    (so an unchanged poll costs one 304) and switchable faults."""

    def __init__(self, peer: HttpPeer, path: str = "/feed.csv") -> None:
        self.peer, self.path = peer, path
        self.body = b""
        self.fault: Answer | None = None  # when set, every GET gets this answer
        peer.routes[path] = self._serve

    def publish(self, body: bytes) -> None:
        self.body = body

    def _serve(self, headers: dict[str, str]) -> Answer:
        if self.fault is not None:
            return self.fault
        etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'
        if headers.get("If-None-Match") == etag:
            return Answer(304, b"", {"ETag": etag})
        return Answer(200, self.body, {"ETag": etag, "Content-Type": "text/csv"})

    @property
    def url(self) -> str:
        return self.peer.url(self.path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpPeer:
    """A real aiosmtpd SMTP server on 127.0.0.1 recording every accepted message."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        self.refusals = 0
        self.refuse = False  # answer DATA with 451 (try again later)
        peer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                if peer.refuse:
                    peer.refusals += 1
                    return "451 4.3.0 try again later"
                peer.messages.append(message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


@contextmanager
def smtp_peer() -> Iterator[SmtpPeer]:
    peer = SmtpPeer()
    try:
        yield peer
    finally:
        peer.close()


def self_signed(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate (it is its own CA) for ``host``; returns (cert, key) paths.
    Made with ``cryptography`` when installed, else with the ``openssl`` command."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return _self_signed_openssl(folder, host)
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "customs-monitor test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _self_signed_openssl(folder: Path, host: str) -> tuple[Path, Path]:
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=customs-monitor test CA",
            "-addext",
            f"subjectAltName=IP:{host}",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-keyout",
            str(key_path),
            "-out",
            str(cert_path),
        ],
        check=True,
        capture_output=True,
    )
    return cert_path, key_path


# -- the daemon as a subprocess --------------------------------------------------------------


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMS_MONITOR")}
    env["PYTHONPATH"] = str(REPO)
    # Never let a proxy from the environment sit between the daemon and our loopback peers.
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


def run_cli(
    config: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    module: str = "monitor",
) -> subprocess.CompletedProcess[bytes]:
    """``python -m monitor --config X ARGS`` to completion; stdout/stderr as bytes.
    ``module="tests.e2e.inject"`` runs the same CLI with a fault injected (see there)."""
    return subprocess.run(
        [sys.executable, "-m", module, "--config", str(config), *args],
        cwd=str(config.parent),
        env=child_env(env),
        capture_output=True,
        timeout=timeout,
        check=False,
    )


class Daemon:
    """A ``run``/``run --once`` subprocess whose output goes to files (for later grepping)."""

    def __init__(
        self,
        config: Path,
        *args: str,
        env: dict[str, str] | None = None,
        tag: str = "run",
        module: str = "monitor",
    ) -> None:
        self.stdout_path = config.parent / f"{tag}.stdout"
        self.stderr_path = config.parent / f"{tag}.stderr"
        self._out = self.stdout_path.open("ab")
        self._err = self.stderr_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "--config", str(config), *args],
            cwd=str(config.parent),
            env=child_env(env),
            stdout=self._out,
            stderr=self._err,
        )

    def kill(self) -> None:
        """SIGKILL: no handler runs, no finally block, exactly like a power cut."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.wait()

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._out.close()
            self._err.close()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def integrity_ok(db: Path) -> str:
    """SQLite's own verdict on the file (``ok`` when nothing is corrupt)."""
    import sqlite3

    con = sqlite3.connect(str(db))
    try:
        return str(con.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        con.close()


def record_figure(name: str, figures: dict[str, Any]) -> None:
    """Add a scenario's figures to the results file (``PROVE_RESULTS``, default
    /tmp/customs-monitor-prove.json) that docs/prove.md's table is built from. The suite runs in
    several processes: a lock beside the file serialises the read-modify-write, and the new
    content replaces the file whole, so a reader never sees half of it."""
    import fcntl

    path = Path(os.environ.get("PROVE_RESULTS", "/tmp/customs-monitor-prove.json"))
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.exists() else {}
        data[name] = figures
        part = path.with_name(f"{path.name}.{os.getpid()}.part")
        part.write_text(json.dumps(data, indent=2, sort_keys=True))
        os.replace(part, path)
    print(f"\nFIGURES {name}: {json.dumps(figures, sort_keys=True)}")


# -- the daemon's health endpoint -------------------------------------------------------------


def http(url: str, method: str = "GET", timeout: float = 10) -> tuple[int, bytes]:
    """(status, body) of one request; (0, b"") while nothing answers."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, method=method), timeout=timeout
        ) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the daemon's /metrics by (name, sorted labels); empty while it is down."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body = http(f"http://127.0.0.1:{port}/metrics")
    if status != 200:
        return {}
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
