"""Every message links to the alert's console page when daemon.web.public_url is set: Slack,
email (HTML and text) and Alertmanager's generatorURL; the alerts are the real July 2025 ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.notify.alertmanager import AlertmanagerChannel
from monitor.notify.email import EmailChannel
from monitor.notify.slack import SlackWebhookChannel
from monitor.render import TemplateEnv
from monitor.render.links import alert_path, alert_url
from monitor.runtime import template_env
from tests.notify.realdata import digest, magnets, notice

PUBLIC = "https://monitor.example.org/console"


@pytest.fixture(scope="module")
def frame():
    return magnets()


@pytest.fixture
def linked() -> TemplateEnv:
    env = TemplateEnv()
    env.console_url = PUBLIC
    return env


def test_alert_url_encodes_the_key_whole() -> None:
    """The key's '|' and '/' are percent-encoded: a link can never end early in Slack."""
    key = "magnets-six-month-high|CN|US|85051110|export|net_weight_kg|2025-07"
    assert alert_url(PUBLIC + "/", key) == PUBLIC + alert_path(key)
    assert alert_path(key) == (
        "/alerts/magnets-six-month-high%7CCN%7CUS%7C85051110%7Cexport%7Cnet_weight_kg%7C2025-07"
    )
    assert alert_path("a/b c") == "/alerts/a%2Fb%20c"
    assert alert_url(None, key) is None


def test_slack_message_links_each_alert(linked, frame) -> None:
    """Each alert's section ends with a mrkdwn link to its page."""
    n = notice(frame, "US", "2025-07")
    ch = SlackWebhookChannel("s", {"webhook_url": "http://127.0.0.1:9/x"}, templates=linked)
    blocks = ch.render(digest([n])).payload["blocks"]
    section = next(b for b in blocks if b["type"] == "section")["text"]["text"]
    assert f"<{PUBLIC}{alert_path(n.alert.key)}|Open in the console>" in section


def test_no_public_url_no_link(templates_plain, frame) -> None:
    """Without public_url the messages say nothing about a console."""
    ch = SlackWebhookChannel(
        "s", {"webhook_url": "http://127.0.0.1:9/x"}, templates=templates_plain
    )
    message = ch.render(digest([notice(frame, "US", "2025-07")]))
    assert "console" not in str(message.payload["blocks"]).lower()


def test_email_links_each_alert(linked, frame) -> None:
    """The HTML part has an href to the page and the text part the URL itself."""
    n = notice(frame, "DE", "2025-07")
    ch = EmailChannel(
        "mail",
        {"host": "127.0.0.1", "from": "m@example.org", "to": ["a@example.org"]},
        templates=linked,
    )
    message = ch.render(digest([n]))
    url = PUBLIC + alert_path(n.alert.key)
    assert f'href="{url}"' in message.payload["html"]
    assert url in message.text


def test_alertmanager_generator_url_is_the_alert_page(linked, frame) -> None:
    """generatorURL points at the alert's page (it was the source's data page before)."""
    notices = [notice(frame, p, "2025-07") for p in ("US", "WORLD")]
    ch = AlertmanagerChannel("am", {"url": "http://127.0.0.1:9"}, templates=linked)
    alerts = ch.render(digest(notices)).payload["alerts"]
    assert [a["generatorURL"] for a in alerts] == [
        PUBLIC + alert_path(n.alert.key) for n in notices
    ]


def test_alertmanager_without_public_url_keeps_the_source_link(templates_plain, frame) -> None:
    """No console address: generatorURL stays the source's data page."""
    ch = AlertmanagerChannel("am", {"url": "http://127.0.0.1:9"}, templates=templates_plain)
    alerts = ch.render(digest([notice(frame, "US", "2025-07")])).payload["alerts"]
    assert alerts[0]["generatorURL"] == "https://stats.customs.gov.cn/"


def test_template_env_takes_public_url_from_the_config(tmp_path: Path) -> None:
    """runtime.template_env reads daemon.web.public_url; a console turned off gives no links."""
    on = tmp_path / "on.yaml"
    on.write_text(f"daemon:\n  web: {{public_url: '{PUBLIC}/'}}\n")
    off = tmp_path / "off.yaml"
    off.write_text(f"daemon:\n  web: {{public_url: '{PUBLIC}', enabled: false}}\n")
    assert template_env(load_config(str(on))).console_url == PUBLIC
    assert template_env(load_config(str(off))).console_url is None
    assert template_env(load_config(None)).console_url is None


@pytest.fixture
def templates_plain() -> TemplateEnv:
    return TemplateEnv()


def test_a_key_in_three_words_names_the_partner_or_the_notices_subject() -> None:
    """key_text: rule, partner (or an ops notice's subject) and period, read from the key."""
    from monitor.model import Alert
    from monitor.render.links import key_text

    series = "magnets-six-month-high|CN|US|85051110|export|net_weight_kg|2025-07"
    assert key_text(series) == "magnets-six-month-high US 2025-07"
    notice = Alert.notice(
        "ops-source-failing",
        "2025-08",
        {"ops": "true", "subject": "gacc", "incident_id": "20250820T030000Z"},
        value=3.0,
        unit="polls",
    )
    assert key_text(notice.key) == "ops-source-failing gacc 2025-08"
