"""The canonical observation table (CSV or Parquet) from an HTTP(S) URL.

Conditional requests (If-None-Match / If-Modified-Since from the cursor) make an unchanged file
cost one 304; a server without validators is caught by a checksum of the body.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from monitor.config.sources import SourceOptions, UrlOptions
from monitor.model import empty_observations
from monitor.sources._common import HttpClient, canonical, sha256
from monitor.sources._text import UndecodableError, decode
from monitor.sources.base import FetchResult, Source

PARQUET_MAGIC = b"PAR1"


class UrlSource(Source):
    """The canonical table (CSV or Parquet) from ``url``; a body unchanged (304 or same
    checksum) stores nothing."""

    type = "url"
    Options = UrlOptions
    options: UrlOptions

    def __init__(self, name: str, options: SourceOptions | Mapping[str, Any], **kw: Any) -> None:
        super().__init__(name, options, **kw)
        self.url = self.options.url
        self.client = HttpClient(name, self.options, self.clock, self.session)
        self.session = self.client.session

    def _format(self, resp_type: str, body: bytes) -> str:
        if self.options.format:
            return self.options.format
        path = urlsplit(self.url).path.lower()
        if path.endswith(".parquet") or "parquet" in resp_type or body[:4] == PARQUET_MAGIC:
            return "parquet"
        return "csv"

    def fetch(self) -> FetchResult:
        headers = {}
        if self.cursor.get("etag"):
            headers["If-None-Match"] = self.cursor["etag"]
        if self.cursor.get("last_modified"):
            headers["If-Modified-Since"] = self.cursor["last_modified"]
        resp = self.client.get(self.url, headers=headers, ok=(200, 304))
        cursor = dict(self.cursor)
        for key, header in (("etag", "ETag"), ("last_modified", "Last-Modified")):
            if resp.headers.get(header):
                cursor[key] = resp.headers[header]
        if resp.status_code == 304:
            return FetchResult(
                empty_observations(),
                cursor,
                unchanged=True,
                description=f"{self.client.error('', self.url).url}: 304",
            )
        digest = sha256(resp.content)
        cursor["checksum"] = digest
        shown = self.client.error("", self.url).url
        if self.cursor.get("checksum") == digest:
            return FetchResult(
                empty_observations(), cursor, unchanged=True, description=f"{shown}: unchanged"
            )
        fmt = self._format(resp.headers.get("Content-Type", ""), resp.content)
        if fmt == "csv" and resp.content.lstrip()[:1] == b"<":
            raise self.client.error("expected CSV but got an HTML page", self.url)
        text = ""
        if fmt != "parquet":
            try:
                text, _ = decode(resp.content)
            except UndecodableError as exc:
                raise self.client.error(str(exc), self.url, retryable=False) from None
        try:
            if fmt == "parquet":
                frame = pd.read_parquet(io.BytesIO(resp.content))
                # Parquet keeps types: codes become strings so leading zeros survive.
                frame = frame.astype({c: "str" for c in frame.columns if c != "value"})
            else:
                frame = pd.read_csv(
                    io.StringIO(text), dtype="str", keep_default_na=False, na_values=[""]
                )
            observations = canonical(frame, source=self.name)
        except Exception as exc:  # pyarrow and the CSV parser raise many types on bad input
            raise self.client.error(f"malformed {fmt}: {exc}", self.url, retryable=False) from None
        return FetchResult(
            observations, cursor, description=f"{shown}: {len(observations)} observations"
        )
