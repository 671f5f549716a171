"""Generic JSON webhook: one POST per digest with every alert's figures, for other tools.

Body (``version`` 1): source, release, route, test flag, subject, text (a readable rendering) and
``alerts``: each with ``change`` (new / revised / resolved), the alert (``Alert.to_dict()``), its
rendered ``summary_text``, ``figures`` and ``change_text`` (the words the other channels use), the
``previous`` figures for revisions, the ``current`` value for a resolved one and the recent
``history``. With ``secret`` (or
``secret_file`` / ``secret_env``) the body is signed: ``X-Customs-Monitor-Signature:
sha256=<hex HMAC of the body>``, so the receiver can check it came from us.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from monitor.config.channels import ChannelOptions, WebhookOptions
from monitor.notify.base import Channel, Digest, Notice, RenderedMessage
from monitor.notify.options import post, raise_for_status, session_of, timeout_of, verify_of
from monitor.notify.rendering import render_text, templates_of
from monitor.render.view import notice_view, sort_notices

SIGNATURE_HEADER = "X-Customs-Monitor-Signature"


class WebhookChannel(Channel):
    """POSTs one JSON document per digest (``version`` 1, every alert's figures) to a URL, for
    other tools; signed with HMAC-SHA256 when ``secret`` is set."""

    type = "webhook"
    Options = WebhookOptions
    options: WebhookOptions

    def __init__(
        self,
        name: str,
        options: ChannelOptions | Mapping[str, Any],
        *,
        templates: Any = None,
        **transports: Any,
    ) -> None:
        super().__init__(name, options, templates=templates, **transports)
        self.options.url_secret.read(name)

    def render(self, digest: Digest) -> RenderedMessage:
        """The JSON body (readable text, each alert's figures and words), stored with the message
        so every attempt sends the same bytes."""
        text = render_text(self, digest)
        body = {
            "version": 1,
            "source": digest.source,
            "release_id": digest.release_id,
            "release_date": digest.release_date,
            "route": digest.route,
            "test": digest.test,
            "source_url": digest.source_url,
            "subject": text.subject,
            "text": text.text,
            "alerts": [self._alert(n) for n in sort_notices(digest.notices)],
        }
        return RenderedMessage(subject=text.subject, text=text.text, payload={"body": body})

    def _alert(self, n: Notice) -> dict[str, Any]:
        view = notice_view(n, templates_of(self))  # the words every other channel uses
        return {
            "change": n.change,
            "key": n.alert.key,
            "alert": n.alert.to_dict(),
            "summary_text": view["summary_text"],
            "figures": view["figures"],
            "change_text": view["change_text"],
            "previous": n.previous,
            "current": view["current_value"],
            "history": [[p, v] for p, v in n.history],
        }

    def send(self, message: RenderedMessage) -> None:
        """POST the body (compact, sorted keys) with the configured headers, an
        ``Idempotency-Key`` from its hash and, with a secret, its signature header."""
        url = self.options.url_secret.read(self.name) or ""
        data = json.dumps(
            message.payload.get("body", {}), sort_keys=True, separators=(",", ":"), default=str
        ).encode()
        headers = {
            "Content-Type": "application/json",
            **{k: v.get_secret_value() for k, v in self.options.headers.items()},
        }
        # The body is rendered once and stored in the outbox, so a re-send after a crash carries
        # the same key: receivers that honour it absorb the at-least-once window.
        headers["Idempotency-Key"] = hashlib.sha256(data).hexdigest()[:32]
        key = self.options.secret_secret.read(self.name, required=False)
        if key:
            digest = hmac.new(key.encode(), data, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        response = post(
            self.name,
            session_of(self, self.options),
            url,
            data=data,
            headers=headers,
            timeout=timeout_of(self.options),
            verify=verify_of(self.options),
        )
        raise_for_status(self.name, url, response)
