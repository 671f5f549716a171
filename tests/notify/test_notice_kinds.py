"""Every kind of notice says figures that match the data: new, revised, resolved, missing, ops.

The alerts come from the real engine and daemon over the bundled real dataset (China's magnet
exports, monitor/data/PROVENANCE.md); revisions are the published figure replaced by a value
set in the test (GACC revises; the dataset holds first releases only), as in
tests/core/test_pipeline.py. Figures expected in the text are computed from the data here.
"""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.daemon.service import Service
from monitor.engine import check_missing, evaluate, load_rules
from monitor.notify.base import CHANGE_NEW, CHANGE_RESOLVED, CHANGE_REVISED, Notice
from monitor.notify.console import ConsoleChannel
from monitor.notify.rendering import render_email, render_slack, render_text
from monitor.render import filters
from monitor.render.history import attach_history
from monitor.resources import bundled_path, default_dataset
from tests.notify.realdata import digest, value_of

RELEASE_DAY = datetime(2026, 1, 20, 3, 0, tzinfo=UTC)


def tonnes(kg: float) -> str:
    return filters.quantity(kg, "kg")


def texts(templates, d) -> dict[str, str]:
    """The digest as the text, Slack and email channels render it."""
    ch = ConsoleChannel("preview", {"format": "text"}, templates=templates)
    slack = render_slack(ch, d).payload
    email = render_email(ch, d, charts=False)
    return {
        "text": render_text(ch, d).text,
        "slack": "\n".join(
            b["text"]["text"] if "text" in b else b["elements"][0]["text"]
            for b in slack["blocks"]
            if b["type"] in ("header", "section", "context")
        ),
        "email": email.text,
        "html": email.payload["html"],
        "subject": email.subject,
    }


@pytest.fixture(scope="module")
def rules():
    return load_rules([str(bundled_path("rules"))])


# -- new ---------------------------------------------------------------------------------------


def test_new_alert_shows_its_value_and_the_figures_behind_it(frame, rules, templates) -> None:
    """A six-month high shows the month's value, the previous high and months known, as in
    the data: US July 2025 over June."""
    fired = [
        a
        for a in evaluate(frame, rules, ["2025-07"])
        if a.rule_id == "magnets-six-month-high" and a.partner == "US"
    ]
    [notice] = attach_history([Notice(fired[0], CHANGE_NEW)], frame)
    july, june = value_of(frame, "US", "2025-07"), value_of(frame, "US", "2025-06")
    for name, text in texts(templates, digest([notice])).items():
        if name == "subject":
            assert "the United States hit a six-month high in July 2025" in text
            continue
        assert f"{tonnes(july)}" in text, name
        assert f"previous high {tonnes(june)} in June 2025" in text, name
        assert "3 of 6 months known" in text, name


# -- revised and resolved: the real daemon, a revised file ------------------------------------


@pytest.fixture
def revise(tmp_path):
    """Run the daemon over the real data, then over the data with US October 2025 replaced
    by ``tonnes``; returns the notices of the second run."""
    made = []

    def run(tonnes_value: str) -> list[Notice]:
        frame = pd.read_csv(default_dataset(), dtype=str)
        data = tmp_path / "magnets.csv"
        frame.to_csv(data, index=False)
        (tmp_path / "monitor.yaml").write_text(
            textwrap.dedent(f"""\
            state: sqlite:///state.db
            initial: alert_all
            sources:
              magnets: {{type: file, path: {data}}}
            channels:
              outbox: {{type: file, format: slack, path: {tmp_path / "sent"}}}
            routes:
              - channels: [outbox]
            """)
        )
        config = load_config(str(tmp_path / "monitor.yaml"), env={})
        daemon = Service(config, clock=ManualClock(RELEASE_DAY))
        made.append(daemon)
        daemon.run_once()
        revised = frame.copy()
        us_october = (revised.period == "2025-10") & (revised.partner == "US")
        revised.loc[us_october, "value"] = tonnes_value
        revised.to_csv(data, index=False)
        _, evaluations, _ = daemon.run_once()
        return [n for e in evaluations for n in e.notices]

    yield run
    for d in made:
        d.close()


