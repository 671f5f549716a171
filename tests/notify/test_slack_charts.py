"""slack_api charts: the email's charts uploaded into the digest's thread, against a local Web
API that keeps Slack's state (tests/notify/slack_api.py); the alerts are the real July 2025
figures (tests/notify/realdata.py)."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime

import pytest

from monitor.clock import ManualClock
from monitor.errors import DeliveryError
from monitor.notify.deliver import deliver_due
from monitor.notify.email import EmailChannel
from monitor.notify.slack import SlackApiChannel
from monitor.store import OUTBOX_SENT, OutboxEntry, open_store
from tests.notify.realdata import digest, july_notices
from tests.notify.slack_api import SlackApiPeer

TOKEN = "xoxb-test-0000-secret"


@pytest.fixture
def api():
    with SlackApiPeer(TOKEN) as peer:
        yield peer


def bot(api, templates, **options) -> SlackApiChannel:
    return SlackApiChannel(
        "bot",
        {"token": TOKEN, "channel": "#trade-desk", "api_url": api.api_url, **options},
        templates=templates,
    )


def test_charts_go_into_the_digest_thread(api, templates, frame) -> None:
    """Upload URL, bytes, message, then completion into that message's thread, in that order."""
    ch = bot(api, templates)
    ch.send(ch.render(digest(july_notices(frame))))
    assert api.calls == [
        "files.getUploadURLExternal",
        "upload",
        "files.getUploadURLExternal",
        "upload",
        "files.getUploadURLExternal",
        "upload",
        "chat.postMessage",
        "files.completeUploadExternal",
    ]
    (message,) = api.messages
    shared = api.shared()
    assert len(shared) == 3
    assert {f.shared_in for f in shared} == {(message.channel, message.ts)}
    assert all(f.data and f.data.startswith(b"\x89PNG") for f in shared)
    assert api.problems == []


def test_the_charts_are_the_emails(api, templates, frame) -> None:
    """Each uploaded PNG is byte for byte a chart the email channel attaches for the digest."""
    ch = bot(api, templates)
    d = digest(july_notices(frame))
    ch.send(ch.render(d))
    email = EmailChannel(
        "mail",
        {"host": "127.0.0.1", "from": "m@example.org", "to": ["a@example.org"]},
        templates=templates,
    )
    images = email.render(d).payload["images"]
    assert [f.data for f in api.shared()] == [base64.b64decode(i["png_b64"]) for i in images]


def test_the_token_is_not_sent_to_the_upload_url(api, templates, frame) -> None:
    """Only the Web API methods get the bot token; the pre-signed upload URL does not."""
    ch = bot(api, templates)
    ch.send(ch.render(digest(july_notices(frame))))
    for f in api.shared():
        assert "Authorization" not in f.upload_headers
        assert TOKEN not in str(f.upload_headers)


def test_a_failed_upload_is_retried_before_anything_is_visible(api, templates, frame) -> None:
    """A 500 while uploading fails the send (retryable) and nothing was posted yet."""
    api.fail["files.getUploadURLExternal"] = [500]
    ch = bot(api, templates)
    with pytest.raises(DeliveryError) as err:
        ch.send(ch.render(digest(july_notices(frame))))
    assert not err.value.permanent
    assert api.messages == []


def test_uploads_refused_for_good_still_send_the_message(api, templates, frame, caplog) -> None:
    """missing_scope on upload: the message is posted without charts, and the log says why."""
    api.fail["files.getUploadURLExternal"] = ["missing_scope"]
    ch = bot(api, templates)
    with caplog.at_level(logging.WARNING, logger="monitor.notify.slack_files"):
        ch.send(ch.render(digest(july_notices(frame))))
    assert len(api.messages) == 1
    assert api.shared() == []
    assert "missing_scope" in caplog.text
    assert TOKEN not in caplog.text


def test_a_failed_completion_does_not_post_the_message_twice(api, templates, frame, caplog) -> None:
    """completeUploadExternal failing after the post is logged; send succeeds (no re-post)."""
    api.fail["files.completeUploadExternal"] = [500]
    ch = bot(api, templates)
    with caplog.at_level(logging.WARNING, logger="monitor.notify.slack_files"):
        ch.send(ch.render(digest(july_notices(frame))))
    assert len(api.messages) == 1
    assert "without its charts" in caplog.text


def test_charts_false_sends_only_the_message(api, templates, frame) -> None:
    """charts: false leaves the file methods alone."""
    ch = bot(api, templates, charts=False)
    ch.send(ch.render(digest(july_notices(frame))))
    assert api.calls == ["chat.postMessage"]


def test_outbox_retry_posts_the_message_once(api, templates, frame, tmp_path) -> None:
    """Through the outbox: a transient upload failure, then success: one message in Slack."""
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    now = datetime(2025, 8, 20, 2, 0, tzinfo=UTC)
    clock = ManualClock(now)
    ch = bot(api, templates)
    message = ch.render(digest(july_notices(frame)))
    store.enqueue(
        [OutboxEntry("bot", "r7:default:new", "alert", message.to_json(), ["k"])], now=now
    )
    api.fail["files.getUploadURLExternal"] = [503]
    assert deliver_due(store, {"bot": ch}, clock=clock).sent == 0
    clock.advance(3600)
    assert deliver_due(store, {"bot": ch}, clock=clock).sent == 1
    assert [e.state for e in store.outbox()] == [OUTBOX_SENT]
    assert len(api.messages) == 1
    assert len(api.shared()) == 3
    store.close()
