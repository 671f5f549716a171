"""Silences on the real store (SQLite file; PostgreSQL when the server is there)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
import sqlalchemy as sa

from monitor.errors import ConfigError
from monitor.notify import silences
from monitor.store import open_store
from monitor.store import silences as stored
from tests.notify.realdata import alert


def test_add_list_and_match(store, now, frame) -> None:
    """An active silence for one rule and partner matches only that partner's alerts."""
    s = silences.add(
        store,
        rule="magnets-six-*",
        matchers={"partner": "US"},
        until=now + timedelta(days=7),
        comment="known embargo effect",
        now=now,
    )
    assert [x.id for x in silences.active(store, now)] == [s.id]
    assert s.matches(alert(frame, "US", "2025-07"))
    assert not s.matches(alert(frame, "DE", "2025-07"))
    assert not s.matches(alert(frame, "US", "2025-07", rule="magnets-monthly-jump"))
    assert silences.list_silences(store, now=now)[0].comment == "known embargo effect"


def test_silence_ends_at_until(store, now) -> None:
    """After --until the silence is no longer active (but still listed with --all)."""
    silences.add(store, rule="r", until=now + timedelta(hours=1), comment="c", now=now)
    later = now + timedelta(hours=1, seconds=1)
    assert silences.active(store, later) == []
    assert silences.list_silences(store, now=later) == []
    assert len(silences.list_silences(store, include_expired=True)) == 1


def test_expire_ends_a_silence_now(store, now) -> None:
    """silence expire ID stops it immediately; expiring twice keeps the first time."""
    s = silences.add(store, rule="r", until=now + timedelta(days=1), comment="c", now=now)
    done = silences.expire(store, s.id, now=now + timedelta(minutes=5))
    again = silences.expire(store, s.id, now=now + timedelta(minutes=9))
    assert done.expired_at == again.expired_at == now + timedelta(minutes=5)
    assert silences.active(store, now + timedelta(minutes=6)) == []


def test_expire_unknown_id(store, now) -> None:
    """Expiring an id that does not exist is a clear error."""
    with pytest.raises(ConfigError, match="no silence with id 99"):
        silences.expire(store, 99, now=now)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rule": None, "matchers": {}}, "needs --rule or at least one --match"),
        ({"rule": "r", "comment": " "}, "needs a --comment"),
        ({"rule": "r", "until_days": -1}, "not in the future"),
    ],
)
def test_add_refuses_bad_silences(store, now, kwargs, message) -> None:
    """Silences that would hide everything, say nothing or end in the past are refused."""
    until = now + timedelta(days=kwargs.pop("until_days", 1))
    args = {"comment": "c", "matchers": None, **kwargs}
    with pytest.raises(ConfigError, match=message):
        silences.add(store, until=until, now=now, **args)


def test_parse_matchers() -> None:
    """--match label=value pairs parse; anything else is a usage error."""
    assert silences.parse_matchers(["partner=US", "desk = magnets"]) == {
        "partner": "US",
        "desk": "magnets",
    }
    with pytest.raises(ConfigError, match="expected label=value"):
        silences.parse_matchers(["partner"])


def test_upgrade_on_plain_engine(tmp_path, now) -> None:
    """The migration creates its table on a bare SQLAlchemy engine too: a store opened on that
    database without migrating keeps silences in it."""
    import importlib

    url = f"sqlite:///{tmp_path / 'bare.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        importlib.import_module("monitor.store.migrations.0002_silences").upgrade(conn)
    engine.dispose()
    bare = open_store(url, migrate=False)
    try:
        silences.add(bare, rule="r", until=now + timedelta(days=1), comment="c", now=now)
        assert len(silences.active(bare, now)) == 1
    finally:
        bare.close()


def _postgres_url() -> str | None:
    import psycopg

    for user in ("postgres", "root"):
        try:
            psycopg.connect(
                f"host=127.0.0.1 port=5432 dbname=test user={user}", connect_timeout=2
            ).close()
            return f"postgresql://{user}@127.0.0.1:5432/test"
        except psycopg.OperationalError:
            continue
    return None


@pytest.mark.postgres
def test_silences_on_postgresql(now) -> None:
    """The store's silence statements work on PostgreSQL (a scratch schema, dropped
    afterwards)."""
    import importlib

    url = _postgres_url()
    if url is None:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    schema = f"silences_test_{secrets.token_hex(4)}"  # beside another run of the suite
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    scoped = engine.execution_options(schema_translate_map={None: schema})
    try:
        with scoped.begin() as conn:
            importlib.import_module("monitor.store.migrations.0002_silences").upgrade(conn)
            s = stored.insert(
                conn,
                rule="r",
                matchers={"partner": "US"},
                starts_at=now,
                ends_at=now + timedelta(days=1),
                comment="c",
                created_by=None,
                now=now,
            )
        with scoped.connect() as conn:
            assert [x.id for x in stored.active(conn, now)] == [s.id]
        with scoped.begin() as conn:
            stored.expire(conn, s.id, now)
        with scoped.connect() as conn:
            assert stored.active(conn, now + timedelta(seconds=1)) == []
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()
