"""Two instances of an HA pair starting together on a new PostgreSQL database both migrate it."""

from __future__ import annotations

import secrets
import threading

import psycopg
import pytest

from monitor.store import open_store
from monitor.store.schema import latest_version
from tests.daemon.conftest import PG_ADMIN

pytestmark = pytest.mark.postgres

ROUNDS = 6  # the race lost about one start in three before the lock covered the first table


def _fresh_database() -> str:
    name = f"cm_test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _open_twice_at_once(url: str) -> tuple[list[int], list[BaseException]]:
    """Open the store from two threads released at the same instant: each one's schema
    version, and what either raised."""
    start = threading.Barrier(2)
    versions: list[int] = []
    errors: list[BaseException] = []

    def open_and_read() -> None:
        start.wait()
        try:
            store = open_store(url)
            versions.append(store.schema_version())
            store.close()
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=open_and_read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return versions, errors


def test_two_stores_opened_at_once_on_a_new_database_both_migrate() -> None:
    """Opened at the same instant, both stores reach the latest schema; neither fails."""
    base = PG_ADMIN.rsplit("/", 1)[0]
    for _ in range(ROUNDS):
        name = _fresh_database()
        try:
            versions, errors = _open_twice_at_once(f"{base}/{name}")
        finally:
            _drop(name)
        assert not errors, errors
        assert versions == [latest_version()] * 2