def test_revised_notice_shows_the_figure_sent_and_the_new_one(revise, frame, templates) -> None:
    """US October 2025 revised from the published 656 t to 700 t: 'revised: 656 t -> 700 t'."""
    notices = [
        n
        for n in revise("700")
        if n.change == CHANGE_REVISED and n.alert.rule_id == "magnets-six-month-high"
    ]
    published = value_of(frame, "US", "2025-10")
    for name, text in texts(templates, digest(notices)).items():
        if name == "subject":
            assert text.startswith("[customs-monitor] Revised: ")
            continue
        assert tonnes(published) in text and "700 t" in text, name
    assert f"revised: {tonnes(published)} -> 700 t" in texts(templates, digest(notices))["text"]


def test_resolved_notice_shows_the_new_value_not_the_old_one_twice(
    revise, frame, templates
) -> None:
    """US October 2025 revised from 656 t to 400 t ends the six-month high: the notice says
    'was 656 t, now 400 t' (the bug said 'was 656 t, now 656 t')."""
    notices = [
        n
        for n in revise("400")
        if n.change == CHANGE_RESOLVED and n.alert.rule_id == "magnets-six-month-high"
    ]
    assert notices
    published = tonnes(value_of(frame, "US", "2025-10"))
    rendered = texts(templates, digest(notices))
    assert f"no longer holds after a revision: was {published}, now 400 t" in rendered["text"]
    assert f"was {published}, now 400 t" in rendered["slack"]
    assert f"was {published}, now 400 t" in rendered["html"]


def test_resolved_notice_prefers_the_current_figure_it_carries(frame, templates) -> None:
    """A resolved Notice's ``current`` (set by the pipeline) is the 'now' figure."""
    from monitor.notify.base import Notice
    from tests.notify.realdata import alert

    old = alert(frame, "US", "2025-10")
    n = Notice(old, CHANGE_RESOLVED, previous=old.to_dict(), current=400_000.0)
    text = texts(templates, digest([n]))["text"]
    assert f"was {tonnes(old.value)}, now 400 t" in text


# -- missing release ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def missing_notice(frame, rules) -> Notice:
    """The bundled rule's missing-release alert the daemon's clock raises for February 2026:
    due 22 March 2026 (day 20 + 2 days grace, Shanghai time); the data ends at December 2025."""
    late = check_missing(frame, rules, datetime(2026, 3, 23, 12, tzinfo=UTC))
    [alert] = [a for a in late if a.rule_id == "magnets-release-missing"]
    return Notice(alert)


def test_missing_release_carries_no_observation_figure(frame, missing_notice, templates) -> None:
    """No tonnage at all, the month that is late, when it was due and the last month known."""
    rendered = texts(templates, digest([missing_notice], release_id=None))
    latest = frame[frame.partner == "WORLD"].period.max()
    world_values = {tonnes(v) for v in frame[frame.partner == "WORLD"]["value"]}
    for name, text in rendered.items():
        assert not re.search(r"\d t\b", text), (name, text)
        assert not any(v in text for v in world_values), name
        assert "February 2026" in text, name
    for name in ("text", "slack", "email", "html"):
        assert f"latest month on record: {filters.month_name(latest)}" in rendered[name], name
        assert f"due by {missing_notice.alert.context['expected_by']}" in rendered[name], name


def test_missing_release_never_claims_a_release(missing_notice, templates) -> None:
    """A missing-release message has no release: it never says 'released <date>'."""
    d = digest([missing_notice], release_id=None)
    for name, text in texts(templates, d).items():
        assert "released" not in text, name


# -- ops ---------------------------------------------------------------------------------------


def test_ops_notice_says_what_failed_and_nothing_about_trade(tmp_path, templates) -> None:
    """A failing source's ops notice: its summary, the last error; no tonnes or months."""
    from monitor.config.daemon import OpsOptions
    from monitor.daemon import ops
    from monitor.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        start = datetime(2026, 11, 29, 8, tzinfo=UTC)
        for i in range(3):
            store.record_poll(
                "gacc", now=start + timedelta(minutes=i), error="drop folder /x does not exist"
            )
        changes = ops.check(store, OpsOptions(source_failures=3), start + timedelta(minutes=5))
        [alert] = changes.opened
    finally:
        store.close()
    rendered = texts(templates, digest([Notice(alert)], release_id=None))
    for name, text in rendered.items():
        assert "source gacc is failing (3 polls in a row)" in text, name
        assert "November 2026" not in text and "polls in November" not in text, name
    for name in ("text", "slack", "email", "html"):
        assert "last error: drop folder /x does not exist" in rendered[name], name
