"""EmailChannel against real aiosmtpd servers: plain, STARTTLS, implicit TLS, AUTH, refusals."""

from __future__ import annotations

import pytest

from monitor.clock import ManualClock
from monitor.errors import ConfigError, DeliveryError
from monitor.notify.deliver import BACKOFF_CAP, deliver_due
from monitor.notify.email import EmailChannel
from monitor.store import OUTBOX_SENT, OutboxEntry
from tests.notify.realdata import digest, july_notices
from tests.notify.servers import smtp_peer

RECIPIENTS = ["analyst@example.org", "desk@example.org"]


def channel(peer, templates, **options) -> EmailChannel:
    base = {
        "host": peer.host,
        "port": peer.port,
        "from": "Customs Monitor <cm@example.org>",
        "to": RECIPIENTS,
        "starttls": False,
    }
    if peer.cert:
        base["ca_file"] = str(peer.cert)
    return EmailChannel("mail", {**base, **options}, templates=templates)


def check_received(peer, msg) -> None:
    assert len(peer.sink.messages) == 1
    got = peer.sink.messages[0]
    assert peer.sink.envelopes[0] == ("cm@example.org", RECIPIENTS)
    assert got["Subject"] == msg.subject
    assert got["Message-ID"] == msg.payload["message_id"]
    assert got["List-Id"] == "customs-monitor alerts <mail.example.org>"
    assert got["Date"] is not None
    assert got.get_content_type() == "multipart/alternative"
    html = got.get_body(("html",)).get_content()
    pngs = [p for p in got.walk() if p.get_content_type() == "image/png"]
    assert len(pngs) == 3
    assert all(f"cid:{p['Content-ID'].strip('<>')}" in html for p in pngs)
    assert "1,116 t" in got.get_body(("plain",)).get_content()


def test_plain_smtp(tmp_path, frame, templates) -> None:
    """A local relay without TLS receives the full multipart message."""
    with smtp_peer(tmp_path) as peer:
        ch = channel(peer, templates)
        msg = ch.render(digest(july_notices(frame)))
        ch.send(msg)
        check_received(peer, msg)


def test_starttls_with_auth(tmp_path, frame, templates, monkeypatch) -> None:
    """STARTTLS then AUTH with the password from the environment."""
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "hunter2")
    with smtp_peer(tmp_path, starttls=True, auth=("monitor", "hunter2")) as peer:
        ch = channel(
            peer, templates, starttls=True, username="monitor", password_env="TEST_SMTP_PASSWORD"
        )
        msg = ch.render(digest(july_notices(frame)))
        ch.send(msg)
        check_received(peer, msg)


def test_implicit_tls_with_password_file(tmp_path, frame, templates) -> None:
    """Implicit TLS (port 465 style) with the password read from a file."""
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret\n")
    with smtp_peer(tmp_path, implicit_tls=True, auth=("monitor", "s3cret")) as peer:
        ch = channel(peer, templates, ssl=True, username="monitor", password_file=str(secret))
        msg = ch.render(digest(july_notices(frame)))
        ch.send(msg)
        check_received(peer, msg)


def test_wrong_password_is_permanent_and_secret_free(tmp_path, frame, templates) -> None:
    """Refused credentials stop retrying; the error names the channel, not the password."""
    with smtp_peer(tmp_path, starttls=True, auth=("monitor", "right")) as peer:
        ch = channel(peer, templates, starttls=True, username="monitor", password="wr0ngpass")
        with pytest.raises(DeliveryError) as err:
            ch.send(ch.render(digest(july_notices(frame))))
    assert err.value.permanent
    assert "channel 'mail'" in str(err.value) and "wr0ngpass" not in str(err.value)


def test_untrusted_certificate_is_refused(tmp_path, frame, templates) -> None:
    """TLS verification is on: a self-signed certificate not given as ca_file fails."""
    with smtp_peer(tmp_path, starttls=True) as peer:
        ch = channel(peer, templates, starttls=True, ca_file=None)
        with pytest.raises(DeliveryError, match="TLS"):
            ch.send(ch.render(digest(july_notices(frame))))
    assert peer.sink.messages == []


def test_bad_recipient_is_permanent(tmp_path, frame, templates) -> None:
    """When every recipient is refused the message fails for good."""
    with smtp_peer(tmp_path) as peer:
        peer.sink.bad_recipients = set(RECIPIENTS)
        ch = channel(peer, templates)
        with pytest.raises(DeliveryError, match="every recipient refused") as err:
            ch.send(ch.render(digest(july_notices(frame))))
    assert err.value.permanent


def test_one_bad_recipient_still_delivers_to_the_others(tmp_path, frame, templates) -> None:
    """A partly refused message counts as sent (retrying would duplicate it for the rest)."""
    with smtp_peer(tmp_path) as peer:
        peer.sink.bad_recipients = {RECIPIENTS[1]}
        ch = channel(peer, templates)
        ch.send(ch.render(digest(july_notices(frame))))
        assert peer.sink.envelopes == [("cm@example.org", [RECIPIENTS[0]])]


def test_server_down_is_retryable(tmp_path, frame, templates) -> None:
    """No server listening: a retryable error naming host and port."""
    from tests.notify.servers import free_port

    port = free_port()
    ch = EmailChannel(
        "mail",
        {
            "host": "127.0.0.1",
            "port": port,
            "from": "cm@example.org",
            "to": RECIPIENTS,
            "starttls": False,
        },
        templates=templates,
    )
    with pytest.raises(DeliveryError, match=f"127.0.0.1:{port}") as err:
        ch.send(ch.render(digest(july_notices(frame))))
    assert not err.value.permanent


def test_smtp_refusing_then_accepting(tmp_path, store, now, frame, templates) -> None:
    """451 while the server is unwell, then accepted: the email arrives exactly once."""
    with smtp_peer(tmp_path) as peer:
        ch = channel(peer, templates)
        store.enqueue(
            [
                OutboxEntry(
                    "mail", "r1:all:new", "alert", ch.render(digest(july_notices(frame))).to_json()
                )
            ],
            now=now,
        )
        peer.sink.refuse_with = "451 4.3.0 try again later"
        clock = ManualClock(now)
        assert deliver_due(store, {"mail": ch}, clock=clock).retried == 1
        assert deliver_due(store, {"mail": ch}, clock=clock).retried == 0  # not due yet
        clock.advance(BACKOFF_CAP)
        assert deliver_due(store, {"mail": ch}, clock=clock).retried == 1
        peer.sink.refuse_with = None
        clock.advance(BACKOFF_CAP)
        assert deliver_due(store, {"mail": ch}, clock=clock).sent == 1
        clock.advance(BACKOFF_CAP)
        assert deliver_due(store, {"mail": ch}, clock=clock).sent == 0
        assert len(peer.sink.messages) == 1
        assert store.outbox()[0].state == OUTBOX_SENT


def test_missing_required_options(templates) -> None:
    """A channel without recipients is a configuration error naming it."""
    with pytest.raises(ConfigError, match="channel 'mail': missing required key 'to'"):
        EmailChannel("mail", {"host": "x", "from": "a@b"}, templates=templates)


def test_password_env_not_set(templates, tmp_path) -> None:
    """password_env naming an unset variable fails clearly, without a value."""
    ch = EmailChannel(
        "mail",
        {
            "host": "127.0.0.1",
            "from": "a@b",
            "to": "c@d",
            "username": "u",
            "password_env": "NOT_SET_ANYWHERE_42",
        },
        templates=templates,
    )
    from monitor.notify.base import RenderedMessage

    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE_42"):
        ch.send(RenderedMessage("s", "t"))
