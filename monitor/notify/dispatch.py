"""Route, silence and group one release's notices into outbox messages (no network here).

- Silences first: a silenced alert is reported in ``DispatchPlan.silenced`` (the pipeline records
  it) and goes to no route.
- Routing: routes are tried in order; the first whose ``match`` accepts the alert takes it, and
  the search stops unless that route has ``continue: true``. A route with an empty match accepts
  everything (the default route; put it last).
- Grouping: one ``Digest`` per route per change kind (new / revised / resolved), so a release
  yields one message per route and channel, not one per series.
- Dedup: ``dedup_key`` depends only on the release, route and kind (or, without a release, on
  the alert keys), so re-planning after a crash queues nothing twice: the store ignores an
  existing (channel, dedup_key).
- Templates never stop a message: a failing template or summary is replaced by the bundled one
  or a plain rendering (monitor.render.env), and ``DispatchPlan.template_failures`` lists each
  failure once, for the caller to raise an ops notice.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from monitor.config.routes import Route
from monitor.errors import ConfigError
from monitor.model import Alert, Release, alert_matches
from monitor.notify.base import (
    CHANGE_NEW,
    CHANGE_RESOLVED,
    CHANGE_REVISED,
    Channel,
    Digest,
    Notice,
    RenderedMessage,
)
from monitor.render.env import TemplateFailure, collect_failures
from monitor.render.view import sort_notices
from monitor.store.base import OutboxEntry

log = logging.getLogger(__name__)

KINDS = (CHANGE_NEW, CHANGE_REVISED, CHANGE_RESOLVED)
#: outbox ``kind`` per change (OutboxEntry documents alert | revised | resolved | test | ops)
OUTBOX_KIND = {CHANGE_NEW: "alert", CHANGE_REVISED: "revised", CHANGE_RESOLVED: "resolved"}


@dataclass(frozen=True)
class RoutedDigest(Digest):
    """A Digest plus what its route decided: the cap past which "and N more" is shown and the
    route's template variant. Channels read both with ``getattr`` so a plain Digest works too."""

    cap: int = 20
    template: str | None = None


@dataclass
class DispatchPlan:
    messages: list[OutboxEntry] = field(default_factory=list)
    silenced: set[str] = field(default_factory=set)
    #: route name -> alert keys it took (for logs and tests)
    routed: dict[str, list[str]] = field(default_factory=dict)
    #: alert keys no route accepted (logged: a config without a default route drops them)
    unrouted: set[str] = field(default_factory=set)
    #: templates and summaries that failed while rendering (fallbacks were sent instead);
    #: each template and rule once
    template_failures: list[TemplateFailure] = field(default_factory=list)


class Muting(Protocol):
    """Whether an alert is muted now (an active silence matches it): recorded, not sent."""

    def mutes(self, alert: Alert) -> bool: ...


def _dedup_key(release: Release | None, route: str, kind: str, notices: list[Notice]) -> str:
    if release is not None and release.id:
        return f"r{release.id}:{route}:{kind}"
    digest = hashlib.sha256("\n".join(sorted(n.alert.key for n in notices)).encode())
    return f"a{digest.hexdigest()[:16]}:{route}:{kind}"


def plan(
    notices: list[Notice],
    *,
    release: Release | None,
    source: str,
    source_url: str | None,
    routes: list[Route],
    channels: dict[str, Channel],
    silences: Muting | None,
    now: datetime,
) -> DispatchPlan:
    """Decide every message this release sends; render each with its channel."""
    with collect_failures() as failures:
        result = _plan(
            notices,
            release=release,
            source=source,
            source_url=source_url,
            routes=routes,
            channels=channels,
            silences=silences,
            now=now,
        )
    result.template_failures = list(failures)
    return result


def _plan(
    notices: list[Notice],
    *,
    release: Release | None,
    source: str,
    source_url: str | None,
    routes: list[Route],
    channels: dict[str, Channel],
    silences: Muting | None,
    now: datetime,
) -> DispatchPlan:
    result = DispatchPlan()
    by_route: dict[str, list[Notice]] = {}
    route_of = {r.name: r for r in routes}
    for notice in notices:
        alert = notice.alert
        # Resolved/revised notices of a silenced alert stay quiet too.
        if silences is not None and silences.mutes(alert):
            result.silenced.add(alert.key)
            continue
        taken = False
        for route in routes:
            if alert_matches(route.match, alert):
                by_route.setdefault(route.name, []).append(notice)
                taken = True
                if not route.continue_:
                    break
        if not taken:
            result.unrouted.add(alert.key)
    if result.unrouted:
        log.warning(
            "%d alert(s) matched no route (add a route with an empty match as the default): %s",
            len(result.unrouted),
            ", ".join(sorted(result.unrouted)),
        )
    release_date = (release.detected_at if release else now.isoformat())[:10]
    for route_name, routed in by_route.items():
        route = route_of[route_name]
        result.routed[route_name] = [n.alert.key for n in routed]
        for kind in KINDS:
            group = sort_notices([n for n in routed if n.change == kind])
            if not group:
                continue
            digest = RoutedDigest(
                source=source,
                release_id=release.id if release else None,
                release_date=release_date,
                route=route.name,
                notices=tuple(group),
                source_url=source_url,
                cap=route.group_cap,
                template=route.template,
            )
            key = _dedup_key(release, route.name, kind, group)
            for channel_name in route.channels:
                channel = channels.get(channel_name)
                if channel is None:
                    raise ConfigError(f"route {route.name!r}: unknown channel {channel_name!r}")
                message = render_safely(channel, digest)
                result.messages.append(
                    OutboxEntry(
                        channel=channel_name,
                        dedup_key=key,
                        kind=OUTBOX_KIND[kind],
                        message=message.to_json(),
                        alert_keys=[n.alert.key for n in group],
                    )
                )
    return result


def render_safely(channel: Channel, digest: Digest) -> RenderedMessage:
    """Render; if a custom template setting still breaks the channel's rendering (a variant
    folder or a template name the renderer cannot fall back from), log it and render with the
    bundled defaults so the alert still goes out. A failure of the defaults themselves is a bug
    and propagates. (Template runtime errors and limits are handled inside TemplateEnv.)"""
    try:
        return channel.render(digest)
    except ConfigError as exc:
        variant = getattr(digest, "template", None) or channel.options.template
        custom = bool(
            variant
            or any(n.alert.template for n in digest.notices)
            or getattr(channel.templates, "override_dir", None)
        )
        if not custom:
            raise
        log.error("channel %r: %s; rendering with the default templates instead", channel.name, exc)
    from monitor.render import TemplateEnv

    plain = replace(
        digest,
        notices=tuple(replace(n, alert=replace(n.alert, template=None)) for n in digest.notices),
    )
    if isinstance(plain, RoutedDigest):
        plain = replace(plain, template=None)
    fallback = copy.copy(channel)  # same transports, default templates
    fallback.templates = TemplateEnv()
    fallback.options = channel.options.model_copy(update={"template": None})
    return fallback.render(plain)
