"""Parse GACC query-platform downloads (English or Chinese platform, CSV or .xlsx).

The English platform's layout: one row per commodity x partner x customs regime with
``"Date of data","Trading partner code","Trading partner","Commodity code","Commodity",
"Customs Regime code","Customs Regime","Quantity","Unit","Supplimentary Quantity",
"Supplimentary Unit","US dollar",`` (sic: "Supplimentary" on older downloads; a trailing comma on
every line; thousands separators; "—" or "-" for empty). Newer downloads and the Chinese platform
add the location of the importer/exporter (注册地) and may leave out the month (数据年月), which
then comes from the file name. The Chinese platform can report values in 人民币 (CNY) instead of
US dollars; they are kept as ``value_cny`` and never converted. A second unit written as ``?``
with quantity 0 means "no supplementary quantity". Files are GB18030 (the platform's encoding),
UTF-8 or UTF-16. Rows are summed to commodity-partner-month totals.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

import pandas as pd

from monitor.model import normalize_period
from monitor.sources._common import code_table
from monitor.sources._text import UndecodableError, decode

# Canonical field <- every header spelling seen (English platform, Chinese platform).
HEADERS: dict[str, tuple[str, ...]] = {
    "period": ("date of data", "数据年月", "日期"),
    "partner_code": ("trading partner code", "贸易伙伴编码", "贸易伙伴代码"),
    "partner_name": ("trading partner", "贸易伙伴名称", "贸易伙伴"),
    "commodity": ("commodity code", "商品编码"),
    "commodity_name": ("commodity", "商品名称"),
    "regime_code": ("customs regime code", "贸易方式编码", "贸易方式代码"),
    "regime": ("customs regime", "贸易方式名称", "贸易方式"),
    "region_code": ("locations of importers and exporters code", "注册地编码"),
    "region": ("locations of importers and exporters", "注册地名称"),
    "qty": ("quantity", "第一数量"),
    "unit": ("unit", "第一计量单位"),
    "sqty": ("supplimentary quantity", "supplementary quantity", "第二数量"),
    "sunit": ("supplimentary unit", "supplementary unit", "第二计量单位"),
    "usd": ("us dollar", "美元"),
    "cny": ("人民币", "人民币元", "rmb", "rmb yuan", "renminbi"),
}
# The order of the headerless platform download (the real imports file has no header line).
HEADERLESS = [
    "period",
    "partner_code",
    "partner_name",
    "commodity",
    "commodity_name",
    "regime_code",
    "regime",
    "qty",
    "unit",
    "sqty",
    "sunit",
    "usd",
]
REQUIRED = ("partner_code", "commodity", "qty", "unit")
# Weight units and their factor to kilograms: a quantity in any of them is a net weight.
WEIGHT_UNITS = {
    "kilogram": 1.0,
    "kg": 1.0,
    "千克": 1.0,
    "公斤": 1.0,
    "gram": 0.001,
    "克": 0.001,
    "tonne": 1000.0,
    "吨": 1000.0,
}
EMPTY = {"", "—", "-", "–", "--"}
# "?" is how the platform writes "no second unit" (with quantity 0).
NO_UNIT = EMPTY | {"?", "？"}
_BY_HEADER = {alias: field for field, aliases in HEADERS.items() for alias in aliases}
_MONTH_IN_NAME = (
    re.compile(r"(?<!\d)((?:19|20)\d{2})[-_.]?(0[1-9]|1[0-2])(?!\d)"),
    re.compile(r"((?:19|20)\d{2})年(0?[1-9]|1[0-2])月"),
)


class GaccFormatError(ValueError):
    """A malformed file: ``line`` is 1-based in the file (0 when not tied to a line)."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        self.line = line
        self.column = column
        where = f"line {line}" + (f", column {column}" if column else "") + ": "
        super().__init__(f"{where}{message}" if line else message)


@dataclass
class ParsedFile:
    """One parsed download: its observations summed over customs regimes, the regime rows read
    and the text encoding ("xlsx" for a workbook)."""

    rows: pd.DataFrame  # canonical columns, regimes already summed; no source column
    regime_rows: int
    encoding: str = ""


