"""Renderings shared by channels: Slack Block Kit, email MIME, console and file output."""

from __future__ import annotations

import email
import email.policy
import io
import json

import pytest

from monitor.notify.base import CHANGE_RESOLVED, CHANGE_REVISED
from monitor.notify.blockkit import check_payload
from monitor.notify.console import ConsoleChannel
from monitor.notify.email import build_mime
from monitor.notify.file import FileChannel
from monitor.notify.rendering import render_email, render_slack, render_text
from tests.notify.realdata import digest, july_notices, notice


def console(templates, fmt, stream=None) -> ConsoleChannel:
    return ConsoleChannel("preview", {"format": fmt}, templates=templates, stream=stream)


def test_slack_payload_is_valid_block_kit(frame, templates) -> None:
    """The July 2025 digest validates with slack_sdk's models and the 50-block limit."""
    msg = render_slack(console(templates, "slack"), digest(july_notices(frame)))
    assert check_payload(msg.payload) == []
    kinds = [b["type"] for b in msg.payload["blocks"]]
    assert kinds == ["header", "section", "section", "section", "context", "actions"]


def test_slack_sorts_by_severity_then_value(frame, templates) -> None:
    """A critical alert comes first; equal severities are ordered by value, biggest first."""
    notices = [
        notice(frame, "US", "2025-07"),
        notice(frame, "DE", "2025-07"),
        notice(frame, "WORLD", "2025-06", severity="critical"),
    ]
    blocks = render_slack(console(templates, "slack"), digest(notices)).payload["blocks"]
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert "the world" in sections[0] and "June 2025" in sections[0]
    assert "Germany" in sections[1] and "United States" in sections[2]


def test_slack_caps_with_and_n_more(frame, templates) -> None:
    """Past the cap the digest says "and N more" instead of adding sections."""
    notices = [notice(frame, p, "2025-07") for p in ("DE", "US", "WORLD")]
    channel = ConsoleChannel("c", {"format": "slack", "digest_cap": 2}, templates=templates)
    blocks = render_slack(channel, digest(notices)).payload["blocks"]
    assert sum(b["type"] == "section" for b in blocks) == 2
    assert any(
        b["type"] == "context" and b["elements"][0]["text"] == "… and 1 more" for b in blocks
    )


def test_slack_never_exceeds_50_blocks(frame, templates) -> None:
    """Even with a cap above Slack's limit the message stays within 50 blocks."""
    many = [notice(frame, "DE", "2025-07", rule=f"rule-{i}") for i in range(80)]
    channel = ConsoleChannel("c", {"format": "slack", "digest_cap": 500}, templates=templates)
    payload = render_slack(channel, digest(many)).payload
    assert len(payload["blocks"]) <= 50
    assert check_payload(payload) == []


def test_slack_escapes_mrkdwn_in_summaries(frame, templates) -> None:
    """A summary with <, > and & cannot inject a mention or a link."""
    n = notice(frame, "DE", "2025-07", summary="<!channel> R&D <http://evil|click>")
    payload = render_slack(console(templates, "slack"), digest([n])).payload
    section = payload["blocks"][1]["text"]["text"]
    assert "&lt;!channel&gt; R&amp;D &lt;http://evil|click&gt;" in section
    mrkdwn = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    assert "<!channel>" not in json.dumps(mrkdwn)


def test_slack_header_is_cut_to_150_characters(frame, templates) -> None:
    """A long single-alert headline is shortened to Slack's header limit."""
    n = notice(frame, "DE", "2025-07", summary="very long " * 40)
    header = render_slack(console(templates, "slack"), digest([n])).payload["blocks"][0]
    assert len(header["text"]["text"]) == 150
    assert header["text"]["text"].endswith("…")


def test_revised_notice_shows_old_and_new(frame, templates) -> None:
    """A revision is clearly marked and shows the figure sent before and the new one."""
    n = notice(
        frame, "DE", "2025-07", change=CHANGE_REVISED, previous={"value": 1_050_000.0, "unit": "kg"}
    )
    msg = render_slack(console(templates, "slack"), digest([n]))
    assert msg.payload["blocks"][0]["text"]["text"].startswith("Revised: ")
    assert "1,050 t → *1,116 t*" in msg.payload["blocks"][1]["text"]["text"]


