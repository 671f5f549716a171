"""Source connectors: one module per source type, all behind ``monitor.sources.base.Source``."""

from __future__ import annotations

import importlib

from monitor.sources.base import FetchResult, Source

_SOURCE_TYPES = {
    "file": "monitor.sources.file:FileSource",
    "replay": "monitor.sources.replay:ReplaySource",
    "url": "monitor.sources.url:UrlSource",
    "gacc": "monitor.sources.gacc:GaccSource",
    "comtrade": "monitor.sources.comtrade:ComtradeSource",
    "census": "monitor.sources.census:CensusSource",
    "eurostat": "monitor.sources.eurostat:EurostatSource",
}


def source_types() -> list[str]:
    return sorted(_SOURCE_TYPES)


def source_class(type_name: str) -> type[Source]:
    target = _SOURCE_TYPES[type_name]
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


__all__ = ["FetchResult", "Source", "source_class", "source_types"]
