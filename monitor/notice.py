"""What the notify and render layers share: the change an evaluation made to one alert
(``Notice``) and everything one message carries (``Digest``).

It sits below both: notify routes, silences and queues these; render turns them into text and
charts; neither has to import the other to agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.model import Alert

CHANGE_NEW = "new"
CHANGE_REVISED = "revised"  # a revision changed the figures of an alert already sent
CHANGE_RESOLVED = "resolved"  # a revision made an alert already sent no longer hold


@dataclass(frozen=True)
class Notice:
    """One alert and how it changed (``change``: new, revised or resolved), with what to show."""

    alert: Alert
    change: str = CHANGE_NEW
    #: the series' recent months, oldest first, ``(period, value or None)``; ends at alert.period
    history: tuple[tuple[str, float | None], ...] = ()
    #: for revised/resolved: the figures that were sent before (``Alert.to_dict()`` of the old one)
    previous: dict[str, Any] | None = None
    #: for resolved: the series' value for alert.period after the revision (None: not known
    #: here; the view then reads it from ``history``, which ends at alert.period)
    current: float | None = None
    #: for share alerts: the partner's share of the reporter's total in percent, same months
    #: as ``history`` (monitor.render.history.share_history_for); charts show it
    share_history: tuple[tuple[str, float | None], ...] = ()


@dataclass(frozen=True)
class Digest:
    """Everything one release fired for one route, to be sent as one message per channel."""

    source: str
    release_id: int | None
    release_date: str  # ISO date the release was detected
    route: str  # route name or index, for grouping keys
    notices: tuple[Notice, ...]
    test: bool = False  # send-test: clearly marked as a test
    source_url: str | None = None  # link to the source (no secrets)
