"""Fixtures shared by the notify tests: the real magnet data, templates, a local HTTP peer."""

from __future__ import annotations

import pytest

from monitor.render import TemplateEnv
from tests.notify.realdata import magnets
from tests.notify.servers import http_peer


@pytest.fixture(scope="module")
def frame():
    """The bundled real dataset in the canonical layout (tests/notify/realdata.py)."""
    return magnets()


@pytest.fixture(scope="module")
def templates() -> TemplateEnv:
    return TemplateEnv()


@pytest.fixture
def peer():
    """A local HTTP server speaking the webhook protocols, on 127.0.0.1."""
    with http_peer() as p:
        yield p
