"""Releases whose evaluation failed: attempts, the last error and when to try again.

A release whose evaluation raises is marked with its error and retried with backoff; it no
longer blocks the releases and sources behind it.
"""

from __future__ import annotations

import sqlalchemy as sa

VERSION = 4
tables: list[sa.Table] = []


def upgrade(conn: sa.Connection) -> None:
    """Add the ``releases`` retry columns (attempts, last error, next attempt) where missing."""
    # A store created at this version already has them: migration 0001 creates the releases
    # table from its current definition.
    have = {c["name"] for c in sa.inspect(conn).get_columns("releases")}
    for name, kind in (
        ("attempts", "INTEGER NOT NULL DEFAULT 0"),
        ("last_error", "TEXT"),
        ("next_attempt_at", "TEXT"),
    ):
        if name not in have:
            conn.execute(sa.text(f"ALTER TABLE releases ADD COLUMN {name} {kind}"))
