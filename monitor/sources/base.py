"""The one interface every source connector implements.

A source knows nothing of rules or channels: ``fetch()`` returns canonical observations (see
``monitor.model``) plus the cursor it wants remembered (ETag, Last-Modified, checksums, hashes of
files already ingested). The pipeline compares the observations with the store to find new and
revised periods, and saves the cursor in the same transaction as the data, so a crash never
leaves a cursor that claims data we do not have.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd
import requests

from monitor.clock import Clock, SystemClock
from monitor.config.options import check
from monitor.config.sources import SourceOptions
from monitor.errors import Problem, SourceError
from monitor.model import OBSERVATION_KEY, Normalized, RejectedRow, empty_observations


class RejectedRowsError(SourceError):
    """A payload refused for its bad rows; ``located`` lists the first (line or row, text)."""

    def __init__(self, source: str, message: str, located: list[tuple[int, str]]) -> None:
        super().__init__(source, message, retryable=False)
        self.located = located


class ObservationStream:
    """The canonical chunks of one large payload, read lazily (iterate once).

    ``chunks`` yields ``Normalized`` chunks; rows a chunk rejected follow ``bad_rows``:
    ``refuse`` raises a SourceError listing them (nothing is stored: the store consumes the
    stream before it writes), ``skip`` drops them and keeps count in ``rejected_rows`` and
    ``rejected`` (the first few, located with ``row_label``).
    """

    MAX_LISTED = 10

    def __init__(
        self,
        chunks: Callable[[], Iterator[Normalized]],
        *,
        source: str,
        where: str,
        bad_rows: str = "refuse",
        row_label: Callable[[int], str] = lambda row: f"row {row}",
        row_number: Callable[[int], int] = lambda row: row,
        hint: str = "",
    ) -> None:
        """``row_label``/``row_number``: a data row as words ("line 5") and as a number for
        editors; ``hint``: appended to the refusal (what the user can do)."""
        self._chunks = chunks
        self.source = source
        self.where = where
        self.bad_rows = bad_rows
        self.row_label = row_label
        self.row_number = row_number
        self.hint = hint
        self.rows = 0
        self.rejected_rows = 0
        self.rejected: list[str] = []

    def _located(self, rejected: RejectedRow) -> str:
        return f"{self.row_label(rejected.row)}, column {rejected.column}: {rejected.reason}"

    def __iter__(self) -> Iterator[pd.DataFrame]:
        for chunk in self._chunks():
            if chunk.rejected_rows:
                listed = [self._located(r) for r in chunk.rejected[: self.MAX_LISTED]]
                if self.bad_rows != "skip":
                    more = chunk.rejected_rows - len(listed)
                    raise RejectedRowsError(
                        self.source,
                        f"{self.where}: "
                        + "; ".join(listed)
                        + (f"; and {more} more bad row(s)" if more > 0 else "")
                        + self.hint,
                        [
                            (self.row_number(r.row), f"column {r.column}: {r.reason}")
                            for r in chunk.rejected[: self.MAX_LISTED]
                        ],
                    )
                room = self.MAX_LISTED - len(self.rejected)
                self.rejected.extend(f"{self.where}: {x}" for x in listed[: max(room, 0)])
                self.rejected_rows += chunk.rejected_rows
            self.rows += len(chunk.frame)
            yield chunk.frame

    def frame(self) -> pd.DataFrame:
        """Every chunk as one canonical frame (text columns, sorted by key): small payloads."""
        parts = [p.astype({c: "str" for c in p.columns if c != "value"}) for p in self]
        if not parts:
            return empty_observations()
        out = pd.concat(parts, ignore_index=True)
        dup = out.duplicated([*OBSERVATION_KEY, "source"], keep=False)
        if dup.any():
            first = out[dup].iloc[0]
            key = ", ".join(f"{k}={first[k]}" for k in OBSERVATION_KEY)
            raise SourceError(
                self.source, f"{self.where}: duplicate observation for {key}", retryable=False
            )
        return out.sort_values(OBSERVATION_KEY, kind="stable").reset_index(drop=True)


@dataclass
class FetchResult:
    """What one fetch read: canonical observations (or a lazy stream), the cursor to save with
    them, and what was read but not ingested."""

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
    #: a large payload read lazily in chunks instead of ``observations`` (the file source)
    stream: ObservationStream | None = None

    def chunks(self) -> Iterable[pd.DataFrame]:
        """What to ingest: the stream's chunks, or the one observations frame."""
        return self.stream if self.stream is not None else [self.observations]

    def frame(self) -> pd.DataFrame:
        """Everything as one canonical frame (reads a stream whole: for small payloads)."""
        return self.stream.frame() if self.stream is not None else self.observations


class Source(ABC):
    """Base class of connectors. Subclasses set ``type`` and implement ``fetch``."""

    type: ClassVar[str]
    #: the options model of this source type (monitor.config.sources)
    Options: ClassVar[builtins.type[SourceOptions]] = SourceOptions
    options: SourceOptions

    def __init__(
        self,
        name: str,
        options: SourceOptions | Mapping[str, Any],
        *,
        clock: Clock | None = None,
        session: requests.Session | None = None,
        cursor: dict[str, Any] | None = None,
        base_dir: str | None = None,
    ) -> None:
        """``options``: the validated model (from the config); a mapping is validated here
        (a ConfigError naming the source if it is wrong)."""
        self.name = name
        self.options = self.Options.parse(options, what=f"source {name!r}")
        self.clock = clock or SystemClock()
        self.session = session
        self.cursor = dict(cursor or {})
        self.base_dir = base_dir
        #: check mode (`sources check`): read, store nothing, move no files
        self.dry_run = False

    @classmethod
    def check_options(cls, name: str, options: Mapping[str, Any], path: str) -> list[Problem]:
        """Located problems of ``options`` (the YAML mapping) as this source type's."""
        return check(cls.Options, options, path, what=f"source {name!r}")

    @abstractmethod
    def fetch(self) -> FetchResult:
        """Fetch once. Raise ``SourceError`` (never a raw exception) when it fails."""

    def close(self) -> None:
        """Close the source's HTTP session, if it has one (an injected one too)."""
        if self.session is not None:
            self.session.close()