def partner_table() -> dict[str, str]:
    """GACC trading-partner code (no leading zeros) -> partner code (ISO alpha-2 or special),
    from the bundled ``gacc_countries.csv``."""
    return code_table("gacc_countries.csv", "code", "iso2")


def read_table(name: str, data: bytes) -> tuple[pd.DataFrame, str]:
    """Raw cells as strings, indexed by their file line, and the text encoding."""
    encoding = "xlsx"
    if name.lower().endswith((".xlsx", ".xlsm")):
        try:
            raw = pd.read_excel(io.BytesIO(data), header=None, dtype=str, engine="openpyxl")
        except Exception as exc:  # openpyxl raises many types for a damaged workbook
            raise GaccFormatError(f"not a readable .xlsx workbook ({type(exc).__name__})") from None
        raw = raw.fillna("")
        rows = [[str(c).strip() for c in r] for r in raw.itertuples(index=False)]
    else:
        try:
            text, encoding = decode(data)
        except UndecodableError as exc:
            raise GaccFormatError(str(exc), exc.line, exc.column) from None
        rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text))]
    numbered = [(i, r) for i, r in enumerate(rows, start=1) if any(r)]
    if not numbered:
        raise GaccFormatError("the file is empty")
    header = [c.strip().lower() for c in numbered[0][1]]
    if any(h in _BY_HEADER for h in header if h):
        fields = [_BY_HEADER.get(h, f"_extra{i}") for i, h in enumerate(header)]
        body = numbered[1:]
    else:
        fields, body = list(HEADERLESS), numbered
    missing = [HEADERS[f][0] for f in REQUIRED if f not in fields]
    if "usd" not in fields and "cny" not in fields:
        missing.append("us dollar (or 人民币)")
    if missing:
        raise GaccFormatError("missing column(s): " + ", ".join(missing), numbered[0][0])
    width = len(fields)
    for line, r in body:
        # the platform ends every line with a comma: one empty extra cell is expected
        while len(r) > width and r[-1] == "":
            r.pop()
        if len(r) != width:
            raise GaccFormatError(
                f"expected {width} cells, found {len(r)} (truncated or shifted line?)", line
            )
    frame = pd.DataFrame([r for _, r in body], columns=fields, dtype="str")
    frame = frame[[f for f in fields if not f.startswith("_extra")]]
    # Blank lines were dropped: keep each row's own file line for messages.
    frame.index = pd.Index([line for line, _ in body], name="line")
    return frame, encoding


def month_from_name(name: str) -> str | None:
    """The month a file name carries (export_202501.csv, 出口2025年1月.csv), if exactly one."""
    found = {
        f"{m.group(1)}-{int(m.group(2)):02d}" for rx in _MONTH_IN_NAME for m in rx.finditer(name)
    }
    return found.pop() if len(found) == 1 else None


def _first(mask: pd.Series) -> int:
    """The file line of the first True in ``mask`` (indexed by file line)."""
    return int(mask[mask].index[0])


def _numbers(column: pd.Series, what: str) -> pd.Series:
    text = column.str.replace(",", "", regex=False).str.strip()
    empty = text.isin(EMPTY)
    values = pd.to_numeric(text.where(~empty), errors="coerce")
    bad = values.isna() & ~empty
    if bad.any():
        line = _first(bad)
        raise GaccFormatError(f"{what}: not a number: {column.loc[line]!r}", line)
    negative = values < 0
    if negative.any():
        line = _first(negative)
        raise GaccFormatError(f"{what}: negative: {column.loc[line]!r}", line)
    return values


