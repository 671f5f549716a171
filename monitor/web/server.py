"""Serve the console with waitress (a production WSGI server, pure Python) from a thread.

The daemon starts it beside the health endpoint; both stop with the daemon. waitress bounds
what a client can make it do (request sizes, connections, idle channels), which matters once
the console listens beyond loopback.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from monitor.web.backend import Backend, ServiceBackend
from monitor.web.options import TokenFile, WebOptions, web_options

log = logging.getLogger(__name__)


class ConsoleServer:
    """The console on waitress in a daemon thread: listening once created (OSError if it cannot),
    serving after ``start``."""

    def __init__(self, backend: Backend, options: WebOptions, *, threads: int = 4) -> None:
        from waitress.server import create_server

        from monitor.web.app import create_app

        tokens = TokenFile(options.token_file) if options.token_file else None
        self.options = options
        self.app = create_app(backend, options, tokens)
        # Our own socket map: if binding fails, what waitress opened so far is closed here.
        self._map: dict[int, Any] = {}
        try:
            self.server: Any = self._create(create_server, options, threads)
        except OSError:
            from waitress import wasyncore

            wasyncore.close_all(self._map)
            raise
        self.thread = threading.Thread(target=self._run, name="console", daemon=True)

    def _create(self, create_server: Any, options: WebOptions, threads: int) -> Any:
        return create_server(
            self.app,
            map=self._map,
            host=options.bind,
            port=options.port,
            threads=threads,
            ident="customs-monitor",  # no server name and version for a scanner to match
            max_request_body_size=1024 * 1024,
            connection_limit=100,
            channel_timeout=60,
            clear_untrusted_proxy_headers=True,
        )

    def _run(self) -> None:
        self.server.run()

    @property
    def port(self) -> int:
        """The port actually bound (the one the system chose for port 0)."""
        return int(self.server.effective_port)

    @property
    def url(self) -> str:
        """The address the console listens on, as a URL (not ``public_url``)."""
        host = self.server.effective_host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"

    def start(self) -> ConsoleServer:
        """Start serving in the background thread and log the address; returns self."""
        self.thread.start()
        log.info(
            "console on %s%s",
            self.url,
            f" (public URL {self.options.public_url})" if self.options.public_url else "",
        )
        return self

    def close(self) -> None:
        """Stop serving and close every socket, waiting up to about 20 s for the server thread; a
        server never started is closed at once."""
        # The loop runs in its own thread: ask it to close everything from there.
        done = threading.Event()

        def shut() -> None:
            try:
                self.server.task_dispatcher.shutdown(timeout=5)
                from waitress import wasyncore

                wasyncore.close_all(self._map)
            finally:
                done.set()

        if self.thread.is_alive():
            self.server.trigger.pull_trigger(shut)
            done.wait(10)
            self.thread.join(timeout=10)
        else:
            shut()

    def __enter__(self) -> ConsoleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_console(service: Any) -> ConsoleServer | None:
    """The daemon's console (``daemon.web``), started; None when it is off or cannot listen.

    A console that cannot listen (the port is taken) is logged as an error and the daemon runs
    on without it: polling and delivering alerts matter more than the pages about them."""
    options = web_options(service.config)
    if not options.enabled:
        return None
    try:
        return ConsoleServer(ServiceBackend(service), options).start()
    except OSError as exc:
        log.error(
            "console: cannot listen on %s:%d (%s); running without the console",
            options.bind,
            options.port,
            exc.strerror or exc,
        )
        return None
