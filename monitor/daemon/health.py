"""The health endpoint: /healthz, /readyz and /metrics on a small threaded HTTP server.

Bound to 127.0.0.1 by default; the standard library's ThreadingHTTPServer is plenty for a
scraper every few seconds and keeps the dependency list short. Readiness is a callable so the
runner decides what "ready" means (store reachable, every source fresh, see ``readiness``).
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

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reasons: tuple[str, ...] = ()


def readiness(
    store: Any, sources: dict[str, dt.timedelta], now: dt.datetime, started_at: dt.datetime
) -> Readiness:
    """Store reachable, and every source polled successfully within its expected interval.

    ``sources`` maps source name -> the longest healthy gap (``calendar.expected_interval``).
    A source that never succeeded is given that same grace from the daemon's start.
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
        since = last or started_at
        if now - since > interval:
            what = f"last success {last.isoformat()}" if last else "never polled successfully"
            reasons.append(f"source {name!r}: {what} (expected within {interval})")
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
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self.httpd.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> HealthServer:
        self.thread.start()
        log.info("health endpoint on %s (/healthz /readyz /metrics)", self.url)
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler_class(server: HealthServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's naming
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(200, b"ok\n", "text/plain; charset=utf-8")
            elif path == "/readyz":
                try:
                    result = server.ready()
                except Exception as exc:  # report, never crash the server
                    result = Readiness(False, (f"readiness check failed: {exc}",))
                body = json.dumps({"ready": result.ready, "reasons": list(result.reasons)})
                self._send(200 if result.ready else 503, body.encode() + b"\n", "application/json")
            elif path == "/metrics":
                self._send(200, server.metrics.exposition(), CONTENT_TYPE_LATEST)
            else:
                self._send(
                    404,
                    b"not found: try /healthz, /readyz or /metrics\n",
                    "text/plain; charset=utf-8",
                )

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Iterable[Any]) -> None:
            log.debug("health: " + format, *args)

    return Handler
