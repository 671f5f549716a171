"""Console channel: print what would be sent, readably (the demo and dry runs).

``format`` chooses the rendering shown: ``text`` (default), ``slack`` (the Block Kit message
laid out as Slack shows it) or ``email`` (headers and the plain-text part); a list shows several,
which is how the demo prints each alert as it would reach Slack and email.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, TextIO

from monitor.config.channels import ChannelOptions, ConsoleOptions
from monitor.notify.base import Channel, Digest, RenderedMessage
from monitor.notify.rendering import render_email, render_slack, render_text

RULE = "─" * 72


def slack_as_text(payload: dict[str, Any]) -> str:
    """Lay out Block Kit blocks roughly as Slack displays them."""
    lines: list[str] = []
    for block in payload.get("blocks", []):
        kind = block.get("type")
        if kind == "header" or kind == "section":
            lines += [block["text"]["text"], ""]
        elif kind == "context":
            lines.append("  ".join(e.get("text", "") for e in block.get("elements", [])))
        elif kind == "actions":
            lines += [
                f"[{e['text']['text']}] {e.get('url', '')}" for e in block.get("elements", [])
            ]
        elif kind == "divider":
            lines.append("---")
    # Slack shows mrkdwn entities as the characters they stand for.
    text = "\n".join(lines).rstrip()
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def email_as_text(message: RenderedMessage) -> str:
    """An email rendering as a reader sees it: Subject, the plain-text part, charts counted."""
    images = message.payload.get("images", [])
    extra = f"\n({len(images)} chart{'s' if len(images) != 1 else ''} attached)" if images else ""
    return f"Subject: {message.subject}\n\n{message.text}{extra}"


class ConsoleChannel(Channel):
    """Prints each message in the ``format`` renderings chosen (the demo and dry runs)."""

    type = "console"
    Options = ConsoleOptions
    options: ConsoleOptions

    def __init__(
        self,
        name: str,
        options: ChannelOptions | Mapping[str, Any],
        *,
        templates: Any = None,
        **transports: Any,
    ) -> None:
        super().__init__(name, options, templates=templates, **transports)
        self.formats: list[str] = list(self.options.format)

    @property
    def stream(self) -> TextIO:
        """Where ``send`` writes: an injected ``stream`` transport, else ``sys.stdout`` or
        ``sys.stderr`` per the ``stream`` option (looked up at each send)."""
        stream: TextIO | None = self.transports.get("stream")
        if stream is not None:
            return stream
        return sys.stderr if self.options.stream == "stderr" else sys.stdout

    def render(self, digest: Digest) -> RenderedMessage:
        """Each ``format`` as readable text (``views``) and the Slack and email payloads
        (``files``, for previews); subject and text are the first format's. No chart is drawn."""
        parts: dict[str, Any] = {}
        wire: dict[str, Any] = {}  # what Slack / email would get, for `render` previews
        base: RenderedMessage | None = None
        for fmt in self.formats:
            if fmt == "slack":
                msg = render_slack(self, digest)
                parts["slack"] = slack_as_text(msg.payload)
                wire["slack"] = msg.payload
            elif fmt == "email":
                # The console cannot show a chart; skip drawing it.
                msg = render_email(self, digest, charts=False)
                parts["email"] = email_as_text(msg)
                wire["email"] = msg.to_json()
            else:
                msg = render_text(self, digest)
                parts["text"] = msg.text
            base = base or msg
        assert base is not None
        return RenderedMessage(
            subject=base.subject,
            text=base.text,
            payload={
                "key": base.payload.get("key"),
                "format": "console",
                "views": parts,
                "files": wire,
            },
        )

    def send(self, message: RenderedMessage) -> None:
        """Write each view under a ruled title naming the channel, and flush."""
        views = message.payload.get("views") or {"text": message.text}
        out = []
        for fmt, body in views.items():
            title = {"slack": "as Slack shows it", "email": "as email", "text": "as text"}.get(
                fmt, fmt
            )
            out.append(f"{RULE}\n[{self.name}] {title}\n{RULE}\n{body}\n")
        self.stream.write("\n".join(out) + "\n")
        self.stream.flush()
