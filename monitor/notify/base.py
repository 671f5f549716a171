"""Contracts of the notify layer: what the pipeline hands it, and what every channel implements.

Flow: the pipeline turns a release's evaluation into ``Notice``s (new / revised / resolved
alerts, each with the series' recent history); ``dispatch.plan`` routes, silences and groups them
into one ``Digest`` per release per route and channel, and asks each ``Channel`` to ``render`` it;
the rendered messages go to the durable outbox in the same transaction as the alerts; and
``deliver.deliver_due`` later calls ``Channel.send`` for each due message. Channels know nothing
of pandas or the store.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from monitor.config.channels import ChannelOptions
from monitor.config.options import check
from monitor.errors import Problem
from monitor.notice import CHANGE_NEW, CHANGE_RESOLVED, CHANGE_REVISED, Digest, Notice

if TYPE_CHECKING:
    from monitor.render.env import TemplateEnv

# Notice, Digest and the kinds of change live in monitor.notice, which render reads too; they are
# this layer's contract, so they are exported from here as well.
__all__ = [
    "CHANGE_NEW",
    "CHANGE_RESOLVED",
    "CHANGE_REVISED",
    "Channel",
    "Digest",
    "Notice",
    "RenderedMessage",
]


@dataclass(frozen=True)
class RenderedMessage:
    """A message ready for the wire; stored as JSON in the outbox so retries send the same."""

    subject: str
    text: str  # plain text (console, Slack fallback, email text part)
    payload: dict[str, Any] = field(default_factory=dict)  # channel-specific (blocks, html...)

    def to_json(self) -> dict[str, Any]:
        """The message as the outbox stores it (``from_json`` reads it back)."""
        return {"subject": self.subject, "text": self.text, "payload": self.payload}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RenderedMessage:
        """A message stored by ``to_json``; a missing ``payload`` is empty."""
        return cls(subject=data["subject"], text=data["text"], payload=data.get("payload", {}))


class Channel(ABC):
    """One configured destination (a Slack webhook, an SMTP relay...).

    ``send`` raises ``DeliveryError`` with ``permanent=True`` for failures retrying cannot fix
    (404/410 webhook, auth refused, bad recipient) and ``retry_after`` when the server asked.
    """

    type: ClassVar[str]
    #: the options model of this channel type (monitor.config.channels)
    Options: ClassVar[builtins.type[ChannelOptions]] = ChannelOptions
    options: ChannelOptions
    #: minimum seconds between two messages on this channel: the type's default (Slack: 1 per
    #: second per webhook), else ``1 / max_per_second`` when that option is set
    min_interval: float = 0.0

    def __init__(
        self,
        name: str,
        options: ChannelOptions | Mapping[str, Any],
        *,
        templates: TemplateEnv | None = None,
        **transports: Any,
    ) -> None:
        """``options``: the validated model (from the config); a mapping is validated here
        (a ConfigError naming the channel if it is wrong)."""
        self.name = name
        self.options = self.Options.parse(options, what=f"channel {name!r}")
        if self.options.max_per_second:  # every type accepts it; deliver_due does the pacing
            self.min_interval = 1.0 / self.options.max_per_second
        self.templates = templates
        self.transports = transports  # injected: session=requests.Session, smtp_factory=...
        #: what the channel opened for itself (``session_of``'s HTTP session), closed by
        #: ``close``; what was injected belongs to whoever passed it and is never closed here
        self.opened: dict[str, Any] = {}

    @classmethod
    def check_options(cls, name: str, options: Mapping[str, Any], path: str) -> list[Problem]:
        """Located problems of ``options`` (the YAML mapping) as this channel type's."""
        found = check(cls.Options, options, path, what=f"channel {name!r}")
        missing = cls.Options.unavailable()
        if missing:
            found.append(Problem(path, 0, 0, f"channel {name!r}: {missing}"))
        return found

    @abstractmethod
    def render(self, digest: Digest) -> RenderedMessage:
        """The message for ``digest``, made when it is queued: no network. It is stored in the
        outbox and sent as it is, retries included, so it must hold everything ``send`` needs."""

    @abstractmethod
    def send(self, message: RenderedMessage) -> None:
        """Deliver one message; returning means the server accepted it, a failure raises
        ``DeliveryError``. ``deliver_due`` calls it on a thread of the channel's own, one message
        at a time."""

    def close(self) -> None:
        """Close what the channel opened for itself (its HTTP session and the connections that
        session keeps alive), once its owner is done; a later send would open anew."""
        while self.opened:
            _, resource = self.opened.popitem()
            resource.close()