def test_resolved_notice_says_it_no_longer_holds(frame, templates) -> None:
    """A revision that undoes an alert sends a notice saying so."""
    n = notice(
        frame,
        "DE",
        "2025-07",
        change=CHANGE_RESOLVED,
        previous={"value": 1_116_000.0, "unit": "kg"},
    )
    text = render_text(console(templates, "text"), digest([n])).text
    assert "no longer hold" in text


def test_test_digest_is_clearly_marked(templates) -> None:
    """A send-test message says TEST in the header, the text and the email subject."""
    d = digest([], test=True)
    ch = console(templates, "slack")
    slack = render_slack(ch, d)
    assert slack.payload["blocks"][0]["text"]["text"].startswith("[TEST]")
    assert render_email(ch, d, charts=False).subject.startswith("[TEST]")
    assert render_text(ch, d).text.startswith("[TEST]")


def test_email_parses_into_text_html_and_inline_charts(frame, templates) -> None:
    """The MIME message has plain text and HTML alternatives and one PNG per charted alert,
    each referenced from the HTML by its Content-ID."""
    msg = render_email(console(templates, "email"), digest(july_notices(frame)))
    mime = build_mime(
        msg,
        sender="Monitor <monitor@example.org>",
        recipients=["a@example.org", "b@example.org"],
        list_id="<x.example.org>",
    )
    parsed = email.message_from_bytes(bytes(mime), policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(("plain",)).get_content()
    html_part = parsed.get_body(("html",))
    html = html_part.get_content()
    images = [p for p in parsed.walk() if p.get_content_type() == "image/png"]
    assert "1,116 t" in plain and "1,116 t" in html
    assert len(images) == 3
    for image in images:
        assert image.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"cid:{image['Content-ID'].strip('<>')}" in html
    assert parsed["Message-ID"] == msg.payload["message_id"]
    assert parsed["To"] == "a@example.org, b@example.org"


def test_email_message_id_is_stable(frame, templates) -> None:
    """Rendering the same digest twice gives the same Message-ID (a re-send is recognisable)."""
    ch = console(templates, "email")
    first = render_email(ch, digest(july_notices(frame)), charts=False)
    again = render_email(ch, digest(july_notices(frame)), charts=False)
    assert first.payload["message_id"] == again.payload["message_id"]


def test_email_html_escapes_values(frame, templates) -> None:
    """Summaries are HTML-escaped in the HTML part."""
    n = notice(frame, "DE", "2025-07", summary="<script>x</script>")
    html = render_email(console(templates, "email"), digest([n]), charts=False).payload["html"]
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_console_prints_slack_and_email(frame, templates) -> None:
    """The demo's console shows each digest as Slack shows it and as email."""
    out = io.StringIO()
    ch = console(templates, ["slack", "email"], stream=out)
    ch.send(ch.render(digest(july_notices(frame))))
    text = out.getvalue()
    assert "as Slack shows it" in text and "as email" in text
    assert "Subject: [customs-monitor] 3 alerts from magnets (July 2025)" in text
    assert "1,116 t" in text and "`" in text


def test_console_rejects_unknown_format(templates) -> None:
    """A typo in format is a configuration error naming the channel."""
    from monitor.errors import ConfigError

    with pytest.raises(ConfigError, match=r"'preview'.*'slak'"):
        console(templates, "slak")


def test_file_channel_writes_json_and_eml(frame, templates, tmp_path) -> None:
    """The file channel writes the exact Slack payload and a parseable .eml."""
    ch = FileChannel("outbox", {"path": str(tmp_path / "out")}, templates=templates)
    msg = ch.render(digest(july_notices(frame)))
    ch.send(msg)
    ch.send(msg)  # a re-send finds its files already written
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["magnets-r7-default-new.eml", "magnets-r7-default-new.json"]
    payload = json.loads((tmp_path / "out" / files[1]).read_text())
    assert check_payload(payload) == []
    parsed = email.message_from_bytes(
        (tmp_path / "out" / files[0]).read_bytes(), policy=email.policy.default
    )
    assert sum(p.get_content_type() == "image/png" for p in parsed.walk()) == 3


def test_file_channel_error_names_channel(frame, templates, tmp_path) -> None:
    """An unwritable folder is a delivery error naming the channel and the folder."""
    from monitor.errors import DeliveryError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    ch = FileChannel("outbox", {"path": str(blocker), "format": "slack"}, templates=templates)
    with pytest.raises(DeliveryError, match="channel 'outbox': cannot write to"):
        ch.send(ch.render(digest(july_notices(frame))))
