"""The console's server as the daemon runs it: waitress on its own port, beside the health
endpoint, stopped with the daemon."""

from __future__ import annotations

import logging
import socket
import urllib.request
from types import SimpleNamespace

from monitor.web.backend import ServiceBackend
from monitor.web.options import WebOptions
from monitor.web.server import ConsoleServer, start_console


def service_for(site, web: dict) -> SimpleNamespace:
    from monitor.config.daemon import DaemonOptions

    daemon = DaemonOptions.from_config({"web": web})
    config = SimpleNamespace(daemon=daemon, path=None, sources=site.config.sources)
    return SimpleNamespace(
        config=config, daemon=site.daemon, clock=site.clock, active=False, scheduler=None
    )


def test_serves_pages_and_stops(site) -> None:
    """Pages over real HTTP with the security headers; close() frees the port."""
    server = ConsoleServer(ServiceBackend(service_for(site, {})), WebOptions(port=0)).start()
    port = server.port
    with urllib.request.urlopen(server.url + "/alerts", timeout=30) as answer:
        assert answer.status == 200
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Server"] == "customs-monitor"
    server.close()
    assert not server.thread.is_alive()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # free again


def test_a_taken_port_leaves_the_daemon_running_without_console(site, caplog) -> None:
    """Port in use: an error in the log, no console, no exception for the daemon."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="monitor.web.server"):
            assert start_console(service_for(site, {"port": port})) is None
    assert f"console: cannot listen on 127.0.0.1:{port}" in caplog.text


def test_enabled_false_starts_nothing(site) -> None:
    """daemon.web with enabled: false: no console."""
    assert start_console(service_for(site, {"enabled": False, "port": 0})) is None
