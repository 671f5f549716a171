"""The health endpoint: /healthz, /readyz and /metrics on a small threaded HTTP server.

Bound to 127.0.0.1 by default; the standard library's ThreadingHTTPServer is plenty for a
scraper every few seconds and keeps the dependency list short. Readiness is a callable so the
service decides what "ready" means (store reachable, every source fresh, see ``readiness``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from monitor.daemon.metrics import Metrics
from monitor.store.base import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Readiness:
    """What /readyz answers: ready (200) or not (503), with one reason per problem."""

    ready: bool
    reasons: tuple[str, ...] = ()


#: A source whose polls do not fail but take long (a large first download, a slow server) is
#: not called stale before this, however short its schedule: only a source that *fails* is
#: reported within twice its gap.
STUCK_AFTER = dt.timedelta(minutes=5)


def readiness(
    store: Store,
    sources: dict[str, dt.timedelta],
    now: dt.datetime,
    started_at: dt.datetime,
    problems: Iterable[str] = (),
) -> Readiness:
    """Store reachable, every source healthy, and no ``problems`` (failed evaluations...).

    ``sources`` maps source name -> the longest healthy gap between successes
    (``calendar.expected_interval``: twice the schedule's gap). A source whose last poll failed
    is not ready once its last success (or the daemon's start) is older than that; a source
    with no failure but no success either (a poll still running, a stuck scheduler) gets at
    least ``STUCK_AFTER``.
    """
    try:
        store.ping()
        states = {s.source: s for s in store.source_states()}
    except Exception as exc:  # any store failure means "not ready", with why
        return Readiness(False, (f"store unreachable: {exc}",))
    reasons = []
    for name, interval in sorted(sources.items()):
        state = states.get(name)
        last = state.last_success_at if state else None
        age = now - (last or started_at)
        failing = state is not None and state.consecutive_failures > 0
        if age <= interval or (not failing and age <= max(interval, STUCK_AFTER)):
            continue
        what = f"last success {last.isoformat()}" if last else "never polled successfully"
        if failing and state is not None:
            error = (state.last_error or "").replace("\n", " ")[:200]
            what += f"; {state.consecutive_failures} failed poll(s) since, last: {error}"
        reasons.append(f"source {name!r}: {what} (expected within {interval})")
    reasons.extend(problems)
    return Readiness(not reasons, tuple(reasons))


class HealthServer:
    """Serves the endpoints from a daemon thread; ``close()`` stops it."""

    def __init__(
        self,
        metrics: Metrics,
        ready: Callable[[], Readiness],
        *,
        bind: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.metrics = metrics
        self.ready = ready
        handler = _handler_class(self)
        self.httpd = ThreadingHTTPServer((bind, port), handler)
        self.httpd.daemon_threads = True
        # A short poll interval makes close() quick; the idle cost is negligible.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever,
            name="health",
            kwargs={"poll_interval": 0.1},
            daemon=True,
        )

    @property
    def port(self) -> int:
        """The port bound (the one the system chose when constructed with port 0)."""
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://<bound address>:<port>``, as logged at start."""
        host = self.httpd.server_address[0]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{self.port}"

    def start(self) -> HealthServer:
        """Start serving on the daemon thread; returns self."""
        self.thread.start()
        log.info("health endpoint on %s (/healthz /readyz /metrics)", self.url)
        return self

    def close(self) -> None:
        """Stop serving and close the socket (waits up to 5 s for the thread)."""
        serving = self.thread.is_alive()
        if serving:  # shutdown() waits for the serve loop: without one it would wait forever
            self.httpd.shutdown()
        self.httpd.server_close()
        if serving:
            self.thread.join(timeout=5)

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler_class(server: HealthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's naming
            self._send(*self._answer(), body=True)

        def do_HEAD(self) -> None:  # probes and load balancers: GET's status and headers
            self._send(*self._answer(), body=False)

        def _answer(self) -> tuple[int, bytes, str]:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                return 200, b"ok\n", "text/plain; charset=utf-8"
            if path == "/readyz":
                try:
                    result = server.ready()
                except Exception as exc:  # report, never crash the server
                    result = Readiness(False, (f"readiness check failed: {exc}",))
                body = json.dumps({"ready": result.ready, "reasons": list(result.reasons)})
                return 200 if result.ready else 503, body.encode() + b"\n", "application/json"
            if path == "/metrics":
                return 200, server.metrics.exposition(), CONTENT_TYPE_LATEST
            return (
                404,
                b"not found: try /healthz, /readyz or /metrics\n",
                "text/plain; charset=utf-8",
            )

        def _send(self, code: int, content: bytes, ctype: str, *, body: bool) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if body:
                self.wfile.write(content)

        def log_message(self, format: str, *args: Iterable[Any]) -> None:
            log.debug("health: " + format, *args)

    return Handler
