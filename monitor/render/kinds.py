"""What kind of notice an alert makes: a figure that moved, a release that did not come, or the
monitor itself being unwell. Each kind says different things: a missing release has no figure of
its own, an ops notice is about a source or channel rather than a trade series."""

from __future__ import annotations

from monitor.model import Alert

KIND_ALERT = "alert"
KIND_MISSING = "missing"
KIND_OPS = "ops"


def alert_kind(alert: Alert) -> str:
    """``KIND_MISSING`` for a missing-release alert, ``KIND_OPS`` for an ops notice (no series,
    label ``ops=true``), else ``KIND_ALERT``."""
    if alert.context.get("condition") == "missing_release":
        return KIND_MISSING
    # monitor.daemon.ops builds these: notices of no series, labelled ops=true
    if not alert.is_series and alert.labels.get("ops") == "true":
        return KIND_OPS
    return KIND_ALERT
