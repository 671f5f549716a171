"""Small helpers for located option validation shared by config, sources and channels."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from monitor.errors import Problem
from monitor.yamlload import Mark


def _where(obj: Any, key: str | None, path: str) -> Mark:
    if key is not None and hasattr(obj, "where"):
        return obj.where(key)
    return getattr(obj, "mark", Mark(path, 0, 0))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_keys(
    obj: Any, *, allowed: set[str], required: set[str] = frozenset(), path: str, what: str
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
    for key in sorted(required - set(obj)):
        m = _where(obj, None, path)
        problems.append(Problem(m.path, m.line, m.column, f"{what}: missing required key {key!r}"))
    return problems


def problem_at(obj: Any, key: str | None, path: str, message: str) -> Problem:
    m = (
        obj.value_where(key)
        if key is not None and hasattr(obj, "value_where")
        else _where(obj, key, path)
    )
    return Problem(m.path or path, m.line, m.column, message)
