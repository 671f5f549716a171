"""US Census international trade API: imports or exports by HS commodity, monthly.

The API answers a JSON array of arrays, header row first, every value a string; HTTP 204 (empty
body) means no matching rows, which is not an error. ``CTY_CODE`` is Schedule C; ``-`` (all
countries) becomes ``WORLD`` and country groupings (EU, continents...) are dropped. The API sends
no ETag, so "nothing changed" is a checksum of the body kept in the cursor.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from functools import cached_property
from typing import Any, ClassVar

import pandas as pd

from monitor.config.sources import CensusOptions, SourceOptions
from monitor.model import WORLD, empty_observations
from monitor.sources._common import (
    HttpClient,
    canonical,
    code_table,
    month_range,
    read_secret,
    recent_months,
    sha256,
)
from monitor.sources.base import FetchResult, Source

log = logging.getLogger("monitor.sources.census")

# endpoint -> (flow, commodity field, value field, quantity field, quantity unit field)
ENDPOINTS = {
    "imports": ("import", "I_COMMODITY", "GEN_VAL_MO", "GEN_QY1_MO", "UNIT_QY1"),
    "exports": ("export", "E_COMMODITY", "ALL_VAL_MO", "QTY_1_MO", "UNIT_QY1"),
}
# Census quantity units that are weights: (canonical measure alias, unit as the alias states it);
# model.normalize converts tonnes to kg. Any other unit stays a `quantity` in that unit.
WEIGHT_UNITS = {"KG": ("net_weight_kg", "kg"), "T": ("net_weight_t", "t")}
NO_UNIT = {"", "X", "-"}


def country_table() -> dict[str, str]:
    """Census Schedule C code -> partner code (ISO alpha-2 or special), from the bundled table."""
    return code_table("census_countries.csv", "cty_code", "iso2")


class CensusSource(Source):
    """US imports or exports (reporter US) of one HS code or prefix, monthly, from the Census
    international trade API; an unchanged body (by checksum) stores nothing."""

    type = "census"
    Options = CensusOptions
    options: CensusOptions
    #: months per request when backfilling (one `time=from .. to ..` query each)
    BACKFILL_CHUNK_MONTHS: ClassVar[int] = 12

    def __init__(self, name: str, options: SourceOptions | Mapping[str, Any], **kw: Any) -> None:
        super().__init__(name, options, **kw)
        self.rejected: Counter[str] = Counter()
        self.endpoint = self.options.endpoint
        self.base_url = self.options.base_url.rstrip("/")
        self.client = HttpClient(name, self.options, self.clock, self.session, default_interval=1.0)
        self.session = self.client.session

    @cached_property
    def key(self) -> str | None:
        """Read on first use, so a missing key_file is a poll error, not a crash at start."""
        key = read_secret(self.name, self.options, self.base_dir)
        if key:
            self.client.secrets.add(key)
        return key

    def _params(self, start: str, end: str) -> dict[str, Any]:
        _, cfield, vfield, qfield, ufield = ENDPOINTS[self.endpoint]
        commodity = self.options.commodity
        digits = len(commodity.rstrip("*"))
        params: dict[str, Any] = {
            "get": ",".join(["CTY_CODE", "CTY_NAME", vfield, qfield, ufield, cfield]),
            "time": start if start == end else f"from {start} to {end}",
            cfield: commodity,
            # A prefix (850511*) means its 10-digit lines; an exact code its own level.
            "COMM_LVL": self.options.level
            or (
                "HS10"
                if commodity.endswith("*")
                else f"HS{digits}"
                if digits in (2, 4, 6, 10)
                else None
            ),
        }
        if self.options.countries:
            # The API ORs a repeated predicate: CTY_CODE=5700&CTY_CODE=-
            params["CTY_CODE"] = list(self.options.countries)
        if self.key:
            params["key"] = self.key  # redact_url masks it in every message
        return {k: v for k, v in params.items() if v is not None}

    def _download(self, start: str, end: str) -> tuple[pd.DataFrame, str]:
        url = f"{self.base_url}/{self.endpoint}/hs"
        resp = self.client.get(url, params=self._params(start, end), ok=(200, 204))
        if resp.status_code == 204 or not resp.content.strip():
            return empty_observations(), sha256(b"")
        body = self.client.json(resp)
        return self._frame(body, resp.url, months=month_range(start, end)), sha256(resp.content)

    def _check_asked(self, frame: pd.DataFrame, months: list[str] | None, url: str) -> None:
        """Every row must be one that was asked for: its month, commodity and country.

        Rows are numbered as in the body (the header is row 1). An answer with rows nobody asked
        for is refused whole, naming the first such row.
        """
        _, cfield, *_ = ENDPOINTS[self.endpoint]
        commodity = self.options.commodity
        checks: list[tuple[str, pd.Series, str]] = []
        if months is not None:
            checks.append(("time", ~frame["time"].isin(months), f"{months[0]}..{months[-1]}"))
        codes = frame[cfield].fillna("").str.strip()
        if commodity.endswith("*"):
            wrong = ~codes.str.startswith(commodity.rstrip("*"))
        else:
            wrong = codes != commodity
        checks.append((cfield, wrong, commodity))
        if self.options.countries:
            asked = list(self.options.countries)
            checks.append(("CTY_CODE", ~frame["CTY_CODE"].fillna("").isin(asked), ", ".join(asked)))
        for column, bad, wanted in checks:
            if bad.any():
                i = int(bad.to_numpy().nonzero()[0][0])
                raise self.client.error(
                    f"row {i + 2} was not asked for: {column} {frame[column].iloc[i]!r} "
                    f"(asked: {wanted})",
                    url,
                    retryable=False,
                )

    def _frame(self, body: Any, url: str, *, months: list[str] | None = None) -> pd.DataFrame:
        flow, cfield, vfield, qfield, ufield = ENDPOINTS[self.endpoint]
        if (
            not isinstance(body, list)
            or not body
            or not all(isinstance(r, list) for r in body)
            or not all(isinstance(c, str) for c in body[0])
        ):
            raise self.client.error(
                "unexpected JSON: not a header row followed by rows", url, retryable=False
            )
        header, rows = body[0], body[1:]
        missing = [c for c in ("CTY_CODE", vfield, cfield, "time") if c not in header]
        if missing:
            raise self.client.error(
                f"missing column(s): {', '.join(missing)}", url, retryable=False
            )
        for i, r in enumerate(rows, start=2):
            if len(r) != len(header) or not all(isinstance(c, str | None) for c in r):
                raise self.client.error(
                    f"row {i}: expected {len(header)} string cells, got {r!r:.120}",
                    url,
                    retryable=False,
                )
        frame = pd.DataFrame(rows, columns=header, dtype="str")
        # A variable both asked for and used as a predicate may come back twice: keep one.
        frame = frame.loc[:, ~frame.columns.duplicated()]
        self._check_asked(frame, months, url)
        countries = country_table()
        codes = frame["CTY_CODE"].fillna("").str.strip()
        partner = codes.map(countries)
        partner[codes.isin(["-", "", "0000"])] = WORLD
        grouping = codes.str.startswith("0") | codes.str.contains("X")
        unknown = partner.isna() & ~grouping & ~codes.isin(["-", "", "0000"])
        groupings = int((partner.isna() & grouping).sum())
        if groupings:
            self.rejected["rows for country groupings (EU, continents...)"] += groupings
        if unknown.any():
            self.rejected[
                "rows for CTY_CODEs not in Schedule C ("
                + ", ".join(sorted(set(codes[unknown])))
                + ")"
            ] += int(unknown.sum())
            log.warning(
                "source %r: dropped unknown CTY_CODE(s) %s",
                self.name,
                ", ".join(sorted(set(codes[unknown]))),
            )
        keep = partner.notna().to_numpy()
        frame, partner = frame[keep], partner[keep]
        base = pd.DataFrame(
            {
                "period": frame["time"],
                "reporter": "US",
                "partner": partner,
                "commodity": frame[cfield].str.strip(),
                "flow": flow,
            }
        )
        parts = [base.assign(measure="value_usd", unit="USD", value=frame[vfield])]
        if qfield in frame and ufield in frame:
            published = frame[ufield].fillna("").str.strip()
            units = published.str.upper()
            measure = units.map(lambda u: WEIGHT_UNITS.get(u, ("quantity", ""))[0])
            unit = units.map(lambda u: WEIGHT_UNITS.get(u, ("", ""))[1]).where(
                units.isin(list(WEIGHT_UNITS)), published
            )
            has_qty = ~units.isin(NO_UNIT)
            qty_text = frame[qfield].fillna("").str.strip()
            orphans = int((~has_qty & ~qty_text.isin(["", "0"])).sum())
            if orphans:
                self.rejected[f"{qfield} without a unit ({ufield} X or empty)"] += orphans
            parts.append(
                base.assign(measure=measure, unit=unit, value=frame[qfield])[has_qty.to_numpy()]
            )
        long = pd.concat(parts, ignore_index=True)
        try:
            return canonical(long, source=self.name)
        except ValueError as exc:
            raise self.client.error(str(exc), url, retryable=False) from None

    def fetch(self) -> FetchResult:
        self.rejected.clear()
        months = recent_months(self.clock.now(), self.options.months)
        observations, digest = self._download(months[0], months[-1])
        cursor = {**self.cursor, "checksum": digest}
        where = f"{self.base_url}/{self.endpoint}/hs {self.options.commodity}"
        if self.cursor.get("checksum") == digest:
            return FetchResult(
                empty_observations(), cursor, unchanged=True, description=f"{where}: unchanged"
            )
        return FetchResult(
            observations,
            cursor,
            description=f"{where}: {months[0]}..{months[-1]}, {len(observations)} observations",
            rejected=dict(self.rejected),
        )

    def fetch_range(self, start: str, end: str) -> FetchResult:
        """History for backfill: every month from start to end, inclusive, in one request; the
        cursor is kept as it is."""
        month_range(start, end)  # validates both ends
        self.rejected.clear()
        observations, _ = self._download(start, end)
        return FetchResult(
            observations,
            dict(self.cursor),
            description=f"{self.base_url}/{self.endpoint}/hs: {start}..{end}",
            rejected=dict(self.rejected),
        )
