"""A console over a real state store: the real pipeline ran three releases of the bundled data
(tests/web/scenario.py) through a file channel and a webhook whose server refuses every message
for good (HTTP 404), so the outbox holds sent and failed messages with their reasons."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.daemon.service import Service
from monitor.web.backend import StaticBackend
from monitor.web.options import WebOptions, load_tokens
from tests.notify.servers import HttpPeer, Reply
from tests.web import scenario

TOKENS = {"alice": "alice-token-0123456789abcdef", "bob": "bob-token-fedcba9876543210"}
HOOK_SECRET_PATH = "/hooks/T0/B0/hook-path-s3cret"
HMAC_SECRET = "hmac-s3cret-never-shown"
#: when each release is polled (the 20th, as GACC publishes), and the months it brings
RELEASES = (
    (datetime(2025, 8, 20, 2, 0, tzinfo=UTC), "2025-07", False),
    (datetime(2025, 10, 20, 2, 0, tzinfo=UTC), "2025-09", False),
    (datetime(2025, 11, 20, 2, 0, tzinfo=UTC), "2025-10", True),
)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Site:
    folder: Path
    config: Any
    daemon: Service
    clock: ManualClock
    hook: HttpPeer

    @property
    def store(self) -> Any:
        return self.daemon.store

    def backend(self) -> StaticBackend:
        d = self.daemon
        return StaticBackend(d.store, self.config, d.rules, d.templates, self.clock)

    def app(self, **options: Any) -> Any:
        from monitor.web.app import create_app

        tokens_file = self.folder / "tokens"
        opts = WebOptions(enabled=True, port=0, token_file=str(tokens_file), **options)
        return create_app(self.backend(), opts, load_tokens(str(tokens_file)))

    def publish(self, when: datetime, until: str, revised: bool = False) -> None:
        self.clock.set(when)
        scenario.publish(self.folder / "published.csv", until, revised=revised)
        self.daemon.run_once()


def build(folder: Path, hook: HttpPeer) -> Site:
    (folder / "tokens").write_text("".join(f"{n}:{t}\n" for n, t in TOKENS.items()))
    path = scenario.write_config(
        folder,
        channels={
            "desk": {
                "type": "webhook",
                "url": hook.url + HOOK_SECRET_PATH,
                "secret": HMAC_SECRET,
            }
        },
    )
    config = load_config(str(path))
    clock = ManualClock(RELEASES[0][0])
    site = Site(folder, config, Service(config, clock=clock), clock, hook)
    for when, until, revised in RELEASES:
        site.publish(when, until, revised)
    site.clock.set(RELEASES[-1][0] + timedelta(hours=1))
    return site


@pytest.fixture(scope="module")
def hook() -> Iterator[HttpPeer]:
    peer = HttpPeer()
    peer.default = Reply(404, "no_service")
    peer.start()
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory, hook) -> Iterator[Site]:
    """Read-only tests share one built store."""
    s = build(tmp_path_factory.mktemp("console"), hook)
    yield s
    s.daemon.close()


@pytest.fixture
def fresh(tmp_path, hook) -> Iterator[Site]:
    """Tests that write get their own store."""
    s = build(tmp_path, hook)
    yield s
    s.daemon.close()


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: Any, name: str = "alice") -> None:
    token = csrf_of(client.get("/login").get_data(as_text=True))
    answer = client.post("/login", data={"token": TOKENS[name], "csrf_token": token})
    assert answer.status_code == 302, answer.get_data(as_text=True)
