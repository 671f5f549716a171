"""Fixtures of the daemon tests: a fresh PostgreSQL database per test (dropped afterwards).

PostgreSQL runs on 127.0.0.1:5432 with trust auth (.ci/ensure-postgres starts it in CI); these
tests fail rather than skip when it is down, so HA is never silently untested.
"""

from __future__ import annotations

import os
import secrets

import psycopg
import pytest

PG_ADMIN = os.environ.get("CM_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def pg_url():
    """A SQLAlchemy URL of a brand-new database, dropped (with its sessions) after the test."""
    name = f"cm_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
