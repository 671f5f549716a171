"""The state store: one interface (``Store``), one SQLAlchemy Core implementation."""

from __future__ import annotations

from monitor.store.base import (
    ALERT_FIRING,
    ALERT_RESOLVED,
    ALERT_SILENCED,
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTBOX_SENT,
    AlertUpdate,
    OutboxEntry,
    SourceState,
    Store,
    StoredAlert,
)
from monitor.store.sql import SqlStore


def open_store(url: str, *, migrate: bool = True, timeout: float = 30.0) -> SqlStore:
    """Open the store at a SQLAlchemy URL and bring its schema up to date.

    ``timeout``: seconds to wait for a database locked by another process."""
    store = SqlStore(url, timeout=timeout)
    if migrate:
        store.migrate()
    return store


__all__ = [
    "ALERT_FIRING",
    "ALERT_RESOLVED",
    "ALERT_SILENCED",
    "OUTBOX_FAILED",
    "OUTBOX_PENDING",
    "OUTBOX_SENT",
    "AlertUpdate",
    "OutboxEntry",
    "SourceState",
    "SqlStore",
    "Store",
    "StoredAlert",
    "open_store",
]
