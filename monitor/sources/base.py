"""The one interface every source connector implements.

A source knows nothing of rules or channels: ``fetch()`` returns canonical observations (see
``monitor.model``) plus the cursor it wants remembered (ETag, Last-Modified, checksums, hashes of
files already ingested). The pipeline compares the observations with the store to find new and
revised periods, and saves the cursor in the same transaction as the data, so a crash never
leaves a cursor that claims data we do not have.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd
import requests

from monitor.clock import Clock, SystemClock
from monitor.errors import Problem


@dataclass
class FetchResult:
    observations: pd.DataFrame  # canonical layout, already ``model.normalize``d
    cursor: dict[str, Any] = field(default_factory=dict)
    unchanged: bool = False  # e.g. HTTP 304 / same checksum: nothing to ingest
    description: str = ""  # what was read (URL without secrets, file names)
    # What was read but not ingested, reason -> how many (rows, records or files, as the reason
    # says): `sources check` shows it, so nothing is dropped without a word.
    rejected: dict[str, int] = field(default_factory=dict)
    # Called by the pipeline after the observations were committed to the store (e.g. the GACC
    # connector moves ingested files to done/). Must be idempotent.
    on_committed: Any = None


class Source(ABC):
    """Base class of connectors. Subclasses set ``type`` and implement ``fetch``."""

    type: ClassVar[str]
    #: options every source accepts besides its own
    COMMON_OPTIONS: ClassVar[set[str]] = {
        "type",
        "schedule",
        "calendar",
        "initial",
        "timezone",
        "failure_alert_after",
        "labels",
    }
    #: the source's own options (validation reports anything else as unknown)
    OPTIONS: ClassVar[set[str]] = set()
    REQUIRED: ClassVar[set[str]] = set()

    def __init__(
        self,
        name: str,
        options: dict[str, Any],
        *,
        clock: Clock | None = None,
        session: requests.Session | None = None,
        cursor: dict[str, Any] | None = None,
        base_dir: str | None = None,
    ) -> None:
        self.name = name
        self.options = options
        self.clock = clock or SystemClock()
        self.session = session
        self.cursor = dict(cursor or {})
        self.base_dir = base_dir
        #: check mode (`sources check`): read, store nothing, move no files
        self.dry_run = False

    @classmethod
    def check_options(cls, name: str, options: dict[str, Any], path: str) -> list[Problem]:
        """Located problems with this source's options (unknown keys, missing, wrong types)."""
        from monitor.config_checks import check_keys

        return check_keys(
            options,
            allowed=cls.OPTIONS | cls.COMMON_OPTIONS,
            required=cls.REQUIRED,
            path=path,
            what=f"source {name!r}",
        )

    @abstractmethod
    def fetch(self) -> FetchResult:
        """Fetch once. Raise ``SourceError`` (never a raw exception) when it fails."""

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
