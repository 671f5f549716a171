"""Console actions: every write made through the web console, with who, from where and when."""

import sqlalchemy as sa

from monitor.store import schema

VERSION = 5

console_actions = sa.Table(
    "console_actions",
    schema.metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Text, nullable=False),  # same fixed-width UTC text as the store
    sa.Column("who", sa.Text, nullable=False),  # the token holder's name (token_file)
    sa.Column("remote", sa.Text, nullable=True),  # the client address the request came from
    sa.Column("action", sa.Text, nullable=False),  # silence.add | silence.expire | outbox.resend
    sa.Column("target", sa.Text, nullable=False),  # silence id, outbox message id
    sa.Column("detail", sa.Text, nullable=False),  # JSON: what was done, in words and figures
    sa.Index("ix_console_actions_at", "at"),
)

tables = [console_actions]


def upgrade(conn: sa.Connection) -> None:
    """Create the ``console_actions`` table."""
    for table in tables:
        table.create(conn)