def _quantity(
    frame: pd.DataFrame, qty_field: str, unit_field: str, what: str
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(values, units, weight factor or NaN) of one quantity column pair, rows without unit NaN.

    A quantity with no unit ("?", "—") must be zero or empty: that is the platform saying
    "no such quantity". A non-zero quantity without a unit cannot be stored honestly.
    """
    values = _numbers(frame[qty_field], what)
    units = frame[unit_field].str.strip()
    no_unit = units.isin(NO_UNIT)
    orphan = no_unit & values.notna() & (values != 0)
    if orphan.any():
        line = _first(orphan)
        raise GaccFormatError(
            f"{what} {frame[qty_field].loc[line]!r} has no unit ({units.loc[line]!r})", line
        )
    values = values.where(~no_unit)
    factor = units.str.lower().map(WEIGHT_UNITS)
    return values, units, factor


def parse(name: str, data: bytes, *, flow: str) -> ParsedFile:
    """One download as China's (reporter CN) ``flow`` observations per commodity, partner and
    month, its month from the file name when it has no month column; GaccFormatError (located)
    for anything that cannot be stored as published. Values are never converted."""
    frame, encoding = read_table(name, data)
    if frame.empty:
        raise GaccFormatError("no data rows")
    if "period" in frame:
        periods = []
        for line, p in zip(frame.index, frame["period"], strict=True):
            try:
                periods.append(normalize_period(p))
            except ValueError:
                raise GaccFormatError(f"Date of data: not a month: {p!r}", int(line)) from None
    else:
        month = month_from_name(name)
        if month is None:
            raise GaccFormatError(
                "the file has no month column (Date of data / 数据年月) and its name carries no "
                "single month: name it like export_202501.csv or 出口2025年1月.csv"
            )
        periods = [month] * len(frame)
    table = partner_table()
    codes = frame["partner_code"].str.strip().str.lstrip("0")
    partners = codes.map(table)
    if partners.isna().any():
        line = _first(partners.isna())
        raise GaccFormatError(
            f"unknown GACC trading partner code {frame['partner_code'].loc[line]!r}", line
        )
    commodity = frame["commodity"].str.strip()
    not_code = ~commodity.str.fullmatch(r"\d{2,10}")
    if not_code.any():
        line = _first(not_code)
        raise GaccFormatError(f"Commodity code: not a code: {commodity.loc[line]!r}", line)

    base = pd.DataFrame(
        {
            "period": periods,
            "reporter": "CN",
            "partner": partners.to_numpy(),
            "commodity": commodity.to_numpy(),
            "flow": flow,
        },
        index=frame.index,
    )
    parts = []
    if "usd" in frame:
        parts.append(
            base.assign(measure="value_usd", unit="USD", value=_numbers(frame["usd"], "US dollar"))
        )
    if "cny" in frame:
        # Never converted: the exchange rate is not in the file and is not ours to choose.
        parts.append(
            base.assign(measure="value_cny", unit="CNY", value=_numbers(frame["cny"], "人民币"))
        )
    qty, unit, weight = _quantity(frame, "qty", "unit", "Quantity")
    first_is_weight = weight.notna()
    parts.append(
        base.assign(measure="net_weight_kg", unit="kg", value=qty * weight)[first_is_weight]
    )
    parts.append(
        base.assign(measure="quantity", unit=unit, value=qty)[~first_is_weight & qty.notna()]
    )
    if "sqty" in frame and "sunit" in frame:
        sqty, sunit, sweight = _quantity(frame, "sqty", "sunit", "Supplimentary Quantity")
        # A supplementary weight is the net weight only when the first unit is not a weight.
        parts.append(
            base.assign(measure="net_weight_kg", unit="kg", value=sqty * sweight)[
                sweight.notna() & ~first_is_weight
            ]
        )
        parts.append(
            base.assign(measure="supplementary_quantity", unit=sunit, value=sqty)[
                sweight.isna() & sqty.notna()
            ]
        )
    long = pd.concat(parts, ignore_index=True)
    keys = ["period", "reporter", "partner", "commodity", "flow", "measure", "unit"]
    # Sum the customs regimes; a measure empty ("—") on every regime row stays absent.
    summed = long.groupby(keys, sort=False, dropna=False)["value"].sum(min_count=1).reset_index()
    summed = summed[summed["value"].notna()]
    clash = summed.duplicated(keys[:-1], keep=False)
    if clash.any():
        row = summed[clash].iloc[0]
        units = sorted(set(summed[clash & (summed["commodity"] == row["commodity"])]["unit"]))
        raise GaccFormatError(
            f"commodity {row['commodity']} to {row['partner']} ({row['period']}) is published "
            f"in more than one unit for {row['measure']} ({', '.join(units)})"
        )
    return ParsedFile(rows=summed.reset_index(drop=True), regime_rows=len(frame), encoding=encoding)
