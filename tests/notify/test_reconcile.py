"""reconcile: the alerts fired now against those recorded before (real July 2025 alerts from
the bundled magnets dataset, tests/notify/realdata.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from monitor.notify.reconcile import reconcile
from monitor.store import ALERT_FIRING, ALERT_RESOLVED, ALERT_SILENCED, StoredAlert
from tests.notify.realdata import alert

RULES = {"magnets-six-month-high"}
WHEN = datetime(2025, 8, 20, tzinfo=UTC)


def _stored(a, state=ALERT_FIRING, fingerprint=None) -> dict[str, StoredAlert]:
    record = StoredAlert(
        key=a.key,
        rule_id=a.rule_id,
        period=a.period,
        state=state,
        fingerprint=fingerprint or a.fingerprint(),
        alert=a.to_dict(),
        first_release_id=1,
        fired_at=WHEN,
    )
    return {a.key: record}


def test_an_alert_never_recorded_is_new(frame) -> None:
    """A fired alert with no record is one new notice, recorded as firing."""
    a = alert(frame, "US", "2025-07")
    out = reconcile([a], {}, rules=RULES, release_id=2)
    assert [(n.change, n.alert.key) for n in out.notices] == [("new", a.key)]
    assert out.updates[a.key].state == ALERT_FIRING and out.updates[a.key].release_id == 2


def test_same_figures_change_nothing(frame) -> None:
    """Firing again with the recorded figures gives no notice and no update."""
    a = alert(frame, "US", "2025-07")
    out = reconcile([a], _stored(a), rules=RULES, release_id=2)
    assert out.notices == [] and out.updates == {}


def test_other_figures_are_a_revision(frame) -> None:
    """Firing with other figures than the firing record is a revised notice carrying the old."""
    a = alert(frame, "US", "2025-07")
    moved = replace(a, value=a.value + 1.0)
    out = reconcile([moved], _stored(a), rules=RULES, release_id=2)
    assert [n.change for n in out.notices] == ["revised"]
    assert out.notices[0].previous == a.to_dict()


def test_a_silenced_record_keeps_quiet(frame) -> None:
    """A silenced record with new figures is updated, still silenced, and nothing is sent."""
    a = alert(frame, "US", "2025-07")
    moved = replace(a, value=a.value + 1.0)
    out = reconcile([moved], _stored(a, ALERT_SILENCED), rules=RULES, release_id=2)
    assert out.notices == []
    assert out.updates[a.key].state == ALERT_SILENCED


def test_a_resolved_record_fires_anew(frame) -> None:
    """An alert that resolved before and fires again is new again."""
    a = alert(frame, "US", "2025-07")
    out = reconcile([a], _stored(a, ALERT_RESOLVED), rules=RULES, release_id=2)
    assert [n.change for n in out.notices] == ["new"]


def test_a_firing_record_not_fired_now_resolves(frame) -> None:
    """A firing record whose rule is loaded but did not fire is resolved."""
    a = alert(frame, "US", "2025-07")
    out = reconcile([], _stored(a), rules=RULES, release_id=2)
    assert [(n.change, n.alert.key) for n in out.notices] == [("resolved", a.key)]
    assert out.updates[a.key].state == ALERT_RESOLVED


def test_a_removed_rule_resolves_nothing(frame) -> None:
    """Records of a rule no longer loaded are left alone (removing a rule is not a revision)."""
    a = alert(frame, "US", "2025-07")
    out = reconcile([], _stored(a), rules={"another-rule"}, release_id=2)
    assert out.notices == [] and out.updates == {}
