"""Notification: routing, silences, grouping, dedup, the outbox and one module per channel.

Each channel type's options are a model in ``monitor.config.channels``; the model names the
channel class (``implementation``), which is imported only when a channel of that type is built.
"""

from __future__ import annotations

import importlib

from monitor.config.channels import AnyChannelOptions, ChannelOptions
from monitor.config.options import registry
from monitor.notify.base import Channel, Digest, Notice, RenderedMessage

_OPTIONS: dict[str, type[ChannelOptions]] = registry(AnyChannelOptions)


def channel_types() -> list[str]:
    """Every channel ``type:`` the configuration accepts, sorted."""
    return sorted(_OPTIONS)


def channel_class(type_name: str) -> type[Channel]:
    """The channel class of a ``type:``, its module imported now; KeyError for an unknown type."""
    module, _, attr = _OPTIONS[type_name].implementation.partition(":")
    cls: type[Channel] = getattr(importlib.import_module(module), attr)
    return cls


__all__ = ["Channel", "Digest", "Notice", "RenderedMessage", "channel_class", "channel_types"]
