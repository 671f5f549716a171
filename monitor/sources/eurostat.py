"""Eurostat Comext DS-045409 (EU trade since 1988 by CN8) as SDMX-CSV.

One request per poll for the series key ``M.<reporter>.<partner>.<product>.<flow>.<indicators>``
with ``+`` joining several values. Flow 1 is import, 2 export; QUANTITY_IN_100KG becomes
``net_weight_100kg`` (``model.normalize`` converts to kg), VALUE_IN_EUROS ``value_eur``.
Conditional requests (ETag / Last-Modified) make an unchanged dataset cost one 304; servers that
ignore them are caught by a checksum of the body.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

import pandas as pd
import pycountry

from monitor.config.sources import EurostatOptions, SourceOptions
from monitor.model import MEASURE_ALIASES, WORLD, empty_observations
from monitor.sources._common import HttpClient, canonical, recent_months, sha256
from monitor.sources.base import FetchResult, Source

log = logging.getLogger("monitor.sources.eurostat")

FLOWS = {"1": "import", "2": "export"}
FLOW_NAMES = {"import": "1", "export": "2", "1": "1", "2": "2"}
INDICATORS = {
    "QUANTITY_IN_100KG": ("net_weight_100kg", "100 kg"),
    "VALUE_IN_EUROS": ("value_eur", "EUR"),
}
# Code form and label form (label=label_only downloads) of the same dimension values.
FLOW_LABELS = {"1": "1", "2": "2", "IMPORT": "1", "EXPORT": "2"}
INDICATOR_LABELS = {
    "QUANTITY_IN_100KG": "QUANTITY_IN_100KG",
    "QUANTITY IN 100 KG": "QUANTITY_IN_100KG",
    "VALUE_IN_EUROS": "VALUE_IN_EUROS",
    "VALUE IN EUROS": "VALUE_IN_EUROS",
}
FREQS = {"M": "M", "MONTHLY": "M", "A": "A", "ANNUAL": "A"}
# Eurostat geo codes that differ from ISO 3166-1 alpha-2
GEO_FIXES = {"EL": "GR", "UK": "GB", "XK": "XK"}
COLUMNS = ("reporter", "partner", "product", "flow", "indicators", "TIME_PERIOD", "OBS_VALUE")
# Labels of Comext's aggregate areas start with one of these words.
AGGREGATE_LABELS = ("EU", "EXTRA", "INTRA", "EURO AREA", "EUROPEAN UNION")
_PARENTHESES = re.compile(r"\s*\(.*\)\s*$")


class _LineError(ValueError):
    """A data line that cannot be read as asked; the caller adds the line number and URL."""


def _join(codes: list[str]) -> str:
    return "+".join(codes)


class EurostatSource(Source):
    """EU trade by CN8 from Eurostat Comext (DS-045409) for the configured reporters, partners,
    products and flows; conditional requests, then a checksum, skip an unchanged dataset."""

    type = "eurostat"
    Options = EurostatOptions
    options: EurostatOptions
    #: months per request when backfilling (startPeriod/endPeriod of one series key)
    BACKFILL_CHUNK_MONTHS: ClassVar[int] = 60

    def __init__(self, name: str, options: SourceOptions | Mapping[str, Any], **kw: Any) -> None:
        super().__init__(name, options, **kw)
        self.rejected: Counter[str] = Counter()
        self.base_url = self.options.base_url.rstrip("/")
        self.client = HttpClient(name, self.options, self.clock, self.session, default_interval=1.0)
        self.session = self.client.session

    def _url(self) -> str:
        flow = "+".join(FLOW_NAMES[f] for f in self.options.flow)
        key = ".".join(
            [
                "M",
                _join(self.options.reporter),
                _join(self.options.partner),
                _join(self.options.product),
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
        rows = self._rows(text, url)
        if not rows:
            return empty_observations()
        try:
            return canonical(pd.DataFrame(rows), source=self.name)
        except ValueError as exc:
            raise self.client.error(str(exc), url, retryable=False) from None

    def _rows(self, text: str, url: str) -> list[dict[str, Any]]:
        """Canonical rows from SDMX-CSV in Comext's code form or label form, line by line."""
        lines = csv.reader(io.StringIO(text.lstrip("\ufeff")))
        try:
            header = [h.strip() for h in next(lines)]
        except (StopIteration, csv.Error) as exc:
            raise self.client.error(f"malformed SDMX-CSV: {exc}", url) from None
        while header and header[-1] == "":
            header.pop()
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise self.client.error(
                f"SDMX-CSV missing column(s): {', '.join(missing)}", url, retryable=False
            )
        asked = self._asked()
        out: list[dict[str, Any]] = []
        try:
            for number, cells in enumerate(lines, start=2):
                if not any(c.strip() for c in cells):
                    continue
                # Comext ends every data line with a comma: one empty field more than the header
                if len(cells) == len(header) + 1 and cells[-1].strip() == "":
                    cells = cells[:-1]
                if len(cells) != len(header):
                    raise self.client.error(
                        f"line {number}: {len(cells)} fields for {len(header)} header names",
                        url,
                        retryable=False,
                    )
                row = self._row(dict(zip(header, (c.strip() for c in cells), strict=True)), asked)
                if isinstance(row, str):
                    self.rejected[row] += 1
                else:
                    out.append(row)
        except csv.Error as exc:
            raise self.client.error(f"malformed SDMX-CSV: {exc}", url) from None
        except _LineError as exc:
            raise self.client.error(f"line {number}: {exc}", url, retryable=False) from None
        return out

    def _asked(self) -> dict[str, set[str]]:
        return {
            "reporter": {_geo_code(v) for v in self.options.reporter},
            "partner": {_geo_code(v) for v in self.options.partner},
            "product": set(self.options.product),
            "flow": {FLOW_NAMES[f] for f in self.options.flow},
        }

    def _row(self, cells: dict[str, str], asked: dict[str, set[str]]) -> dict[str, Any] | str:
        """One canonical row, the reason it is not stored (a string), or ``_LineError``."""
        freq = FREQS.get(cells.get("freq", "M").upper())
        if freq is None:
            raise _LineError(f"frequency {cells['freq']!r} is not monthly or annual")
        flow = FLOW_LABELS.get(cells["flow"].upper())
        indicator = INDICATOR_LABELS.get(cells["indicators"].upper())
        if flow is None or indicator is None:
            raise _LineError(
                f"flow {cells['flow']!r} / indicator {cells['indicators']!r} not asked for "
                f"(asked: flows {', '.join(sorted(asked['flow']))}; indicators "
                f"{', '.join(INDICATORS)})"
            )
        product = _product(cells["product"])
        reporter, partner = _geo(cells["reporter"]), _geo(cells["partner"])
        if reporter is None or partner is None:
            return "rows for aggregate areas (EU, extra-EU, euro area...)"
        for name, got in (
            ("reporter", reporter),
            ("partner", partner),
            ("product", product),
            ("flow", flow),
        ):
            if got not in asked[name]:
                raise _LineError(
                    f"{name} {cells[name]!r} was not asked for (asked: "
                    f"{', '.join(sorted(asked[name]))})"
                )
        if cells["OBS_VALUE"] == "":
            return "observations without a value (confidential or not published)"
        value = _number(cells["OBS_VALUE"])
        period = _period(cells["TIME_PERIOD"], freq)
        measure, unit = INDICATORS[indicator]
        if freq == "A":
            # The table is monthly: a year is stored at its December under its own measure, so
            # no rule on a monthly measure ever reads an annual figure (as for Comtrade).
            factor = MEASURE_ALIASES.get(measure, (measure, 1.0, unit))
            measure, unit = f"{factor[0]}_annual", factor[2]
            value *= factor[1]
        return {
            "period": period,
            "reporter": reporter,
            "partner": partner,
            "commodity": product,
            "flow": FLOWS[flow],
            "measure": measure,
            "unit": unit,
            "value": value,
        }

    def fetch(self) -> FetchResult:
        self.rejected.clear()
        start = recent_months(self.clock.now(), self.options.months)[0]
        observations, validators = self._download(start, None, conditional=True)
        cursor = {**self.cursor, **validators}
        where = self._url()
        if observations is None or validators.get("checksum") == self.cursor.get("checksum"):
            return FetchResult(
                empty_observations(), cursor, unchanged=True, description=f"{where}: unchanged"
            )
        return FetchResult(
            observations,
            cursor,
            description=f"{where}: {len(observations)} observations",
            rejected=dict(self.rejected),
        )

    def fetch_range(self, start: str, end: str) -> FetchResult:
        """History for backfill: every month from start to end, inclusive, in one unconditional
        request; the cursor is kept as it is."""
        self.rejected.clear()
        observations, _ = self._download(start, end, conditional=False)
        return FetchResult(
            observations if observations is not None else empty_observations(),
            dict(self.cursor),
            description=f"{self._url()}: {start}..{end}",
            rejected=dict(self.rejected),
        )


