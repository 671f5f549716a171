"""The console's read-only pages over a store the real pipeline filled (tests/web/conftest.py):
what each page shows is read back from the store, never typed in."""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

import pandas as pd
import pytest

from monitor.render.links import alert_path, series_path
from monitor.web import queries
from tests.web.scenario import SERIES

US = {**SERIES, "partner": "US"}
US_JULY_HIGH = "magnets-six-month-high|CN|US|85051110|export|net_weight_kg|2025-07"


@pytest.fixture(scope="module")
def client(site):
    return site.app().test_client()


def text(answer) -> str:
    """The page's text without tags, entities decoded, whitespace collapsed."""
    body = re.sub(r"<[^>]+>", " ", answer.get_data(as_text=True))
    words = " ".join(html.unescape(body).split())
    return words.replace(" ,", ",").replace(" :", ":")


def test_alerts_page_lists_every_recorded_alert(site, client) -> None:
    """Each recorded alert appears once, with its rendered headline, linked to its page."""
    records, total = queries.list_alerts(site.store, queries.AlertFilter(), limit=None)
    page = client.get("/alerts")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert f"{total} alerts" in text(page)
    for r in records:
        assert body.count(f'href="{alert_path(r.key)}"') == 1
    headline = "China's rare-earth magnet exports to the United States hit a six-month high"
    assert f"{headline} in July 2025" in text(page)


def test_alerts_show_delivery_per_channel(site, client) -> None:
    """The archive channel shows when it sent; the webhook its permanent failure and why."""
    page = text(client.get("/alerts?" + urlencode({"rule": "magnets-six-month-high"})))
    assert "archive sent 2025-08-20 02:00 UTC" in page
    assert "desk failed: channel 'desk': HTTP 404 from http://127.0.0.1:" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {"rule": "magnets-monthly-jump"},
            {"US 2025-06", "US 2025-07", "WORLD 2025-06", "WORLD 2025-07", "US 2025-10"},
        ),
        ({"partner": "world"}, {"WORLD 2025-06", "WORLD 2025-07", "WORLD 2025-08"}),
        ({"period": "2025-10"}, {"US 2025-10"}),
        ({"severity": "warning", "partner": "US"}, {"US 2019-07", "US 2025-07", "US 2025-10"}),
        ({"commodity": "85051190"}, set()),
        ({"state": "resolved"}, set()),
    ],
)
def test_alert_filters(site, client, query, expected) -> None:
    """Rule, partner, commodity, period, severity and state each narrow the list."""
    flt = queries.AlertFilter(**{k: (v.upper() if k == "partner" else v) for k, v in query.items()})
    records, _ = queries.list_alerts(site.store, flt, limit=None)
    assert {f"{r.alert.partner} {r.alert.period}" for r in records} == expected
    body = client.get("/alerts?" + urlencode(query)).get_data(as_text=True)
    assert sorted(re.findall(r'href="(/alerts/[^"]+)"', body)) == sorted(
        alert_path(r.key) for r in records
    )


def test_alert_page_shows_figures_chart_and_what_each_channel_got(site, client) -> None:
    """The July US high: value and facts, its chart, both channels with the message text."""
    record = queries.get_alert(site.store, US_JULY_HIGH)
    page = client.get(alert_path(US_JULY_HIGH))
    assert page.status_code == 200
    body, words = page.get_data(as_text=True), text(page)
    assert "619 t in July 2025" in words
    assert "previous high 353 t in June 2025" in words
    assert f'src="/charts/alert.png?key={US_JULY_HIGH.replace("|", "%7C")}"' in body
    assert "archive alert #1" in words and "desk alert #2" in words
    assert "failed: channel 'desk': HTTP 404" in words
    sent = queries.deliveries(site.store, [record], with_text=True)[US_JULY_HIGH]
    assert sent[0].text in html.unescape(body)
    assert f'href="{series_path("magnets", US)}"' in body.replace("&amp;", "&")


def test_alert_chart_is_a_png(client) -> None:
    """The alert's chart is drawn by the same code as the email's (PNG)."""
    answer = client.get("/charts/alert.png?" + urlencode({"key": US_JULY_HIGH}))
    assert answer.status_code == 200 and answer.mimetype == "image/png"
    assert answer.data.startswith(b"\x89PNG")


def test_unknown_alert_is_a_404_page(client) -> None:
    """A key no alert has answers 404 with a page saying so."""
    answer = client.get(alert_path("no-such-rule|CN|US|1|export|value_usd|2025-01"))
    assert answer.status_code == 404
    assert "no alert" in text(answer)


def test_series_page_shows_first_publication_and_revision(client) -> None:
    """August 2025 to the US: first 590 t (release 2), now 589 t (release 3)."""
    page = client.get(series_path("magnets", US))
    words = text(page)
    assert page.status_code == 200
    row = re.search(r"2025-08 (590 t.*?) 2025-07", words)
    assert row, words
    assert "590 t release 2, 2025-10-20 02:00 UTC" in row.group(1)
    assert "589 t release 3: 589 t, 2025-11-20 02:00 UTC" in row.group(1)
    assert "-1 t (-0.2%)" in row.group(1)
    assert "2025-07 619 t release 1, 2025-08-20 02:00 UTC as first published" in words


