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
from monitor.model import Alert

if TYPE_CHECKING:
    from monitor.render.env import TemplateEnv

CHANGE_NEW = "new"
CHANGE_REVISED = "revised"  # a revision changed the figures of an alert already sent
CHANGE_RESOLVED = "resolved"  # a revision made an alert already sent no longer hold


@dataclass(frozen=True)
class Notice:
    alert: Alert
    change: str = CHANGE_NEW
    #: the series' recent months, oldest first, ``(period, value or None)``; ends at alert.period
    history: tuple[tuple[str, float | None], ...] = ()
    #: for revised/resolved: the figures that were sent before (``Alert.to_dict()`` of the old one)
    previous: dict[str, Any] | None = None
    #: for resolved: the series' value for alert.period after the revision (None: not known
    #: here; the view then reads it from ``history``, which ends at alert.period)
    current: float | None = None
    #: for share alerts: the partner's share of the reporter's total in percent, same months
    #: as ``history`` (monitor.render.history.share_history_for); charts show it
    share_history: tuple[tuple[str, float | None], ...] = ()


@dataclass(frozen=True)
class Digest:
    """Everything one release fired for one route, to be sent as one message per channel."""

    source: str
    release_id: int | None
    release_date: str  # ISO date the release was detected
    route: str  # route name or index, for grouping keys
    notices: tuple[Notice, ...]
    test: bool = False  # send-test: clearly marked as a test
    source_url: str | None = None  # link to the source (no secrets)


@dataclass(frozen=True)
class RenderedMessage:
    """A message ready for the wire; stored as JSON in the outbox so retries send the same."""

    subject: str
    text: str  # plain text (console, Slack fallback, email text part)
    payload: dict[str, Any] = field(default_factory=dict)  # channel-specific (blocks, html...)

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "text": self.text, "payload": self.payload}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RenderedMessage:
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
    #: minimum seconds between two messages on this channel (Slack: 1 per second per webhook)
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
        self.templates = templates
        self.transports = transports  # injected: session=requests.Session, smtp_factory=...

    @classmethod
    def check_options(cls, name: str, options: Mapping[str, Any], path: str) -> list[Problem]:
        """Located problems of ``options`` (the YAML mapping) as this channel type's."""
        found = check(cls.Options, options, path, what=f"channel {name!r}")
        missing = cls.Options.unavailable()
        if missing:
            found.append(Problem(path, 0, 0, f"channel {name!r}: {missing}"))
        return found

    @abstractmethod
    def render(self, digest: Digest) -> RenderedMessage: ...

    @abstractmethod
    def send(self, message: RenderedMessage) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        pass
