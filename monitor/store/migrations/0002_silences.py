"""Silences: alerts matching an active silence are recorded, not sent."""

import sqlalchemy as sa

from monitor.store import schema

VERSION = 2

tables = [schema.silences]


def upgrade(conn: sa.Connection) -> None:
    """Create the ``silences`` table."""
    for table in tables:
        table.create(conn)
