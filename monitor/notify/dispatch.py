"""Route, silence and group one release's notices into outbox messages (no network here).

``plan`` is the one entry point; it runs a pipeline of small stages (``STAGES``: mute, route,
group, render, outbox), each reading what the one before it left, as Alertmanager's
notification pipeline chains its ``Stage.Exec``. The caller commits the messages to the outbox
with the alerts in one transaction.

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
from collections.abc import Callable
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
    """What ``plan`` decided: the outbox entries to queue (the caller stores them) and which
    alerts were silenced, routed or unrouted, with the template failures."""

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

    def mutes(self, alert: Alert) -> bool:
        """True to mute ``alert``: ``plan`` adds it to ``silenced`` and routes it nowhere."""


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
    batch = _Batch(list(notices), release, source, source_url, routes, channels, silences, now)
    with collect_failures() as failures:
        for stage in STAGES:
            stage(batch)
    result = batch.result
    result.template_failures = list(failures)
    return result


@dataclass(frozen=True)
class _Group:
    """One digest: a route's notices of one kind of change, and its outbox dedup key."""

    route: Route
    kind: str
    digest: RoutedDigest
    dedup_key: str


@dataclass
class _Batch:
    """One plan in flight: its inputs, and what each stage leaves for the next."""

    notices: list[Notice]
    release: Release | None
    source: str
    source_url: str | None
    routes: list[Route]
    channels: dict[str, Channel]
    silences: Muting | None
    now: datetime
    result: DispatchPlan = field(default_factory=DispatchPlan)
    #: route name -> its notices, in the order routes first took one (route stage)
    by_route: dict[str, list[Notice]] = field(default_factory=dict)
    #: digests in route order, then kind order (group stage)
    groups: list[_Group] = field(default_factory=list)
    #: (group, channel name, message) in group order, then the route's channel order (render)
    rendered: list[tuple[_Group, str, RenderedMessage]] = field(default_factory=list)


def _mute(batch: _Batch) -> None:
    """Silences first: a muted alert is recorded as silenced and goes to no route. Resolved
    and revised notices of a silenced alert stay quiet too."""
    if batch.silences is None:
        return
    kept = []
    for notice in batch.notices:
        if batch.silences.mutes(notice.alert):
            batch.result.silenced.add(notice.alert.key)
        else:
            kept.append(notice)
    batch.notices = kept


def _route(batch: _Batch) -> None:
    """Routes in order; the first that matches takes the alert, and the search stops unless
    that route continues."""
    result = batch.result
    for notice in batch.notices:
        alert = notice.alert
        taken = False
        for route in batch.routes:
            if alert_matches(route.match, alert):
                batch.by_route.setdefault(route.name, []).append(notice)
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
    for route_name, routed in batch.by_route.items():
        result.routed[route_name] = [n.alert.key for n in routed]


def _group(batch: _Batch) -> None:
    """One digest per route per kind of change, its notices in the order messages show them."""
    release = batch.release
    release_date = (release.detected_at if release else batch.now.isoformat())[:10]
    route_of = {r.name: r for r in batch.routes}
    for route_name, routed in batch.by_route.items():
        route = route_of[route_name]
        for kind in KINDS:
            group = sort_notices([n for n in routed if n.change == kind])
            if not group:
                continue
            digest = RoutedDigest(
                source=batch.source,
                release_id=release.id if release else None,
                release_date=release_date,
                route=route.name,
                notices=tuple(group),
                source_url=batch.source_url,
                cap=route.group_cap,
                template=route.template,
            )
            key = _dedup_key(release, route.name, kind, group)
            batch.groups.append(_Group(route, kind, digest, key))


def _render(batch: _Batch) -> None:
    """Each digest rendered by each channel of its route (fallback templates on a failure)."""
    for group in batch.groups:
        for channel_name in group.route.channels:
            channel = batch.channels.get(channel_name)
            if channel is None:
                raise ConfigError(f"route {group.route.name!r}: unknown channel {channel_name!r}")
            batch.rendered.append((group, channel_name, render_safely(channel, group.digest)))


def _outbox(batch: _Batch) -> None:
    """The outbox entries: one per rendered message, keyed so re-planning queues nothing twice."""
    for group, channel_name, message in batch.rendered:
        batch.result.messages.append(
            OutboxEntry(
                channel=channel_name,
                dedup_key=group.dedup_key,
                kind=OUTBOX_KIND[group.kind],
                message=message.to_json(),
                alert_keys=[n.alert.key for n in group.digest.notices],
            )
        )


#: the stages of a plan, in order: each reads what the one before it left in the batch
STAGES: tuple[Callable[[_Batch], None], ...] = (_mute, _route, _group, _render, _outbox)


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
