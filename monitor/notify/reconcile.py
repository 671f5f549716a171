"""What an evaluation changes: the alerts that fired now against the alerts recorded before.

Pure: no store, no clock. The caller records ``updates`` and notifies ``notices`` (after
silences, which may turn a new or revised alert into a silenced one).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from monitor.model import Alert
from monitor.notice import CHANGE_NEW, CHANGE_RESOLVED, CHANGE_REVISED, Notice
from monitor.store.base import (
    ALERT_FIRING,
    ALERT_RESOLVED,
    AlertUpdate,
    StoredAlert,
)


@dataclass
class Reconciliation:
    """Notices in the order found (fired alerts first, then the resolved ones) and the alert
    state to record for each identity that changed."""

    notices: list[Notice] = field(default_factory=list)
    updates: dict[str, AlertUpdate] = field(default_factory=dict)

    def count(self, change: str) -> int:
        """Notices of one kind of change: ``new``, ``revised`` or ``resolved``."""
        return sum(n.change == change for n in self.notices)


def reconcile(
    fired: Iterable[Alert],
    stored: Mapping[str, StoredAlert],
    *,
    rules: Collection[str],
    release_id: int | None,
) -> Reconciliation:
    """New (never recorded, or resolved before), revised (firing with other figures) and
    resolved (firing before, not fired now, by a rule still loaded) alerts of one evaluation.

    An alert recorded as silenced keeps quiet: new figures are recorded, nothing is sent. An
    alert with the same figures as recorded changes nothing.
    """
    out = Reconciliation()
    fired_keys: set[str] = set()
    for alert in fired:
        fired_keys.add(alert.key)
        old = stored.get(alert.key)
        if old is None or old.state == ALERT_RESOLVED:
            out.notices.append(Notice(alert, CHANGE_NEW))
        elif alert.same_figures(old.fingerprint):
            continue
        elif old.state == ALERT_FIRING:
            out.notices.append(Notice(alert, CHANGE_REVISED, previous=old.alert))
        else:  # silenced: keep quiet, keep the new figures
            out.updates[alert.key] = AlertUpdate(alert, old.state, release_id)
            continue
        out.updates[alert.key] = AlertUpdate(alert, ALERT_FIRING, release_id)
    for key, old in stored.items():
        if key in fired_keys or old.state != ALERT_FIRING or old.rule_id not in rules:
            continue
        gone = Alert.from_dict(old.alert)
        out.notices.append(Notice(gone, CHANGE_RESOLVED, previous=old.alert))
        out.updates[key] = AlertUpdate(gone, ALERT_RESOLVED, release_id)
    return out
