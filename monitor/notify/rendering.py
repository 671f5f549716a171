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
from monitor.render.history import SHARE_CONDITIONS
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
    """The channel's template environment; a default one is made and kept if none was given."""
    if channel.templates is None:
        channel.templates = TemplateEnv()
    return channel.templates


def variant_of(channel: Channel, digest: Digest) -> str | None:
    """The template variant: the route's (carried on the digest), else the channel's option."""
    return getattr(digest, "template", None) or channel.options.template or None


def cap_of(channel: Channel, digest: Digest) -> int:
    """Most notices one message shows: the route's cap (on the digest), else the channel's
    ``digest_cap``, else ``DEFAULT_CAP``; at least 1."""
    cap = getattr(digest, "cap", None) or channel.options.digest_cap or DEFAULT_CAP
    return max(1, int(cap))


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def view_of(channel: Channel, digest: Digest, *, cap: int | None = None) -> dict[str, Any]:
    """The digest's template variables for this channel: its first ``cap`` notices in order
    (default ``cap_of``), the rest counted, and the template variant."""
    return digest_view(
        digest,
        templates_of(channel),
        cap=cap or cap_of(channel, digest),
        channel=channel.name,
        variant=variant_of(channel, digest),
    )


def render_text(channel: Channel, digest: Digest) -> RenderedMessage:
    """Plain text: the email subject template's subject and the text digest; the payload
    carries only the message key and ``format``."""
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


def chart_spec(n: dict[str, Any]) -> dict[str, Any] | None:
    """What an alert's chart shows: its series, or for a share alert the partner's share of the
    total in percent (the figure the rule is about). None when there is nothing to draw."""
    context = n["context"]
    window = context.get("window")
    if context.get("condition") in SHARE_CONDITIONS:
        points = list(n.get("share_history") or [])
        if not any(v is not None for _, v in points):
            # No share history handed in: the two shares the engine computed.
            known = {n["period"]: context.get("share")}
            if context.get("share_before_period"):
                known[str(context["share_before_period"])] = context.get("share_before")
            months = [p for p, _ in n["history"]] or sorted(known)
            points = [(p, known.get(p)) for p in months]
        if not any(v is not None for _, v in points):
            return None
        return {
            "history": tuple(points),
            "unit": "%",
            "title": f"Share of {n['partner_name']} in {n['reporter_name']}'s "
            f"{n['commodity_name']} {n['flow']}s",
            "window": None,
            "alt": f"{len(points)} months of the share of {n['partner_name']}",
        }
    if not n["history"] or n["kind"] != "alert":
        return None
    return {
        "history": tuple(n["history"]),
        "unit": n["unit"],
        "title": f"{n['commodity_name']}, {n['reporter']} → {n['partner']}",
        "window": window if isinstance(window, int) else None,
        "alt": f"{len(n['history'])} months of {n['commodity_name']} to {n['partner_name']}",
    }


def render_email(
    channel: Channel, digest: Digest, *, charts: bool = True, domain: str = "customs-monitor.local"
) -> RenderedMessage:
    """Subject, plain text and HTML parts, the top alerts' charts (PNG, base64) and a stable
    Message-ID (derived from the digest, so a re-send after a crash is recognisably the same).

    Alerts about the same series and month (a six-month high that is also a jump) share one
    chart, and no image is attached twice: each is referenced by every alert it shows."""
    from monitor.render.chart import chart_png  # matplotlib only when an email is rendered

    view = view_of(channel, digest)
    env = templates_of(channel)
    variant = view["variant"]
    images: list[dict[str, str]] = []
    key = message_key(digest)
    if charts:
        # One chart per series, month and measure shown (value or share): a six-month high
        # that is also a jump is one chart, shaded for the widest window among its alerts.
        specs: dict[tuple[Any, ...], dict[str, Any]] = {}
        drawn_as: list[tuple[dict[str, Any], tuple[Any, ...]]] = []
        for n in view["notices"]:
            spec = chart_spec(n)
            if spec is None:
                continue
            series = tuple(n[k] for k in ("reporter", "partner", "commodity", "flow", "measure"))
            drawn = (spec["unit"], *series, n["period"])
            first = specs.setdefault(drawn, spec)
            if spec["window"] and (first["window"] or 0) < spec["window"]:
                first["window"] = spec["window"]
            drawn_as.append((n, drawn))
        by_spec: dict[tuple[Any, ...], str] = {}  # what is drawn -> Content-ID
        by_content: dict[str, str] = {}  # PNG digest -> Content-ID
        for n, drawn in drawn_as:
            spec = specs[drawn]
            if drawn not in by_spec:
                if len(images) >= MAX_EMAIL_CHARTS:
                    continue
                png = chart_png(
                    spec["history"],
                    fired_period=n["period"],
                    window=spec["window"],
                    unit=spec["unit"],
                    title=spec["title"],
                )
                content = hashlib.sha256(png).hexdigest()
                if content not in by_content:
                    i = len(images)
                    by_content[content] = f"chart{i}.{key}@{domain}"
                    images.append(
                        {
                            "cid": by_content[content],
                            "filename": f"chart{i}.png",
                            "png_b64": base64.b64encode(png).decode("ascii"),
                        }
                    )
                by_spec[drawn] = by_content[content]
            n["chart_cid"] = by_spec[drawn]
            n["chart_alt"] = spec["alt"]
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
