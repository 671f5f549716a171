"""HTTP channels against a real local server: Slack webhook and Web API, Alertmanager, generic
webhook; every Slack payload received is checked with slack_sdk's Block Kit models."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json

import pytest

from monitor.errors import ConfigError, DeliveryError
from monitor.notify.alertmanager import AlertmanagerChannel
from monitor.notify.base import CHANGE_RESOLVED, Notice
from monitor.notify.slack import SlackApiChannel, SlackWebhookChannel
from monitor.notify.webhook import SIGNATURE_HEADER, WebhookChannel
from tests.notify.realdata import digest, july_notices, notice
from tests.notify.servers import Reply, http_peer

HOOK = "/services/T0001/B0001/abcdefSECRET"


def hook(peer, templates, **options) -> SlackWebhookChannel:
    return SlackWebhookChannel(
        "slack", {"webhook_url": peer.url + HOOK, **options}, templates=templates
    )


def test_webhook_200_ok(peer, templates, frame) -> None:
    """Slack's "200 ok" is success; the body has blocks and a text fallback."""
    ch = hook(peer, templates)
    ch.send(ch.render(digest(july_notices(frame))))
    body = peer.received[0].json
    assert peer.received[0].path == HOOK
    assert body["text"].startswith("3 alerts from magnets")
    assert peer.block_problems == []


@pytest.mark.parametrize(
    ("reply", "permanent", "retry_after"),
    [
        (Reply(429, "rate_limited", {"Retry-After": "30"}), False, 30.0),
        (Reply(500, "oops"), False, None),
        (Reply(404, "no_service"), True, None),
        (Reply(410, "channel_is_archived"), True, None),
        (Reply(403, "invalid_token"), True, None),
        (Reply(400, "invalid_blocks"), True, None),
    ],
)
def test_webhook_failures_are_classified(
    peer, templates, frame, reply, permanent, retry_after
) -> None:
    """Each HTTP answer maps to retry-later or give-up, with Retry-After, never the secret."""
    peer.default = reply
    ch = hook(peer, templates)
    with pytest.raises(DeliveryError) as err:
        ch.send(ch.render(digest(july_notices(frame))))
    assert err.value.permanent is permanent
    assert err.value.retry_after == retry_after
    assert "abcdefSECRET" not in str(err.value) and "channel 'slack'" in str(err.value)


def test_webhook_slow_server_times_out_retryable(peer, templates, frame) -> None:
    """A server slower than the timeout gives a retryable error."""
    peer.default = Reply(200, "ok", delay=1.0)
    ch = hook(peer, templates, timeout=0.3)
    with pytest.raises(DeliveryError, match="timed out") as err:
        ch.send(ch.render(digest(july_notices(frame))))
    assert not err.value.permanent


def test_webhook_url_from_file(peer, templates, frame, tmp_path) -> None:
    """The webhook URL can come from a file (systemd/Docker credentials)."""
    secret = tmp_path / "slack-url"
    secret.write_text(peer.url + HOOK + "\n")
    ch = SlackWebhookChannel("slack", {"webhook_url_file": str(secret)}, templates=templates)
    ch.send(ch.render(digest(july_notices(frame))))
    assert peer.received[0].path == HOOK


def test_webhook_without_url_is_config_error(templates) -> None:
    """A Slack channel without a URL fails at start-up, naming the options to use."""
    with pytest.raises(ConfigError, match="webhook_url_file / webhook_url_env"):
        SlackWebhookChannel("slack", {}, templates=templates)


def test_webhook_min_interval_is_one_second(peer, templates) -> None:
    """Slack webhooks take at most one message per second."""
    assert hook(peer, templates).min_interval == 1.0


def test_api_post_message(peer, templates, frame) -> None:
    """chat.postMessage gets the bot token, the channel and valid blocks."""
    peer.default = Reply(200, json.dumps({"ok": True, "ts": "1.2"}))
    ch = SlackApiChannel(
        "bot",
        {"token": "xoxb-secret", "channel": "C123", "api_url": peer.url + "/api"},
        templates=templates,
    )
    ch.send(ch.render(digest(july_notices(frame))))
    rec = next(r for r in peer.received if r.path.endswith("/chat.postMessage"))
    assert rec.path == "/api/chat.postMessage"
    assert rec.headers["Authorization"] == "Bearer xoxb-secret"
    assert rec.json["channel"] == "C123"
    assert peer.block_problems == []


