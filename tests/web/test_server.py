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
        config=config,
        store=site.store,
        rules=site.daemon.rules,
        templates=site.daemon.templates,
        clock=site.clock,
        active=False,
        scheduler=None,
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


def test_the_run_command_starts_the_console(tmp_path) -> None:
    """customs-monitor run with daemon.web serves the console on its port until SIGTERM (the
    command hands the console to the service; the daemon package does not import it)."""
    from tests.daemon.helpers import DaemonProcess, free_port, wait_for
    from tests.web import scenario

    (tmp_path / "tokens").write_text("analyst:analyst-token-0d6b2e7f41a9c385\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    scenario.publish(tmp_path / "published.csv", "2025-09")
    config = scenario.write_config(
        tmp_path, web={"port": port, "token_file": "tokens", "public_url": url}
    )
    daemon = DaemonProcess(config, tmp_path / "daemon.log")

    def answers() -> bool:
        try:
            with urllib.request.urlopen(url + "/alerts", timeout=10) as answer:
                return answer.status == 200
        except OSError:  # not listening yet
            return False

    try:
        wait_for(answers, 60, f"the console on {url} (log: {daemon.log_path})", every=0.2)
        daemon.signal(15)
        assert daemon.wait(60) == 0, daemon.log()
    finally:
        daemon.kill()
