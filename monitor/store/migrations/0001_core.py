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
    for table in tables:
        table.create(conn)
