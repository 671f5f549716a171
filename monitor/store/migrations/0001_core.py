"""Core tables: observations and their vintages, releases, alerts, outbox, source state."""

import sqlalchemy as sa

from monitor.store import schema

VERSION = 1
tables = [
    schema.observations,
    schema.observation_vintages,
    schema.releases,
    schema.alerts,
    schema.outbox,
    schema.source_state,
]


def upgrade(conn: sa.Connection) -> None:
    """Create the core tables as ``schema`` defines them now (later migrations allow for it)."""
    for table in tables:
        table.create(conn)
