"""Small helpers for located option validation shared by config, sources and channels."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from typing import Any

from monitor.errors import Problem
from monitor.yamlload import Mark, mark_of


def _where(obj: Any, key: str | None, path: str) -> Mark:
    if key is not None and hasattr(obj, "where"):
        return obj.where(key)
    return mark_of(obj, path)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A suffix `` (did you mean 'x'?)`` naming the closest of ``choices``; "" if none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_keys(
    obj: Any,
    *,
    allowed: Collection[str],
    required: Collection[str] = frozenset(),
    path: str,
    what: str,
) -> list[Problem]:
    """Unknown keys (with a suggestion) and missing required keys of a mapping."""
    problems: list[Problem] = []
    if not isinstance(obj, dict):
        m = _where(obj, None, path)
        return [Problem(m.path, m.line, m.column, f"{what} must be a mapping")]
    for key in obj:
        if key not in allowed:
            m = _where(obj, key, path)
            problems.append(
                Problem(
                    m.path,
                    m.line,
                    m.column,
                    f"{what}: unknown key {key!r}{did_you_mean(key, allowed)}",
                )
            )
    for key in sorted(set(required) - set(obj)):
        m = _where(obj, None, path)
        problems.append(Problem(m.path, m.line, m.column, f"{what}: missing required key {key!r}"))
    return problems


def problem_at(obj: Any, key: str | None, path: str, message: str) -> Problem:
    """``message`` located at ``key``'s value in the located YAML ``obj`` (None: at ``obj``
    itself); unlocated input falls back to ``path`` with line 0."""
    m = (
        obj.value_where(key)
        if key is not None and hasattr(obj, "value_where")
        else _where(obj, key, path)
    )
    return Problem(m.path or path, m.line, m.column, message)


#: the extra that installs each database driver the state store supports
DRIVER_EXTRAS = {"psycopg": "postgresql"}


def check_state_driver(config: Any) -> list[Problem]:
    """The state URL's database driver can be imported; else one problem, located at the
    config's ``state:``, naming the extra that installs it (``run`` and ``status`` would
    otherwise die on an ImportError in the middle of opening the store)."""
    import sqlalchemy as sa

    from monitor.store.sql import redact_db_url

    try:
        url = sa.engine.make_url(config.state)
        if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")  # what the store connects with
        dialect = url.get_dialect()
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError):
        return []  # not a URL or not a database we know: the store says which
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        driver = url.get_driver_name()
        extra = DRIVER_EXTRAS.get(driver)
        install = (
            f"pip install 'customs-monitor[{extra}]'"
            if extra
            else f"install the Python package {exc.name or driver!r}"
        )
        m = _state_mark(config)
        return [
            Problem(
                m.path,
                m.line,
                m.column,
                f"state: {redact_db_url(config.state)} needs the {driver} driver, which is "
                f"not installed: {install}",
            )
        ]
    return []


def _state_mark(config: Any) -> Mark:
    where = config.where
    if config.path:
        from monitor.errors import ConfigError
        from monitor.yamlload import load_yaml_file

        try:
            raw = load_yaml_file(config.path)
        except (ConfigError, OSError):
            raw = None
        if isinstance(raw, dict) and "state" in raw and hasattr(raw, "value_where"):
            return raw.value_where("state")
    return Mark(where, 0, 0)
