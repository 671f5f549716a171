"""File channel: write each message into a folder (dry runs, the demo's outbox, audits).

Slack renderings are written as ``<key>.json`` (the exact webhook payload), email renderings as
``<key>.eml`` (open it in any mail client, chart included). The key is the digest's identity, so a
re-send after a crash finds its message already written and adds nothing. An existing file is
never replaced: a file of the same name holding anything else (a user's file, or a message from an
earlier state store whose release numbers started again at 1) is kept and the message is written
as ``<key>.1.json``, ``<key>.2.json`` ... Files are written to a temporary name and hard-linked into
place, so a reader never sees half a message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from monitor.config.channels import ChannelOptions, FileChannelOptions
from monitor.errors import DeliveryError
from monitor.notify.base import Channel, Digest, RenderedMessage
from monitor.notify.email import build_mime
from monitor.notify.rendering import render_email, render_slack

log = logging.getLogger(__name__)

#: identifies an .eml's content (its Date header and MIME boundaries differ between re-sends)
CONTENT_HEADER = "X-Customs-Monitor-Content"
MAX_VERSIONS = 1000


class FileChannel(Channel):
    """Writes each message into the ``path`` folder (``<key>.json`` Slack payload, ``<key>.eml``
    email), never replacing a file: a re-send of the same message adds nothing."""

    type = "file"
    Options = FileChannelOptions
    options: FileChannelOptions

    def __init__(
        self,
        name: str,
        options: ChannelOptions | Mapping[str, Any],
        *,
        templates: Any = None,
        **transports: Any,
    ) -> None:
        super().__init__(name, options, templates=templates, **transports)
        self.path = Path(self.options.path)
        self.formats: list[str] = list(self.options.format)

    def render(self, digest: Digest) -> RenderedMessage:
        """The Slack payload and the email, per ``format``, kept in ``files`` for ``send``;
        subject and text are the Slack rendering's when both are made."""
        files: dict[str, Any] = {}
        base: RenderedMessage | None = None
        if "slack" in self.formats:
            slack = render_slack(self, digest)
            files["slack"] = slack.payload
            base = slack
        if "email" in self.formats:
            mail = render_email(self, digest, charts=self.options.charts)
            files["email"] = mail.to_json()
            base = mail if base is None else base
        assert base is not None
        return RenderedMessage(
            subject=base.subject,
            text=base.text,
            payload={"key": base.payload["key"], "format": "file", "files": files},
        )

    def send(self, message: RenderedMessage) -> None:
        """Write the message's files (the folder made if missing); a file already holding this
        message is kept. An OSError is a retryable DeliveryError."""
        key = message.payload.get("key") or "message"
        files = message.payload.get("files") or {}
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            if "slack" in files:
                blob = json.dumps(files["slack"], indent=2, ensure_ascii=False) + "\n"
                self._place(key, ".json", blob.encode("utf-8"), _same_bytes)
            if "email" in files:
                mail = RenderedMessage.from_json(files["email"])
                mime = build_mime(
                    mail,
                    sender=self.options.sender or "customs-monitor@localhost",
                    recipients=list(self.options.to) or ["analysts@localhost"],
                )
                content = json.dumps(files["email"], sort_keys=True, ensure_ascii=False)
                mime[CONTENT_HEADER] = hashlib.sha256(content.encode("utf-8")).hexdigest()[:32]
                self._place(key, ".eml", bytes(mime), _same_email)
            if not files:
                self._place(key, ".txt", message.text.encode("utf-8"), _same_bytes)
        except OSError as exc:
            raise DeliveryError(
                self.name, f"cannot write to {self.path}: {exc.strerror or exc}"
            ) from None

    def _place(self, key: str, suffix: str, data: bytes, same: _Same) -> Path:
        """Write ``data`` as ``<key><suffix>`` (or the first free ``<key>.N<suffix>``) unless
        the same message is already there; never replace an existing file."""
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".tmp-", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            for n in range(MAX_VERSIONS):
                target = self.path / (f"{key}{suffix}" if n == 0 else f"{key}.{n}{suffix}")
                if target.exists() or target.is_symlink():
                    if same(target, data):
                        return target
                    continue
                try:
                    os.link(tmp, target)  # fails if the name was taken meanwhile: no overwrite
                except FileExistsError:
                    continue
                if n:
                    log.warning(
                        "channel %r: %s exists with other content; wrote %s instead",
                        self.name,
                        f"{key}{suffix}",
                        target.name,
                    )
                return target
            raise OSError(f"{MAX_VERSIONS} files named {key}.N{suffix} already exist")
        finally:
            Path(tmp).unlink(missing_ok=True)


_Same = Callable[[Path, bytes], bool]


def _same_bytes(target: Path, data: bytes) -> bool:
    try:
        return target.is_file() and target.read_bytes() == data
    except OSError:
        return False


def _same_email(target: Path, data: bytes) -> bool:
    """The same rendered email: equal content header (Date and MIME boundaries vary)."""
    try:
        with target.open("rb") as fh:
            theirs = BytesHeaderParser().parse(fh).get(CONTENT_HEADER)
    except OSError:
        return False
    ours = BytesHeaderParser().parsebytes(data).get(CONTENT_HEADER)
    return theirs is not None and theirs == ours