@pytest.mark.parametrize(
    ("error", "permanent"),
    [("invalid_auth", True), ("channel_not_found", True), ("internal_error", False)],
)
def test_api_errors(peer, templates, frame, error, permanent) -> None:
    """The Web API's {"ok": false} errors are classified permanent or retryable."""
    peer.default = Reply(200, json.dumps({"ok": False, "error": error}))
    ch = SlackApiChannel(
        "bot",
        {"token": "xoxb-secret", "channel": "C123", "api_url": peer.url + "/api"},
        templates=templates,
    )
    with pytest.raises(DeliveryError, match=error) as err:
        ch.send(ch.render(digest(july_notices(frame))))
    assert err.value.permanent is permanent
    assert "xoxb-secret" not in str(err.value)


def test_api_rate_limited(peer, templates, frame) -> None:
    """A 429 from the Web API carries its Retry-After."""
    peer.default = Reply(
        429, json.dumps({"ok": False, "error": "ratelimited"}), {"Retry-After": "5"}
    )
    ch = SlackApiChannel(
        "bot", {"token": "t", "channel": "C1", "api_url": peer.url}, templates=templates
    )
    with pytest.raises(DeliveryError) as err:
        ch.send(ch.render(digest(july_notices(frame))))
    assert err.value.retry_after == 5.0 and not err.value.permanent


def test_alertmanager_payload(peer, templates, frame) -> None:
    """Alertmanager receives one alert per notice with rule labels and readable annotations."""
    ch = AlertmanagerChannel("am", {"url": peer.url, "bearer_token": "tok"}, templates=templates)
    ch.send(ch.render(digest(july_notices(frame))))
    rec = peer.received[0]
    assert rec.path == "/api/v2/alerts"
    assert rec.headers["Authorization"] == "Bearer tok"
    alerts = {a["labels"]["partner"]: a for a in rec.json}
    de = alerts["DE"]
    assert de["labels"]["alertname"] == "magnets-six-month-high"
    assert de["labels"]["desk"] == "magnets" and de["labels"]["severity"] == "warning"
    assert de["annotations"]["summary"].endswith("Germany hit a six-month high in July 2025")
    assert de["annotations"]["description"].startswith("1,116 t in July 2025")
    assert de["startsAt"] == "2025-08-20T00:00:00Z" and de["endsAt"] == "2025-08-27T00:00:00Z"
    assert de["generatorURL"] == "https://stats.customs.gov.cn/"


def test_alertmanager_identifies_an_ops_notice_by_its_labels(peer, templates) -> None:
    """An ops notice reaches Alertmanager as its labels (ops, subject, incident_id), with no
    empty series labels standing in for a trade series."""
    from monitor.model import Alert

    incident = Alert.notice(
        "ops-source-failing",
        "2025-08",
        {"ops": "true", "subject": "gacc", "incident_id": "20250820T030000Z"},
        value=3.0,
        unit="polls",
        severity="critical",
        summary="source gacc is failing (3 polls in a row)",
        source="customs-monitor",
    )
    ch = AlertmanagerChannel("am", {"url": peer.url}, templates=templates)
    ch.send(ch.render(digest([Notice(incident)], release_id=None)))
    [sent] = peer.received[0].json
    assert sent["labels"] == {
        "alertname": "ops-source-failing",
        "severity": "critical",
        "period": "2025-08",
        "source": "customs-monitor",
        "ops": "true",
        "subject": "gacc",
        "incident_id": "20250820T030000Z",
    }
    assert sent["annotations"]["summary"] == "source gacc is failing (3 polls in a row)"


def test_alertmanager_resolved_ends_at_release(peer, templates, frame) -> None:
    """A notice that no longer holds is sent resolved (endsAt = the release date)."""
    ch = AlertmanagerChannel("am", {"url": peer.url}, templates=templates)
    n = notice(frame, "DE", "2025-07", change=CHANGE_RESOLVED, previous={"value": 1.0})
    ch.send(ch.render(digest([n])))
    item = peer.received[0].json[0]
    assert item["endsAt"] == item["startsAt"]


def test_generic_webhook_is_signed(peer, templates, frame) -> None:
    """The generic webhook body carries every alert and an HMAC-SHA256 signature."""
    ch = WebhookChannel(
        "hook",
        {"url": peer.url + "/in", "secret": "k3y", "headers": {"X-Team": "magnets"}},
        templates=templates,
    )
    ch.send(ch.render(digest(july_notices(frame))))
    rec = peer.received[0]
    expected = hmac.new(b"k3y", rec.body, hashlib.sha256).hexdigest()
    assert rec.headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert rec.headers["X-Team"] == "magnets"
    body = rec.json
    assert [a["alert"]["partner"] for a in body["alerts"]] == ["WORLD", "DE", "US"]
    assert body["alerts"][0]["history"][-1] == ["2025-07", 5_577_000.0]


