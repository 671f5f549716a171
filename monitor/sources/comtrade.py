"""UN Comtrade API v1: ``get`` with a subscription key, or the keyless ``preview``.

Each poll first asks ``getDa`` (data availability) for the reporter and periods; only the
periods whose ``datasetChecksum`` changed since the cursor are downloaded, so an unchanged
dataset costs one small call. Only totals are kept (customsCode C00, motCode 0, partner2Code 0).
A response that reaches the record limit is never used as is: the query is split per period,
and a single period that still hits the limit fails loudly.

Annual data (``frequency: A``): the canonical table is monthly, so an annual figure is stored at
the year's December with the measure suffixed ``_annual`` (``value_usd_annual``,
``net_weight_kg_annual``); rules on monthly measures never see it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import pandas as pd

from monitor.config.sources import ComtradeOptions, SourceOptions
from monitor.errors import SourceError
from monitor.model import empty_observations
from monitor.sources._common import (
    HttpClient,
    canonical,
    chunks,
    iso3_to_iso2,
    month_range,
    read_secret,
    recent_months,
)
from monitor.sources.base import FetchResult, Source

log = logging.getLogger("monitor.sources.comtrade")

FLOWS = {"X": "export", "M": "import", "RX": "re_export", "RM": "re_import"}
PREVIEW_LIMIT = 500  # the keyless preview never returns more
GET_LIMIT = 250_000  # the keyed get's maximum maxRecords
PERIODS_PER_CALL = 12  # Comtrade accepts at most 12 periods per call
KG = 8  # qtyUnitCode of kilograms
NO_UNIT = -1  # qtyUnitCode when there is no quantity
# Comtrade publishes Taiwan as "Other Asia, nes" (partner/reporter code 490, ISO3 "S19"). Every
# source stores Taiwan as TW (GACC 143, Census 5830, Eurostat TW): so does this one.
TAIWAN_AREAS = {"S19": "TW"}
# Commodity requests that stand for many codes: any cmdCode may come back.
MANY_CODES = ("ALL", "AG")
MISSING_WEIGHT = (
    "netWgt 0 with no weight unit (qtyUnitCode -1) or flagged isNetWgtEstimated: "
    "net weight left missing"
)


class ComtradeSource(Source):
    """UN Comtrade monthly or annual HS data of the configured reporters, keyed or through the
    keyless preview; only periods whose availability mark changed are downloaded."""

    type = "comtrade"
    Options = ComtradeOptions
    options: ComtradeOptions

    def __init__(self, name: str, options: SourceOptions | Mapping[str, Any], **kw: Any) -> None:
        super().__init__(name, options, **kw)
        self.freq = self.options.frequency
        self.base_url = self.options.base_url.rstrip("/")
        self.client = HttpClient(name, self.options, self.clock, self.session, default_interval=6.0)
        self.session = self.client.session
        # Backfill chunks: 12 periods per call, i.e. 12 months, or 12 years of annual data.
        self.BACKFILL_CHUNK_MONTHS = PERIODS_PER_CALL * (12 if self.freq == "A" else 1)
        self.rejected: Counter[str] = Counter()

    @cached_property
    def key(self) -> str | None:
        """Read on first use, so a missing key_file is a poll error, not a crash at start."""
        key = read_secret(self.name, self.options, self.base_dir)
        if key:
            self.client.secrets.add(key)
        return key

    @property
    def limit(self) -> int:
        """Most records one call may return: ``max_records`` capped at the API's own limit
        (250,000 with a key, 500 for the keyless preview); reading the key may raise SourceError."""
        default = GET_LIMIT if self.key else PREVIEW_LIMIT
        return min(self.options.max_records or default, default)

    # -- request building -----------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        # The key travels in a header, so it never appears in a URL or an error message.
        return {"Ocp-Apim-Subscription-Key": self.key} if self.key else {}

    def _path(self, what: str) -> str:
        if self.key:
            return f"{self.base_url}/data/v1/{what}/C/{self.freq}/HS"
        return f"{self.base_url}/public/v1/{'getDA' if what == 'getDa' else what}/C/{self.freq}/HS"

    def _periods(self) -> list[str]:
        """Comtrade period codes to watch: the last ``months`` months (or ``years`` years)."""
        now = self.clock.now()
        if self.freq == "A":
            return [str(y) for y in range(now.year - self.options.years, now.year)]
        return [p.replace("-", "") for p in recent_months(now, self.options.months)]

    # -- availability -----------------------------------------------------------------------

    def availability(self, periods: list[str]) -> dict[str, str]:
        """period -> datasetChecksum (or lastReleased when no checksum) for the reporter."""
        found: dict[str, str] = {}
        for part in chunks(periods, PERIODS_PER_CALL):
            params = {"reporterCode": _joined(self.options.reporter), "period": ",".join(part)}
            resp = self.client.get(self._path("getDa"), params=params, headers=self._headers())
            body = self.client.json(resp)
            records = _records(self.client, body, resp.url)
            for rec in records:
                period = str(_field(rec, "period"))
                mark = _field(rec, "datasetChecksum") or _field(rec, "lastReleased")
                # A mark for a period not asked about would sit in the cursor for nothing.
                if period in part and mark is not None:
                    found[period] = str(mark)
        return found

    # -- data -------------------------------------------------------------------------------

    def _get(self, periods: list[str]) -> list[dict[str, Any]]:
        params = {
            "reporterCode": _joined(self.options.reporter),
            "period": ",".join(periods),
            "cmdCode": _joined(self.options.commodity),
            "flowCode": _joined(self.options.flow),
            "partnerCode": _joined(self.options.partner),
            "partner2Code": "0",
            "customsCode": "C00",
            "motCode": "0",
            "maxRecords": str(self.limit),
            "includeDesc": "false",
        }
        params = {k: v for k, v in params.items() if v is not None}
        resp = self.client.get(
            self._path("get" if self.key else "preview"), params=params, headers=self._headers()
        )
        body = self.client.json(resp)
        records = _records(self.client, body, resp.url)
        self._check_asked(records, params, resp.url)
        count = body.get("count", len(records))
        if not isinstance(count, int):
            raise self.client.error(f"'count' is not a number: {count!r}", resp.url)
        if count >= self.limit or len(records) >= self.limit:
            if len(periods) > 1:
                log.warning(
                    "source %r: record limit %d reached for %d periods; splitting the "
                    "query per period",
                    self.name,
                    self.limit,
                    len(periods),
                )
                return [r for p in periods for r in self._get([p])]
            raise self.client.error(
                f"record limit {self.limit} reached for period {periods[0]}: the result would "
                "be truncated (narrow partner/commodity/flow"
                + (", or configure an API key" if not self.key else "")
                + ")",
                resp.url,
                retryable=False,
            )
        return records

    def _check_asked(
        self, records: list[dict[str, Any]], params: dict[str, str | None], url: str
    ) -> None:
        """Every record must be one that was asked for: period, reporter, commodity, flow, partner.

        An answer with records nobody asked for (another month, another reporter...) is not
        stored in part: it is refused whole, naming the first such record.
        """
        asked: dict[str, set[str]] = {
            "period": _codes(params.get("period")),
            "reporterCode": _codes(params.get("reporterCode")),
            "flowCode": _codes(params.get("flowCode")),
            "partnerCode": _codes(params.get("partnerCode")),
            "cmdCode": _codes(params.get("cmdCode")),
            "freqCode": {self.freq},
        }
        if any(c.upper().startswith(MANY_CODES) for c in asked["cmdCode"]):
            asked["cmdCode"] = set()
        if "ALL" in {c.upper() for c in asked["reporterCode"]}:
            asked["reporterCode"] = set()
        if "ALL" in {c.upper() for c in asked["partnerCode"]}:
            asked["partnerCode"] = set()
        for i, rec in enumerate(records, start=1):
            for name, allowed in asked.items():
                if not allowed or name not in rec:
                    continue
                got = str(rec[name])
                if got not in allowed:
                    raise self.client.error(
                        f"record {i} of {len(records)} was not asked for: {name} {got!r} is not "
                        f"among the requested {', '.join(sorted(allowed))} ({_brief(rec)})",
                        url,
                        retryable=False,
                    )

    def fetch_periods(self, periods: list[str]) -> pd.DataFrame:
        """Observations of these Comtrade periods (``YYYYMM`` or ``YYYY``), 12 per call; records
        left out are counted in ``rejected``, which the caller clears."""
        records: list[dict[str, Any]] = []
        for part in chunks(periods, PERIODS_PER_CALL):
            records.extend(self._get(part))
        return self._frame(records)

    def _frame(self, records: list[dict[str, Any]]) -> pd.DataFrame:
        rows: list[dict[str, Any]] = []
        dropped: Counter[str] = Counter()  # area code -> records left out
        for rec in records:
            # totals only: every customs procedure, mode of transport and second partner
            if (
                str(rec.get("customsCode", "C00")) != "C00"
                or str(rec.get("motCode", 0)) != "0"
                or str(rec.get("partner2Code", 0)) != "0"
            ):
                self.rejected[
                    "records by customs procedure, transport mode or second partner (not totals)"
                ] += 1
                continue
            try:
                rows.extend(self._rows(rec, dropped))
            except (KeyError, TypeError, ValueError, OverflowError) as exc:
                raise SourceError(
                    self.name,
                    f"malformed record ({type(exc).__name__}: {exc}): {_brief(rec)}",
                    url=self.base_url,
                    retryable=False,
                ) from None
        if dropped:
            self.rejected[
                "records for areas without an ISO code (" + ", ".join(sorted(dropped)) + ")"
            ] += dropped.total()
            log.warning(
                "source %r: dropped %d record(s) for areas without an ISO code: %s",
                self.name,
                dropped.total(),
                ", ".join(sorted(dropped)),
            )
        if not rows:
            return empty_observations()
        try:
            return canonical(pd.DataFrame(rows), source=self.name)
        except ValueError as exc:
            raise SourceError(self.name, str(exc), url=self.base_url, retryable=False) from None

    def _rows(self, rec: dict[str, Any], dropped: Counter[str]) -> list[dict[str, Any]]:
        flow = FLOWS.get(str(rec["flowCode"]))
        if flow is None:
            return []
        reporter = _iso2(str(rec["reporterISO"]))
        partner = _iso2(str(rec["partnerISO"]))
        if reporter is None or partner is None:
            dropped[str(rec["partnerISO"] if reporter else rec["reporterISO"])] += 1
            return []
        annual = self.freq == "A" or int(rec.get("refMonth") or 0) == 52
        period = f"{int(rec['refYear']):04d}-12" if annual else str(rec["period"])
        suffix = "_annual" if annual else ""
        key = {
            "period": period,
            "reporter": reporter,
            "partner": partner,
            "commodity": str(rec["cmdCode"]),
            "flow": flow,
        }
        out = []
        value = _number(rec.get("primaryValue"))
        if value is not None:
            out.append({**key, "measure": "value_usd" + suffix, "unit": "USD", "value": value})
        weight = _number(rec.get("netWgt"))
        unit_code = rec.get("qtyUnitCode")
        qty = _number(rec.get("qty"))
        # Comtrade writes 0 where it has no weight at all (no quantity unit, or the "estimate"
        # flag on a 0): stored as 0 kg it would read as trade collapsing. Missing is missing.
        if weight == 0 and (unit_code in (NO_UNIT, None) or rec.get("isNetWgtEstimated") is True):
            weight = None
            self.rejected[MISSING_WEIGHT] += 1
        if weight is None and unit_code == KG and not (qty == 0 and rec.get("isQtyEstimated")):
            weight = qty
        if weight is not None:
            out.append({**key, "measure": "net_weight_kg" + suffix, "unit": "kg", "value": weight})
        if qty is not None and unit_code not in (KG, NO_UNIT, None):
            out.append(
                {
                    **key,
                    "measure": "quantity" + suffix,
                    "unit": str(rec.get("qtyUnitAbbr") or unit_code),
                    "value": qty,
                }
            )
        return out

    # -- the Source interface ---------------------------------------------------------------

    def fetch(self) -> FetchResult:
        self.rejected.clear()
        periods = self._periods()
        marks = self.availability(periods)
        known: dict[str, str] = dict(self.cursor.get("checksums", {}))
        changed = [p for p in periods if p in marks and known.get(p) != marks[p]]
        cursor = {**self.cursor, "checksums": {**known, **marks}}
        where = f"{self.base_url} reporter {_joined(self.options.reporter)}"
        if not changed:
            return FetchResult(
                empty_observations(),
                cursor,
                unchanged=True,
                description=f"{where}: no new or changed periods ({self.client.calls} call(s))",
            )
        observations = self.fetch_periods(changed)
        return FetchResult(
            observations,
            cursor,
            description=f"{where}: periods {', '.join(changed)} ({self.client.calls} call(s))",
            rejected=dict(self.rejected),
        )

    def fetch_range(self, start: str, end: str) -> FetchResult:
        """History for backfill: every month from start to end, inclusive; annual data: every
        year whose December (where its figure is stored) lies in the range."""
        periods = [p.replace("-", "") for p in month_range(start, end)]
        if self.freq == "A":
            # Backfill chunks need not begin in January: a year belongs to the chunk holding its
            # December, so neighbouring chunks never fetch the same year twice.
            periods = [p[:4] for p in periods if p.endswith("12")]
        self.rejected.clear()
        observations = self.fetch_periods(periods)
        return FetchResult(
            observations,
            dict(self.cursor),
            description=f"{self.base_url}: {start}..{end}",
            rejected=dict(self.rejected),
        )


def _iso2(code: str) -> str | None:
    if code.upper() in ("W00", "WLD"):
        return "WORLD"
    if code.upper() in TAIWAN_AREAS:
        return TAIWAN_AREAS[code.upper()]
    return iso3_to_iso2(code)


def _codes(value: str | None) -> set[str]:
    return {v.strip() for v in value.split(",") if v.strip()} if value else set()


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _field(rec: dict[str, Any], name: str) -> Any:
    """getDa records use camelCase in JSON; some mirrors answer PascalCase."""
    if name in rec:
        return rec[name]
    return rec.get(name[0].upper() + name[1:])


def _brief(rec: dict[str, Any]) -> str:
    keys = ("period", "reporterISO", "partnerISO", "cmdCode", "flowCode")
    return ", ".join(f"{k}={rec.get(k)!r}" for k in keys)


def _records(client: HttpClient, body: Any, url: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or "data" not in body:
        raise client.error("unexpected JSON: no 'data' list", url, retryable=False)
    if body.get("error"):
        raise client.error(f"API error: {body['error']}", url)
    data = body["data"]
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise client.error("unexpected JSON: 'data' is not a list of records", url, retryable=False)
    return data


def _joined(codes: Sequence[str] | None) -> str | None:
    """Codes as the API takes them: comma-separated (None: the parameter is left out)."""
    return ",".join(codes) if codes else None
