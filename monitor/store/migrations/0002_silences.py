"""Silences: alerts matching an active silence are recorded, not sent ."""

import sqlalchemy as sa

from monitor.store import schema

VERSION = 2

silences = sa.Table(
    "silences",
    schema.metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rule", sa.Text, nullable=True),  # rule id or pattern; NULL = any rule
    sa.Column("matchers", sa.Text, nullable=False),  # JSON {label: value-or-pattern}
    sa.Column("starts_at", sa.Text, nullable=False),  # same fixed-width UTC text as the store
    sa.Column("ends_at", sa.Text, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=True),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("expired_at", sa.Text, nullable=True),  # set by `silence expire`
    sa.Index("ix_silences_active", "expired_at", "ends_at"),
)

tables = [silences]


def upgrade(conn: sa.Connection) -> None:
    for table in tables:
        table.create(conn)
