"""Source connectors: one module per source type, all behind ``monitor.sources.base.Source``.

Each type's options are a model in ``monitor.sources.options``; the model names the connector
class (``implementation``), which is imported only when a source of that type is built.
"""

from __future__ import annotations

import importlib
from typing import get_args

from monitor.sources.base import FetchResult, Source
from monitor.sources.options import AnySourceOptions, SourceOptions

_OPTIONS: dict[str, type[SourceOptions]] = {
    model.model_fields["type"].default: model for model in get_args(get_args(AnySourceOptions)[0])
}


def source_types() -> list[str]:
    return sorted(_OPTIONS)


def source_class(type_name: str) -> type[Source]:
    module, _, attr = _OPTIONS[type_name].implementation.partition(":")
    cls: type[Source] = getattr(importlib.import_module(module), attr)
    return cls


__all__ = ["FetchResult", "Source", "source_class", "source_types"]