def test_series_page_lists_the_rules_watching_and_what_they_fired(site, client) -> None:
    """Every loaded rule selecting the series, with the months it fired on."""
    words = text(client.get(series_path("magnets", US)))
    fired = "fired on 2025-10 (firing), 2025-07 (firing), 2019-07 (firing)"
    assert f"magnets-six-month-high · period_high · warning {fired}" in words
    assert "magnets-monthly-drop · pct_change · info has not fired on this series" in words
    assert "magnets-release-missing" not in words  # selects partner WORLD only


def test_series_chart_is_a_png(client) -> None:
    """The vintage chart renders."""
    answer = client.get("/charts/series.png?" + series_path("magnets", US).split("?", 1)[1])
    assert answer.status_code == 200 and answer.data.startswith(b"\x89PNG")


def test_series_vintages_agree_with_the_store(site) -> None:
    """The per-series read gives exactly the rows of SqlStore.vintages for that series."""
    mine = queries.series_vintages(site.store, "magnets", US)
    every = site.store.vintages(source="magnets")
    ref = every[
        (every.partner == "US") & (every.commodity == "85051110") & (every.flow == "export")
    ][["period", "release_id", "recorded_at", "value", "unit"]]
    key = ["release_id", "period"]
    pd.testing.assert_frame_equal(
        mine.sort_values(key).reset_index(drop=True),
        ref.sort_values(key).reset_index(drop=True).astype(mine.dtypes.to_dict()),
    )
    assert len(mine) == 11  # 10 months published, one of them twice


def test_releases_page(site, client) -> None:
    """Each release: when, new and revised months, evaluated, and the alerts it recorded."""
    words = text(client.get("/releases"))
    assert "3 releases" in words
    assert "3 magnets 2025-11-20 02:00 UTC 2025-10 2025-08 3 2025-11-20 02:00 UTC 3 firing" in words
    assert "1 magnets (first poll) 2025-08-20 02:00 UTC 2018-07 … 2025-07 (10) — 14" in words


def test_release_page_shows_what_it_fired_and_queued(site, client) -> None:
    """Release 2 fired the world's August high and queued one message per channel."""
    page = text(client.get("/releases/2"))
    assert (
        "China's rare-earth magnet exports to the world hit a six-month high in August 2025" in page
    )
    assert re.search(r"3 archive alert 1 sent .* 4 desk alert 1 failed", page)
    assert client.get("/releases/99").status_code == 404


def test_sources_page(site, client) -> None:
    """Last poll, next poll from the schedule, failures, newest month; no calendar here."""
    words = text(client.get("/sources"))
    assert "magnets file @every 1h 2025-11-20 02:00 UTC" in words
    assert "0 of 3 polls" in words
    assert "2025-10 no release calendar" in words
    assert "next poll" in words


def test_sources_page_gives_the_calendars_next_release(tmp_path) -> None:
    """A source on the GACC calendar shows when the month after its newest is expected."""
    from monitor.clock import ManualClock
    from monitor.config import load_config
    from monitor.daemon.service import Service
    from monitor.web.app import create_app
    from monitor.web.backend import StaticBackend
    from monitor.web.options import WebOptions
    from tests.web import scenario

    scenario.publish(tmp_path / "published.csv", "2025-07")
    config = load_config(str(scenario.write_config(tmp_path, calendar=True)))
    from datetime import UTC, datetime

    clock = ManualClock(datetime(2025, 8, 20, 3, 5, tzinfo=UTC))
    daemon = Service(config, clock=clock)
    daemon.run_once()
    app = create_app(
        StaticBackend(daemon.store, config, daemon.rules, daemon.templates, clock), WebOptions()
    )
    words = text(app.test_client().get("/sources"))
    daemon.close()
    assert "calendar: gacc" in words
    assert "2025-07 2025-09-20 for 2025-08" in words
    # 03:05 UTC is 11:05 in Beijing on the 20th, inside the detail window: polls every 10 min
    assert "2025-08-20 03:10 UTC in 5m" in words


def test_outbox_page_lists_failed_messages_with_their_reason(site, client) -> None:
    """Failed messages with the server's answer; sent ones below; no re-send button signed out."""
    page = client.get("/outbox")
    words = text(page)
    assert "Failed (3)" in words and "Pending (0)" in words
    assert words.count("failed: channel 'desk': HTTP 404 from http://127.0.0.1:") == 3
    assert "Re-send #" not in words


def test_every_page_answers(site, client) -> None:
    """Each page of the navigation renders (200) for an anonymous reader on loopback."""
    for path in ("/", "/alerts", "/releases", "/silences", "/outbox", "/sources", "/activity"):
        answer = client.get(path, follow_redirects=True)
        assert answer.status_code == 200, path


def test_an_ops_incident_page_names_its_subject_not_a_series(fresh) -> None:
    """A failing source's incident: 'About magnets', no series link or chart, silence by subject."""
    from monitor.daemon import ops

    (fresh.folder / "published.csv").unlink()
    for _ in range(3):
        fresh.daemon.poll("magnets")
    [incident] = ops.open_incidents(fresh.store).values()
    client = fresh.app().test_client()
    page = client.get(alert_path(incident.key))
    assert page.status_code == 200
    body, words = page.get_data(as_text=True), text(page)
    assert "About magnets" in words and "source magnets is failing" in words
    assert "/series?" not in body and "/charts/alert.png" not in body
    assert "match=subject%3Dmagnets" in body
    listed = text(client.get("/alerts"))
    assert "about magnets" in listed and "series  →" not in listed
