"""Shared renderings of a Digest: plain text, Slack Block Kit and email (text + HTML + charts).

Channels pick the rendering they send; the console and file channels reuse the Slack and email
ones so a dry run shows exactly what would reach people.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from monitor.notify.base import Channel, Digest, RenderedMessage
from monitor.render import TemplateEnv
from monitor.render.view import DEFAULT_CAP, digest_view, message_key

# Slack's documented limits (https://docs.slack.dev/reference/block-kit/blocks).
SLACK_MAX_BLOCKS = 50
SLACK_HEADER_MAX = 150
SLACK_SECTION_MAX = 3000
SLACK_TEXT_MAX = 3000  # the fallback is shown in notifications; keep it short
# header + "and N more" + footer + link button leave 46 blocks for alerts
SLACK_MAX_NOTICES = SLACK_MAX_BLOCKS - 4
MAX_EMAIL_CHARTS = 5  # charts for the top alerts; the rest are listed


def templates_of(channel: Channel) -> TemplateEnv:
    if channel.templates is None:
        channel.templates = TemplateEnv()
    return channel.templates


def variant_of(channel: Channel, digest: Digest) -> str | None:
    """The template variant: the route's (carried on the digest), else the channel's option."""
    return getattr(digest, "template", None) or channel.options.get("template") or None


def cap_of(channel: Channel, digest: Digest) -> int:
    cap = getattr(digest, "cap", None) or channel.options.get("digest_cap") or DEFAULT_CAP
    return max(1, int(cap))


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def view_of(channel: Channel, digest: Digest, *, cap: int | None = None) -> dict[str, Any]:
    return digest_view(
        digest,
        templates_of(channel),
        cap=cap or cap_of(channel, digest),
        channel=channel.name,
        variant=variant_of(channel, digest),
    )


def render_text(channel: Channel, digest: Digest) -> RenderedMessage:
    view = view_of(channel, digest)
    env = templates_of(channel)
    variants = [view["variant"]]
    subject = env.render("email/subject.txt.j2", view, variants=variants)
    text = env.render("text/digest.txt.j2", view, variants=variants)
    return RenderedMessage(
        subject=subject, text=text, payload={"key": message_key(digest), "format": "text"}
    )


def render_slack(channel: Channel, digest: Digest) -> RenderedMessage:
    """Block Kit: header, one section per alert, "and N more", a context line, a link button."""
    cap = min(cap_of(channel, digest), SLACK_MAX_NOTICES)
    view = view_of(channel, digest, cap=cap)
    env = templates_of(channel)
    variant = view["variant"]
    header = truncate(
        " ".join(env.render("slack/header.txt.j2", view, variants=[variant]).split()),
        SLACK_HEADER_MAX,
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}}
    ]
    for n in view["notices"]:
        body = env.render("slack/notice.md.j2", {**view, "n": n}, variants=[n["template"], variant])
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": truncate(body, SLACK_SECTION_MAX)},
            }
        )
    if view["more"]:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"… and {view['more']} more"}],
            }
        )
    footer = env.render("slack/footer.md.j2", view, variants=[variant])
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": truncate(" ".join(footer.split()), SLACK_SECTION_MAX)}
            ],
        }
    )
    if digest.source_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "open_source",
                        "url": digest.source_url[:3000],
                        "text": {"type": "plain_text", "text": "Open source data"},
                    }
                ],
            }
        )
    text = env.render("text/digest.txt.j2", view, variants=[variant])
    return RenderedMessage(
        subject=header,
        text=truncate(text, SLACK_TEXT_MAX),
        payload={
            "key": message_key(digest),
            "format": "slack",
            "text": truncate(text, SLACK_TEXT_MAX),
            "blocks": blocks,
        },
    )


def render_email(
    channel: Channel, digest: Digest, *, charts: bool = True, domain: str = "customs-monitor.local"
) -> RenderedMessage:
    """Subject, plain text and HTML parts, the top alerts' charts (PNG, base64) and a stable
    Message-ID (derived from the digest, so a re-send after a crash is recognisably the same)."""
    from monitor.render.chart import chart_png  # matplotlib only when an email is rendered

    view = view_of(channel, digest)
    env = templates_of(channel)
    variant = view["variant"]
    images: list[dict[str, str]] = []
    key = message_key(digest)
    if charts:
        for i, n in enumerate(view["notices"][:MAX_EMAIL_CHARTS]):
            if not n["history"]:
                continue
            cid = f"chart{i}.{key}@{domain}"
            window = n["context"].get("window")
            png = chart_png(
                n["history"],
                fired_period=n["period"],
                window=window if isinstance(window, int) else None,
                unit=n["unit"],
                title=f"{n['commodity_name']}, {n['reporter']} → {n['partner']}",
            )
            n["chart_cid"] = cid
            images.append(
                {
                    "cid": cid,
                    "filename": f"chart{i}.png",
                    "png_b64": base64.b64encode(png).decode("ascii"),
                }
            )
    subject = " ".join(env.render("email/subject.txt.j2", view, variants=[variant]).split())
    view["subject"] = subject
    text = env.render("email/body.txt.j2", view, variants=[variant])
    html = env.render("email/body.html.j2", view, variants=[variant])
    digest_hash = hashlib.sha256(key.encode()).hexdigest()[:10]
    return RenderedMessage(
        subject=subject,
        text=text,
        payload={
            "key": key,
            "format": "email",
            "html": html,
            "images": images,
            "message_id": f"<{key}.{digest_hash}@{domain}>",
        },
    )
