"""Fixtures shared by the render tests: the bundled real dataset and the default templates."""

from __future__ import annotations

import pytest

from monitor.render import TemplateEnv
from tests.notify.realdata import magnets


@pytest.fixture(scope="module")
def frame():
    """The bundled real dataset in the canonical layout (tests/notify/realdata.py)."""
    return magnets()


@pytest.fixture(scope="module")
def templates() -> TemplateEnv:
    return TemplateEnv()