def test_generic_webhook_resend_carries_the_same_idempotency_key(peer, templates, frame) -> None:
    """Sending the same outbox message twice repeats its Idempotency-Key; another differs."""
    ch = WebhookChannel("hook", {"url": peer.url + "/in"}, templates=templates)
    july = ch.render(digest(july_notices(frame)))
    ch.send(july)
    ch.send(july)
    ch.send(ch.render(digest([notice(frame, "DE", "2025-07")])))
    keys = [r.headers["Idempotency-Key"] for r in peer.received]
    assert keys[0] == keys[1] != keys[2] and len(keys[0]) == 32


@pytest.mark.skipif(
    importlib.util.find_spec("apprise") is not None, reason="apprise is installed here"
)
def test_apprise_missing_is_a_clear_error(templates) -> None:
    """Without the optional extra, an apprise channel says how to install it."""
    from monitor.notify.apprise import AppriseChannel

    with pytest.raises(ConfigError, match=r"pip install 'customs-monitor\[apprise\]'"):
        AppriseChannel("teams", {"urls": "msteams://x"}, templates=templates)
    problems = AppriseChannel.check_options("teams", {"type": "apprise", "urls": "x"}, "m.yaml")
    assert any("apprise" in p.message for p in problems)


def test_alertmanager_label_names_are_made_valid(peer, templates, frame) -> None:
    """Rule labels with characters Alertmanager refuses are renamed, values kept."""
    ch = AlertmanagerChannel("am", {"url": peer.url}, templates=templates)
    n = notice(frame, "DE", "2025-07", labels={"desk-name": "magnets", "2nd": "x"})
    ch.send(ch.render(digest([n])))
    labels = peer.received[0].json[0]["labels"]
    assert labels["desk_name"] == "magnets" and labels["_2nd"] == "x"


def test_https_needs_the_private_ca(tmp_path, templates, frame) -> None:
    """TLS is verified: an unknown CA is refused (nothing sent); ca_bundle trusts it."""
    from tests.notify.servers import self_signed_cert

    cert, key = self_signed_cert(tmp_path)
    with http_peer(tls=(cert, key)) as tls_peer:
        url = tls_peer.url + HOOK
        untrusted = SlackWebhookChannel("slack", {"webhook_url": url}, templates=templates)
        message = untrusted.render(digest(july_notices(frame)))
        with pytest.raises(DeliveryError, match="TLS certificate not trusted"):
            untrusted.send(message)
        assert tls_peer.received == []
        trusted = SlackWebhookChannel(
            "slack", {"webhook_url": url, "ca_bundle": str(cert)}, templates=templates
        )
        trusted.send(message)
        assert len(tls_peer.received) == 1


def test_close_closes_the_session_the_channel_made(templates, frame) -> None:
    """Closing a channel closes the connections its own HTTP session kept open."""
    with http_peer(keep_alive=True) as server:
        ch = WebhookChannel("hook", {"url": server.url + "/in"}, templates=templates)
        ch.send(ch.render(digest(july_notices(frame))))
        assert server.open_connections == 1  # kept alive for the next message
        ch.close()
        assert server.all_closed()


def test_close_leaves_an_injected_session_open(templates, frame) -> None:
    """A session handed to the channel is its caller's: the channel's close keeps it usable."""
    import requests

    with http_peer(keep_alive=True) as server, requests.Session() as session:
        ch = WebhookChannel(
            "hook", {"url": server.url + "/in"}, templates=templates, session=session
        )
        ch.send(ch.render(digest(july_notices(frame))))
        ch.close()
        session.post(server.url + "/again", data=b"{}", timeout=10)
        assert len(server.received) == 2
        assert server.connections == 1  # the second request reused the first's connection


def test_a_secret_file_gives_its_first_line(peer, templates, frame, tmp_path) -> None:
    """A ``*_file`` secret is the file's first line, stripped (as systemd credentials and the
    sources' key_file): lines after it are not part of the secret."""
    key = tmp_path / "hook-secret"
    key.write_text("k3y  \n# rotated 2025-08-01\n")
    ch = WebhookChannel(
        "hook", {"url": peer.url + "/in", "secret_file": str(key)}, templates=templates
    )
    ch.send(ch.render(digest(july_notices(frame))))
    rec = peer.received[0]
    expected = hmac.new(b"k3y", rec.body, hashlib.sha256).hexdigest()
    assert rec.headers[SIGNATURE_HEADER] == f"sha256={expected}"


def test_apprise_urls_file_keeps_every_line(tmp_path) -> None:
    """Apprise's urls_file is the exception to the first-line rule: one URL per line."""
    from monitor.config.channels import AppriseOptions

    urls = tmp_path / "apprise-urls"
    urls.write_text("msteams://a/b/c\ndiscord://d/e\n")
    options = AppriseOptions.parse({"urls_file": str(urls)}, what="channel 'teams'")
    assert options.urls_secret.read("teams") == "msteams://a/b/c\ndiscord://d/e"
