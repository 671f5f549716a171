"""Apprise (optional extra ``customs-monitor[apprise]``): Teams, Discord, Telegram and ~100 more
services from one URL each, instead of hand-written integrations. The URLs carry secrets:
give them as ``urls`` (resolved ``${VAR}``), ``urls_file`` (one per line) or ``urls_env``.

Known limitation, duplicates on retry: the channel's URLs are one outbox message, and when any
service refuses it the whole message is retried, so every service that already accepted it gets
it again. Apprise could notify each URL on its own (``Apprise.instantiate(url).notify(...)``),
but remembering which ones accepted needs a place that survives a restart, and ``send`` has no
way to write state back to its outbox message. Until it has, configure one apprise channel per
service where duplicates matter: each is then retried on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.config.channels import AppriseOptions, ChannelOptions
from monitor.errors import ConfigError, DeliveryError
from monitor.notify.base import Channel, Digest, RenderedMessage
from monitor.notify.rendering import render_text


def _apprise() -> Any:
    missing = AppriseOptions.unavailable()
    if missing:
        raise ConfigError(missing)
    import apprise

    return apprise


class AppriseChannel(Channel):
    """Sends the plain-text rendering to every configured Apprise URL (the ``apprise`` extra)."""

    type = "apprise"
    Options = AppriseOptions
    options: AppriseOptions

    def __init__(
        self,
        name: str,
        options: ChannelOptions | Mapping[str, Any],
        *,
        templates: Any = None,
        **transports: Any,
    ) -> None:
        super().__init__(name, options, templates=templates, **transports)
        self._module = _apprise()

    def _urls(self) -> list[str]:
        if self.options.urls:
            return [u.get_secret_value() for u in self.options.urls]
        text = self.options.urls_secret.read(self.name) or ""
        return [u.strip() for u in text.replace(",", "\n").splitlines() if u.strip()]

    def render(self, digest: Digest) -> RenderedMessage:
        """The plain-text rendering (``render_text``): subject and text are all Apprise sends."""
        return render_text(self, digest)

    def send(self, message: RenderedMessage) -> None:
        """Notify every URL (the subject as title). An invalid URL is a permanent failure; any
        service refusing makes the whole message retried, so those that took it get it again."""
        apobj = self._module.Apprise()
        for i, url in enumerate(self._urls()):
            if not apobj.add(url):
                raise DeliveryError(
                    self.name, f"URL #{i + 1} is not a valid Apprise URL", permanent=True
                )
        if not apobj.notify(title=message.subject, body=message.text):
            raise DeliveryError(
                self.name,
                "at least one Apprise service did not accept the "
                "message (see Apprise's log for which)",
            )
