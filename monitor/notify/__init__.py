"""Notification: routing, silences, grouping, dedup, the outbox and one module per channel."""

from __future__ import annotations

import importlib

from monitor.notify.base import Channel, Digest, Notice, RenderedMessage

_CHANNEL_TYPES = {
    "console": "monitor.notify.console:ConsoleChannel",
    "file": "monitor.notify.file:FileChannel",
    "slack": "monitor.notify.slack:SlackWebhookChannel",
    "slack_api": "monitor.notify.slack:SlackApiChannel",
    "email": "monitor.notify.email:EmailChannel",
    "alertmanager": "monitor.notify.alertmanager:AlertmanagerChannel",
    "webhook": "monitor.notify.webhook:WebhookChannel",
    "apprise": "monitor.notify.apprise:AppriseChannel",
}


def channel_types() -> list[str]:
    return sorted(_CHANNEL_TYPES)


def channel_class(type_name: str) -> type[Channel]:
    module, _, attr = _CHANNEL_TYPES[type_name].partition(":")
    return getattr(importlib.import_module(module), attr)


__all__ = ["Channel", "Digest", "Notice", "RenderedMessage", "channel_class", "channel_types"]
