"""Email charts: inline (not attachments), one image per distinct chart, shares charted as
shares, drawn at twice the density they are shown at. Alerts come from the real engine over
the bundled real dataset (monitor/data/PROVENANCE.md)."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import struct

import pytest

from monitor.engine import evaluate, load_rules
from monitor.notify.base import Notice
from monitor.notify.console import ConsoleChannel
from monitor.notify.email import build_mime
from monitor.notify.rendering import chart_spec, render_email, view_of
from monitor.render.history import attach_history
from monitor.resources import bundled_path
from tests.notify.realdata import digest, value_of


@pytest.fixture(scope="module")
def october(frame):
    """What the bundled rules fire for the US in October 2025: a six-month high, a monthly
    jump and a share shift, all on the same series and month."""
    rules = load_rules([str(bundled_path("rules"))])
    alerts = [a for a in evaluate(frame, rules, ["2025-10"]) if a.partner == "US"]
    notices = attach_history([Notice(a) for a in alerts], frame)
    return {n.alert.rule_id: n for n in notices}


def channel(templates) -> ConsoleChannel:
    return ConsoleChannel("preview", {"format": "email"}, templates=templates)


def test_charts_are_inline_with_a_content_id(october, templates) -> None:
    """Every chart part is Content-Disposition: inline with a Content-ID the HTML uses."""
    msg = render_email(channel(templates), digest(list(october.values())))
    mime = build_mime(msg, sender="m@example.org", recipients=["a@example.org"])
    parsed = email.message_from_bytes(bytes(mime), policy=email.policy.default)
    images = [p for p in parsed.walk() if p.get_content_type() == "image/png"]
    assert images
    for image in images:
        assert image.get_content_disposition() == "inline"
        assert f"cid:{image['Content-ID'].strip('<>')}" in msg.payload["html"]


def test_alerts_on_one_series_and_month_share_one_chart(october, templates) -> None:
    """The six-month high and the jump chart the same months: one image, referenced twice;
    no two images of a digest are byte-identical."""
    ch = channel(templates)
    d = digest(list(october.values()))
    msg = render_email(ch, d)
    blobs = [base64.b64decode(i["png_b64"]) for i in msg.payload["images"]]
    assert len({hashlib.sha256(b).digest() for b in blobs}) == len(blobs) == 2
    html = msg.payload["html"]
    cids = [i["cid"] for i in msg.payload["images"]]
    assert sorted(html.count(f"cid:{c}") for c in cids) == [1, 2]


def test_share_shift_alert_charts_the_share(october, frame, templates) -> None:
    """The share-shift chart shows the US share of China's total in percent, month by month,
    computed from the data (US / WORLD), not the tonnage."""
    ch = channel(templates)
    view = view_of(ch, digest([october["magnets-share-shift"]]))
    spec = chart_spec(view["notices"][0])
    assert spec is not None and spec["unit"] == "%"
    shares = dict(spec["history"])
    for period in ("2025-09", "2025-10"):
        expected = value_of(frame, "US", period) / value_of(frame, "WORLD", period) * 100
        assert shares[period] == pytest.approx(expected)
    assert shares["2025-10"] == pytest.approx(october["magnets-share-shift"].alert.context["share"])


def test_share_chart_without_history_uses_the_two_shares_the_engine_computed(
    october, templates
) -> None:
    """A share notice handed in without share history still charts shares, never tonnes."""
    n = october["magnets-share-shift"]
    bare = Notice(n.alert, history=n.history)
    spec = chart_spec(view_of(channel(templates), digest([bare]))["notices"][0])
    assert spec is not None and spec["unit"] == "%"
    known = {p: v for p, v in spec["history"] if v is not None}
    context = n.alert.context
    assert known == {
        context["share_before_period"]: context["share_before"],
        n.alert.period: context["share"],
    }


def test_charts_are_drawn_at_twice_the_density(october, templates) -> None:
    """A 6.4-inch chart is 1280 px wide (200 dpi), shown at 560 px in the HTML."""
    msg = render_email(channel(templates), digest([october["magnets-six-month-high"]]))
    png = base64.b64decode(msg.payload["images"][0]["png_b64"])
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert (width, height) == (1280, 520)
    assert 'width="560"' in msg.payload["html"]
