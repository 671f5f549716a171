"""Prometheus Alertmanager: ``POST /api/v2/alerts`` so teams route, silence and page with it.

Each alert becomes one Alertmanager alert: labels = ``alertname`` (the rule id), severity, the
series (reporter, partner, commodity, flow, measure), period, source and the rule's labels (an
ops notice has no series: its labels ``ops``, ``subject`` and ``incident_id`` identify it);
annotations = summary, description, value. Alertmanager resolves an alert that is not re-sent
before its ``endsAt``; customs figures change monthly, so ``endsAt`` is set ``active_for``
(default 7 days) ahead; a "no longer holds" notice resolves it (``endsAt`` = the release date).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.clock import utc_iso
from monitor.config.channels import AlertmanagerOptions
from monitor.notify.base import CHANGE_RESOLVED, Channel, Digest, RenderedMessage
from monitor.notify.options import post, raise_for_status, session_of, timeout_of, verify_of
from monitor.notify.rendering import templates_of
from monitor.render.view import notice_view

DEFAULT_ACTIVE_FOR = timedelta(days=7)
_LABEL_NAME = re.compile(r"[^A-Za-z0-9_]")


def label_name(name: str) -> str:
    """Alertmanager refuses (400) label names outside ``[a-zA-Z_][a-zA-Z0-9_]*``; rule labels
    such as ``desk-name`` are mapped to ``desk_name`` rather than losing the whole message."""
    clean = _LABEL_NAME.sub("_", name)
    return clean if clean and not clean[0].isdigit() else f"_{clean}"


def _parse_when(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class AlertmanagerChannel(Channel):
    """Posts each digest's notices to Alertmanager as alerts, so it routes, silences and pages."""

    type = "alertmanager"
    Options = AlertmanagerOptions
    options: AlertmanagerOptions

    def render(self, digest: Digest) -> RenderedMessage:
        """One Alertmanager alert per notice, starting at the digest's ``release_date`` (midnight
        UTC) and ending ``active_for_hours`` later (default 7 days), or at once if resolved."""
        env = templates_of(self)
        starts = _parse_when(
            digest.release_date
            if len(digest.release_date) > 10
            else f"{digest.release_date}T00:00:00+00:00"
        )
        hours = self.options.active_for_hours
        active_for = timedelta(hours=hours) if hours else DEFAULT_ACTIVE_FOR
        alerts = []
        for n in digest.notices:
            a = n.alert
            labels = {label_name(k): str(v) for k, v in a.labels.items()}
            labels.update(
                alertname=a.rule_id,
                severity=a.severity,
                period=a.period,
                source=a.source or digest.source,
            )
            if a.is_series:  # a notice (ops) is identified by its own labels alone
                labels.update(a.series)
            if digest.test:
                labels["test"] = "true"
            view = notice_view(n, env)  # the words every other channel uses
            summary = view["summary_text"]
            description = "; ".join(view["figures"])
            if view["change_text"]:
                description += f" ({view['change_text']})"
            item: dict[str, Any] = {
                "labels": labels,
                "annotations": {
                    "summary": summary,
                    "description": description,
                    "value": repr(a.value) if view["kind"] == "alert" else "",
                    "unit": a.unit,
                },
                "startsAt": utc_iso(starts),
                "endsAt": utc_iso(starts + active_for),
            }
            if n.change == CHANGE_RESOLVED:
                # Resolved as of the release that revised it away: endsAt in the past.
                item["endsAt"] = utc_iso(starts)
            url = view["url"] or digest.source_url  # the alert's console page, if any
            if url:
                item["generatorURL"] = url
            alerts.append(item)
        text = "\n".join(
            f"{x['labels']['alertname']}: {x['annotations']['summary']}" for x in alerts
        )
        return RenderedMessage(
            subject=f"{len(alerts)} alert(s) from {digest.source}",
            text=text,
            payload={"alerts": alerts},
        )

    def send(self, message: RenderedMessage) -> None:
        """POST the alerts to ``<url>/api/v2/alerts``, with the bearer token if one is set, else
        basic auth when ``username`` is."""
        url = self.options.url.rstrip("/") + "/api/v2/alerts"
        headers = {}
        auth = None
        token = self.options.bearer_token_secret.read(self.name, required=False)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif self.options.username:
            auth = (
                self.options.username,
                self.options.password_secret.read(self.name, required=False) or "",
            )
        response = post(
            self.name,
            session_of(self, self.options),
            url,
            json=message.payload.get("alerts", []),
            headers=headers,
            auth=auth,
            timeout=timeout_of(self.options),
            verify=verify_of(self.options),
        )
        raise_for_status(self.name, url, response)
