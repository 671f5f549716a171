"""Eurostat Comext DS-045409 (EU trade since 1988 by CN8) as SDMX-CSV.

One request per poll for the series key ``M.<reporter>.<partner>.<product>.<flow>.<indicators>``
with ``+`` joining several values. Flow 1 is import, 2 export; QUANTITY_IN_100KG becomes
``net_weight_100kg`` (``model.normalize`` converts to kg), VALUE_IN_EUROS ``value_eur``.
Conditional requests (ETag / Last-Modified) make an unchanged dataset cost one 304; servers that
ignore them are caught by a checksum of the body.
"""

from __future__ import annotations

import io
import logging
from typing import Any, ClassVar

import pandas as pd

from monitor.errors import Problem
from monitor.model import WORLD, empty_observations, normalize
from monitor.sources._common import HttpClient, check_choice, recent_months, sha256
from monitor.sources.base import FetchResult, Source

log = logging.getLogger("monitor.sources.eurostat")

BASE_URL = "https://ec.europa.eu/eurostat/api/comext/dissemination/sdmx/2.1/data/DS-045409"
FLOWS = {"1": "import", "2": "export"}
FLOW_NAMES = {"import": "1", "export": "2", "1": "1", "2": "2"}
INDICATORS = {
    "QUANTITY_IN_100KG": ("net_weight_100kg", "kg"),
    "VALUE_IN_EUROS": ("value_eur", "EUR"),
}
# Eurostat geo codes that differ from ISO 3166-1 alpha-2
GEO_FIXES = {"EL": "GR", "UK": "GB", "XK": "XK"}
COLUMNS = ("reporter", "partner", "product", "flow", "indicators", "TIME_PERIOD", "OBS_VALUE")


def _join(value: Any) -> str:
    return "+".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)


class EurostatSource(Source):
    type = "eurostat"
    OPTIONS: ClassVar[set[str]] = {
        "reporter",
        "partner",
        "product",
        "flow",
        "months",
        "base_url",
        "rate_limit",
        "max_wait",
        "timeout",
        "ca_bundle",
    }
    REQUIRED: ClassVar[set[str]] = {"reporter", "partner", "product"}
    #: months per request when backfilling (startPeriod/endPeriod of one series key)
    BACKFILL_CHUNK_MONTHS: ClassVar[int] = 60

    @classmethod
    def check_options(cls, name: str, options: dict[str, Any], path: str) -> list[Problem]:
        return [
            *super().check_options(name, options, path),
            *check_choice(name, options, path, "flow", tuple(FLOW_NAMES), many=True),
        ]

    def __init__(self, name: str, options: dict[str, Any], **kw: Any) -> None:
        super().__init__(name, options, **kw)
        self.base_url = str(options.get("base_url", BASE_URL)).rstrip("/")
        self.client = HttpClient(name, options, self.clock, self.session, default_interval=1.0)
        self.session = self.client.session

    def _url(self) -> str:
        flows = self.options.get("flow", ["import", "export"])
        flows = flows if isinstance(flows, list | tuple) else [flows]
        flow = "+".join(FLOW_NAMES.get(str(f), str(f)) for f in flows)
        key = ".".join(
            [
                "M",
                _join(self.options["reporter"]),
                _join(self.options["partner"]),
                _join(self.options["product"]),
                flow,
                "+".join(INDICATORS),
            ]
        )
        return f"{self.base_url}/{key}"

    def _download(
        self, start: str, end: str | None, *, conditional: bool
    ) -> tuple[pd.DataFrame | None, dict[str, Any]]:
        params = {"format": "SDMX-CSV", "startPeriod": start}
        if end:
            params["endPeriod"] = end
        headers = {}
        if conditional and self.cursor.get("etag"):
            headers["If-None-Match"] = self.cursor["etag"]
        if conditional and self.cursor.get("last_modified"):
            headers["If-Modified-Since"] = self.cursor["last_modified"]
        resp = self.client.get(self._url(), params=params, headers=headers, ok=(200, 304))
        validators = {
            "etag": resp.headers.get("ETag"),
            "last_modified": resp.headers.get("Last-Modified"),
        }
        validators = {k: v for k, v in validators.items() if v}
        if resp.status_code == 304:
            return None, validators
        validators["checksum"] = sha256(resp.content)
        return self._frame(resp.text, resp.url), validators

    def _frame(self, text: str, url: str) -> pd.DataFrame:
        if text.lstrip()[:1] == "<":
            raise self.client.error("expected SDMX-CSV but got an HTML/XML page", url)
        if not text.strip():
            return empty_observations()
        try:
            raw = pd.read_csv(io.StringIO(text), dtype="str", keep_default_na=False)
        except (ValueError, pd.errors.ParserError) as exc:
            raise self.client.error(f"malformed SDMX-CSV: {exc}", url) from None
        missing = [c for c in COLUMNS if c not in raw.columns]
        if missing:
            raise self.client.error(
                f"SDMX-CSV missing column(s): {', '.join(missing)}", url, retryable=False
            )
        if raw.empty:
            return empty_observations()
        bad = ~raw["indicators"].isin(list(INDICATORS)) | ~raw["flow"].isin(list(FLOWS))
        if bad.any():
            row = raw[bad].iloc[0]
            raise self.client.error(
                f"unexpected flow/indicator {row['flow']!r}/{row['indicators']!r}",
                url,
                retryable=False,
            )
        reporter = raw["reporter"].replace(GEO_FIXES)
        partner = raw["partner"].replace(GEO_FIXES).replace({"WORLD": WORLD})
        geo_ok = reporter.str.fullmatch("[A-Z]{2}") & (
            partner.str.fullmatch("[A-Z]{2}") | (partner == WORLD)
        )
        if (~geo_ok).any():
            log.warning(
                "source %r: dropped aggregate areas %s",
                self.name,
                ", ".join(sorted(set(raw["partner"][~geo_ok]) | set(raw["reporter"][~geo_ok]))),
            )
        frame = pd.DataFrame(
            {
                "period": raw["TIME_PERIOD"],
                "reporter": reporter,
                "partner": partner,
                "commodity": raw["product"],
                "flow": raw["flow"].map(FLOWS),
                "measure": raw["indicators"].map(lambda i: INDICATORS[i][0]),
                "unit": raw["indicators"].map(lambda i: INDICATORS[i][1]),
                "value": raw["OBS_VALUE"],
            }
        )[geo_ok.to_numpy()]
        try:
            return normalize(frame, source=self.name)
        except ValueError as exc:
            raise self.client.error(str(exc), url, retryable=False) from None

    def fetch(self) -> FetchResult:
        start = recent_months(self.clock.now(), int(self.options.get("months", 13)))[0]
        observations, validators = self._download(start, None, conditional=True)
        cursor = {**self.cursor, **validators}
        where = self._url()
        if observations is None or validators.get("checksum") == self.cursor.get("checksum"):
            return FetchResult(
                empty_observations(), cursor, unchanged=True, description=f"{where}: unchanged"
            )
        return FetchResult(
            observations, cursor, description=f"{where}: {len(observations)} observations"
        )

    def fetch_range(self, start: str, end: str) -> FetchResult:
        observations, _ = self._download(start, end, conditional=False)
        return FetchResult(
            observations if observations is not None else empty_observations(),
            dict(self.cursor),
            description=f"{self._url()}: {start}..{end}",
        )