def _geo_code(code: str) -> str:
    code = code.strip().upper()
    return WORLD if code == "WORLD" else GEO_FIXES.get(code, code)


def _geo(cell: str) -> str | None:
    """ISO alpha-2 (or WORLD) of a code ("DE"), a code with its label ("DE:Germany") or a
    country label ("Germany (incl. German Democratic Republic (DD) from 1991)"); None for an
    aggregate area. A label that names no single country is refused, never guessed."""
    text = cell.strip()
    code = text.split(":", 1)[0].strip() if ":" in text else text
    if re.fullmatch(r"[A-Z]{2}", code) or code.upper() == "WORLD":
        return _geo_code(code)
    if re.fullmatch(r"[A-Z0-9_]+", code):
        return None  # EU27_2020, EXTRA_EU27_2020, EA20 ...: aggregates
    name = _PARENTHESES.sub("", text).strip()
    if name.upper() == "WORLD":
        return WORLD
    if name.upper().startswith(AGGREGATE_LABELS):
        return None
    try:
        return str(pycountry.countries.lookup(name).alpha_2)
    except LookupError:
        raise _LineError(
            f"area label {cell!r} names no single country: use Comext's code form "
            "(SDMX-CSV without label=label_only)"
        ) from None


def _product(cell: str) -> str:
    code = cell.split(":", 1)[0].strip() if ":" in cell else cell.strip()
    if re.fullmatch(r"\d{2,8}|TOTAL", code):
        return code
    raise _LineError(
        f"product {cell!r} is a label, not a CN code: use Comext's code form "
        "(SDMX-CSV without label=label_only)"
    )


def _period(cell: str, freq: str) -> str:
    text = cell.strip()
    if freq == "A":
        if not re.fullmatch(r"\d{4}", text):
            raise _LineError(f"annual period {cell!r} is not a year")
        return f"{text}-12"
    match = re.fullmatch(r"(\d{4})-?M?(0[1-9]|1[0-2])", text)
    if not match:
        raise _LineError(f"monthly period {cell!r} is not YYYY-MM")
    return f"{match.group(1)}-{match.group(2)}"


def _number(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise _LineError(f"OBS_VALUE {cell!r} is not a number") from None
