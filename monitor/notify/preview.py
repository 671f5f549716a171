"""Previews for ``render`` and ``send-test``: what a channel would send, on the terminal and as
files (``.json`` payloads, ``.eml`` emails), without sending anything.

Preview files replace earlier previews of the same name only in a folder carrying the preview
marker (written into folders the preview creates or finds empty); in any other folder an
existing file is never replaced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from monitor.errors import ConfigError, Problem
from monitor.model import Alert, normalize
from monitor.notify.base import Channel, Notice, RenderedMessage
from monitor.notify.blockkit import check_payload
from monitor.notify.console import email_as_text, slack_as_text
from monitor.notify.email import EmailChannel, build_mime
from monitor.render.history import history_for


def sample_notice() -> Notice:
    """A real alert for test messages: China's magnet exports to Germany, July 2025 (the
    bundled dataset, monitor/data/PROVENANCE.md), so a test shows a realistic layout."""
    from monitor.resources import default_dataset

    frame = normalize(pd.read_csv(default_dataset(), dtype=str), source="sample")
    row = frame[(frame.partner == "DE") & (frame.period == "2025-07")].iloc[0]
    alert = Alert(
        rule_id="send-test",
        period=row.period,
        reporter=row.reporter,
        partner=row.partner,
        commodity=row.commodity,
        flow=row.flow,
        measure=row.measure,
        value=float(row.value),
        unit=row.unit,
        severity="info",
        summary="Test message: {{ commodity_name }} exports to "
        "{{ partner_name }}, {{ period_name }} (sample data, nothing fired)",
        labels={"test": "true"},
        source="sample",
    )
    return Notice(alert, history=history_for(alert, frame, 12))


def terminal_view(message: RenderedMessage) -> str:
    """A readable rendering of any channel's message."""
    payload = message.payload
    fmt = payload.get("format")
    if fmt == "slack":
        return slack_as_text(payload)
    if fmt == "email":
        return email_as_text(message)
    if fmt == "console":
        return "\n\n".join(payload.get("views", {}).values())
    if fmt == "file":
        files = payload.get("files", {})
        parts = []
        if "slack" in files:
            parts.append(slack_as_text(files["slack"]))
        if "email" in files:
            parts.append(email_as_text(RenderedMessage.from_json(files["email"])))
        return "\n\n".join(parts) or message.text
    return message.text


MARKER = ".customs-monitor-preview"


def _preview_folder(out_dir: Path) -> bool:
    """Create or mark ``out_dir``; True when earlier previews in it may be replaced."""
    if not out_dir.exists():
        out_dir.mkdir(parents=True)
    elif not out_dir.is_dir():
        raise ConfigError(Problem(str(out_dir), 0, 0, "--out must be a folder"))
    marker = out_dir / MARKER
    if marker.is_file() and not marker.is_symlink():
        return True
    if not any(out_dir.iterdir()):
        marker.write_text("Previews written by customs-monitor render.\n", encoding="utf-8")
        return True
    return False


def write_files(channel: Channel, message: RenderedMessage, out_dir: Path, stem: str) -> list[Path]:
    """Write the message as its channel would put it on the wire; returns the files."""
    ours = _preview_folder(out_dir)
    payload = message.payload
    written: list[Path] = []

    def free(name: str) -> Path:
        path = out_dir / name
        if (path.exists() or path.is_symlink()) and not (ours and path.is_file()):
            raise ConfigError(
                Problem(
                    str(path),
                    0,
                    0,
                    "exists and was not written by a preview: refusing to replace it "
                    "(choose another --out folder)",
                )
            )
        return path

    def dump(name: str, data: Any) -> None:
        path = free(name)
        path.write_text(
            json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
        )
        written.append(path)

    def eml(name: str, msg: RenderedMessage) -> None:
        if isinstance(channel, EmailChannel):
            mime = build_mime(
                msg, sender=channel.sender, recipients=channel.recipients, list_id=channel.list_id
            )
        else:
            mime = build_mime(
                msg, sender="customs-monitor@localhost", recipients=["preview@localhost"]
            )
        path = free(name)
        path.write_bytes(bytes(mime))
        written.append(path)

    fmt = payload.get("format")
    if fmt == "slack":
        dump(f"{stem}.json", {"text": payload.get("text"), "blocks": payload.get("blocks")})
    elif fmt == "email":
        eml(f"{stem}.eml", message)
    elif fmt in ("file", "console") and payload.get("files"):
        files = payload["files"]
        if "slack" in files:
            dump(f"{stem}.json", files["slack"])
        if "email" in files:
            eml(f"{stem}.eml", RenderedMessage.from_json(files["email"]))
    elif "alerts" in payload:
        dump(f"{stem}.json", payload["alerts"])  # Alertmanager's body
    elif "body" in payload:
        dump(f"{stem}.json", payload["body"])  # generic webhook body
    else:
        path = free(f"{stem}.txt")
        path.write_text(message.text + "\n", encoding="utf-8")
        written.append(path)
    return written


def slack_problems(message: RenderedMessage) -> list[str]:
    """Block Kit problems of a Slack rendering (custom templates can break the limits)."""
    payload = message.payload
    if payload.get("format") == "slack":
        return check_payload(payload)
    if payload.get("format") in ("file", "console") and "slack" in payload.get("files", {}):
        return check_payload(payload["files"]["slack"])
    return []
