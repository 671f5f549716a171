"""File channel: write each message into a folder (dry runs, the demo's outbox, audits).

Slack renderings are written as ``<key>.json`` (the exact webhook payload), email renderings as
``<key>.eml`` (open it in any mail client, chart included). The key is the digest's identity, so a
re-send after a crash rewrites the same file instead of adding a duplicate. Files are written to a
temporary name and renamed, so a reader never sees half a message.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from monitor.errors import ConfigError, DeliveryError, Problem
from monitor.notify.base import Channel, Digest, RenderedMessage
from monitor.notify.email import build_mime
from monitor.notify.options import as_bool, as_list, option_problems
from monitor.notify.rendering import render_email, render_slack

FORMATS = ("slack", "email")


class FileChannel(Channel):
    type = "file"
    OPTIONS: ClassVar[set[str]] = {"path", "format", "from", "to", "charts"}
    REQUIRED: ClassVar[set[str]] = {"path"}

    @classmethod
    def check_options(cls, name: str, options: dict[str, Any], path: str) -> list[Problem]:
        return super().check_options(name, options, path) + option_problems(
            name, options, path, choices={"format": FORMATS}
        )

    def __init__(
        self, name: str, options: dict[str, Any], *, templates: Any = None, **transports: Any
    ) -> None:
        super().__init__(name, options, templates=templates, **transports)
        if not options.get("path"):
            raise ConfigError(f"channel {name!r}: missing required option 'path'")
        self.path = Path(str(options["path"]))
        self.formats = as_list(options.get("format")) or list(FORMATS)
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown:
            raise ConfigError(
                Problem(
                    "<config>",
                    0,
                    0,
                    f"channel {name!r}: unknown format "
                    f"{unknown[0]!r} (expected {', '.join(FORMATS)})",
                )
            )

    def render(self, digest: Digest) -> RenderedMessage:
        files: dict[str, Any] = {}
        base: RenderedMessage | None = None
        if "slack" in self.formats:
            slack = render_slack(self, digest)
            files["slack"] = slack.payload
            base = slack
        if "email" in self.formats:
            mail = render_email(self, digest, charts=as_bool(self.options.get("charts"), True))
            files["email"] = mail.to_json()
            base = mail if base is None else base
        assert base is not None
        return RenderedMessage(
            subject=base.subject,
            text=base.text,
            payload={"key": base.payload["key"], "format": "file", "files": files},
        )

    def send(self, message: RenderedMessage) -> None:
        key = message.payload.get("key") or "message"
        files = message.payload.get("files") or {}
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            if "slack" in files:
                blob = json.dumps(files["slack"], indent=2, ensure_ascii=False) + "\n"
                self._write(self.path / f"{key}.json", blob.encode("utf-8"))
            if "email" in files:
                mail = RenderedMessage.from_json(files["email"])
                mime = build_mime(
                    mail,
                    sender=str(self.options.get("from") or "customs-monitor@localhost"),
                    recipients=as_list(self.options.get("to")) or ["analysts@localhost"],
                )
                self._write(self.path / f"{key}.eml", bytes(mime))
            if not files:
                self._write(self.path / f"{key}.txt", message.text.encode("utf-8"))
        except OSError as exc:
            raise DeliveryError(
                self.name, f"cannot write to {self.path}: {exc.strerror or exc}"
            ) from None

    @staticmethod
    def _write(target: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
