"""Apprise (optional extra ``customs-monitor[apprise]``): Teams, Discord, Telegram and ~100 more
services from one URL each, instead of hand-written integrations. The URLs carry secrets:
give them as ``urls`` (resolved ``${VAR}``), ``urls_file`` (one per line) or ``urls_env``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from monitor.errors import ConfigError, DeliveryError, Problem
from monitor.notify.base import Channel, Digest, RenderedMessage
from monitor.notify.options import as_list, secret, secret_keys
from monitor.notify.rendering import render_text


def _apprise() -> Any:
    try:
        import apprise
    except ImportError:
        raise ConfigError(
            "channel type 'apprise' needs the optional Apprise package: "
            "pip install 'customs-monitor[apprise]'"
        ) from None
    return apprise


class AppriseChannel(Channel):
    type = "apprise"
    OPTIONS: ClassVar[set[str]] = {*secret_keys("urls")}

    @classmethod
    def check_options(cls, name: str, options: dict[str, Any], path: str) -> list[Problem]:
        problems = super().check_options(name, options, path)
        try:
            _apprise()
        except ConfigError as exc:
            problems.append(Problem(path, 0, 0, f"channel {name!r}: {exc.problems[0].message}"))
        return problems

    def __init__(
        self, name: str, options: dict[str, Any], *, templates: Any = None, **transports: Any
    ) -> None:
        super().__init__(name, options, templates=templates, **transports)
        self._module = _apprise()

    def _urls(self) -> list[str]:
        raw = self.options.get("urls")
        if raw:
            return as_list(raw)
        text = secret(self.options, "urls", self.name) or ""
        return [u.strip() for u in text.replace(",", "\n").splitlines() if u.strip()]

    def render(self, digest: Digest) -> RenderedMessage:
        return render_text(self, digest)

    def send(self, message: RenderedMessage) -> None:
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
