"""Source connectors: one module per source type, all behind ``monitor.sources.base.Source``.

Each type's options are a model in ``monitor.config.sources``; the model names the connector
class (``implementation``), which is imported only when a source of that type is built.
"""

from __future__ import annotations

import importlib

from monitor.config.options import registry
from monitor.config.sources import AnySourceOptions, SourceOptions
from monitor.sources.base import FetchResult, Source

_OPTIONS: dict[str, type[SourceOptions]] = registry(AnySourceOptions)


def source_types() -> list[str]:
    """Every source ``type:`` the configuration accepts, sorted."""
    return sorted(_OPTIONS)


def source_class(type_name: str) -> type[Source]:
    """The connector class of a ``type:``, its module imported now; KeyError for an unknown type."""
    module, _, attr = _OPTIONS[type_name].implementation.partition(":")
    cls: type[Source] = getattr(importlib.import_module(module), attr)
    return cls


__all__ = ["FetchResult", "Source", "source_class", "source_types"]
