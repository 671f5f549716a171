"""Table definitions (SQLAlchemy Core) and the migration runner.

Migrations live in ``monitor/store/migrations/NNNN_name.py``; each defines ``VERSION``,
``tables`` (the tables it creates, on this module's ``metadata``) and ``upgrade(conn)``. They run
in order, each in its own transaction together with the version bump, so a crash mid-migration
leaves the previous version intact. The same migrations serve SQLite and PostgreSQL.
"""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime
from types import ModuleType

import sqlalchemy as sa

metadata = sa.MetaData()

#: every timestamp column: UTC text of fixed width, so text order is time order
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def ts(when: datetime) -> str:
    """A timestamp column's text for an aware datetime."""
    if when.tzinfo is None:
        raise ValueError("naive datetime given to the store")
    return when.astimezone(UTC).strftime(TS_FORMAT)


def parse_ts(text: str | None) -> datetime | None:
    """The aware datetime of a timestamp column (None for NULL)."""
    return datetime.strptime(text, TS_FORMAT).replace(tzinfo=UTC) if text else None


schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.Text, nullable=False),
)

_KEY = ("source", "reporter", "partner", "commodity", "flow", "measure", "period")

# Schema 1-2 kept observations as text-keyed rows (``observations``, ``observation_vintages``);
# migration 0003 converts them to the columnar data plane below and drops them. They stay
# defined here because migration 0001 still creates them on the way up.
observations = sa.Table(
    "observations",
    metadata,
    *(sa.Column(c, sa.Text, primary_key=True) for c in _KEY),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("unit", sa.Text, nullable=False),
    sa.Column("release_id", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
)

observation_vintages = sa.Table(
    "observation_vintages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    *(sa.Column(c, sa.Text, nullable=False) for c in _KEY),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("unit", sa.Text, nullable=False),
    sa.Column("release_id", sa.Integer, nullable=False),
    sa.Column("recorded_at", sa.Text, nullable=False),
    sa.Index("ix_vintages_key", *_KEY),
)

# -- the data plane (monitor/store/observations.py) --------------------------------------------

series_blocks = sa.Table(
    "series_blocks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("first_id", sa.Integer, nullable=False),  # ids first_id .. first_id + count - 1
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("release_id", sa.Integer, nullable=True),  # NULL: converted by a migration
    sa.Column("data", sa.LargeBinary, nullable=False),  # Parquet: id + the five key columns
    sa.Index("ix_series_blocks_source", "source", "first_id"),
)

segments = sa.Table(
    "segments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("period", sa.Integer, nullable=False),  # month number (model.period_to_month)
    sa.Column("release_id", sa.Integer, nullable=True),  # NULL: converted by a migration
    sa.Column("kind", sa.Text, nullable=False),  # vintage | snapshot
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),  # Parquet: series, value, unit
    sa.Index("ix_segments_source_period", "source", "period", "kind"),
)

month_state = sa.Table(
    "month_state",
    metadata,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("period", sa.Integer, primary_key=True),
    sa.Column("snapshot_id", sa.Integer, nullable=False),  # segment holding the current rows
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("payload_digest", sa.Text, nullable=True),  # of the last payload for the month
    sa.Column("release_id", sa.Integer, nullable=True),  # the last release that changed it
    sa.Column("updated_at", sa.Text, nullable=False),
)

# -- the control plane -------------------------------------------------------------------------

releases = sa.Table(
    "releases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.Text, nullable=False, index=True),
    sa.Column("detected_at", sa.Text, nullable=False),
    sa.Column("new_periods", sa.Text, nullable=False),  # JSON list
    sa.Column("revised_periods", sa.Text, nullable=False),  # JSON list
    sa.Column("observations", sa.Integer, nullable=False),
    sa.Column("initial", sa.Boolean, nullable=False),
    sa.Column("evaluated_at", sa.Text, nullable=True),  # NULL = evaluation pending
    # Added by migration 0004: a failed evaluation is retried at next_attempt_at.
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("next_attempt_at", sa.Text, nullable=True),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),  # rule|series|period
    sa.Column("rule_id", sa.Text, nullable=False, index=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("period", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # JSON Alert.to_dict()
    sa.Column("first_release_id", sa.Integer, nullable=True),
    sa.Column("last_release_id", sa.Integer, nullable=True),
    sa.Column("fired_at", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("dedup_key", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),  # JSON RenderedMessage
    sa.Column("alert_keys", sa.Text, nullable=False),  # JSON list
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("next_attempt_at", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("sent_at", sa.Text, nullable=True),
    sa.UniqueConstraint("channel", "dedup_key", name="uq_outbox_channel_dedup"),
    sa.Index("ix_outbox_due", "state", "next_attempt_at"),
)

source_state = sa.Table(
    "source_state",
    metadata,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("cursor", sa.Text, nullable=False),  # JSON
    sa.Column("last_poll_at", sa.Text, nullable=True),
    sa.Column("last_success_at", sa.Text, nullable=True),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("polls", sa.Integer, nullable=False, default=0),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
)

# Alerts matching an active silence are recorded, not sent (created by migration 0002).
silences = sa.Table(
    "silences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rule", sa.Text, nullable=True),  # rule id or pattern; NULL = any rule
    sa.Column("matchers", sa.Text, nullable=False),  # JSON {label: value-or-pattern}
    sa.Column("starts_at", sa.Text, nullable=False),
    sa.Column("ends_at", sa.Text, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=True),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("expired_at", sa.Text, nullable=True),  # set by `silence expire`
    sa.Index("ix_silences_active", "expired_at", "ends_at"),
)


def migrations() -> list[ModuleType]:
    """Every migration module (``NNNN_name.py``), imported, in ``VERSION`` order.

    Raises RuntimeError when two share a version."""
    from monitor.store import migrations as package

    mods = [
        importlib.import_module(f"{package.__name__}.{m.name}")
        for m in pkgutil.iter_modules(package.__path__)
        if m.name[:4].isdigit()
    ]
    mods.sort(key=lambda m: m.VERSION)
    versions = [m.VERSION for m in mods]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions: {versions}")
    return mods


def latest_version() -> int:
    """The newest schema version this release can migrate to (0 when there is no migration)."""
    return max((m.VERSION for m in migrations()), default=0)
