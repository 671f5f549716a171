"""Parse GACC query-platform downloads (CSV with or without header, Chinese headers, .xlsx).

The platform's layout: one row per commodity x partner x customs regime with
``"Date of data","Trading partner code","Trading partner","Commodity code","Commodity",
"Customs Regime code","Customs Regime","Quantity","Unit","Supplimentary Quantity",
"Supplimentary Unit","US dollar",`` (sic: "Supplimentary"; a trailing comma on every line;
thousands separators; "—" for empty). Regime rows are summed to commodity-partner-month totals.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pandas as pd

from monitor.sources._common import code_table

# Canonical field <- every header spelling seen (English platform, Chinese platform).
HEADERS: dict[str, tuple[str, ...]] = {
    "period": ("date of data", "数据年月", "日期"),
    "partner_code": ("trading partner code", "贸易伙伴编码", "贸易伙伴代码"),
    "partner_name": ("trading partner", "贸易伙伴名称", "贸易伙伴"),
    "commodity": ("commodity code", "商品编码"),
    "commodity_name": ("commodity", "商品名称"),
    "regime_code": ("customs regime code", "贸易方式编码", "贸易方式代码"),
    "regime": ("customs regime", "贸易方式名称", "贸易方式"),
    "qty": ("quantity", "第一数量"),
    "unit": ("unit", "第一计量单位"),
    "sqty": ("supplimentary quantity", "supplementary quantity", "第二数量"),
    "sunit": ("supplimentary unit", "supplementary unit", "第二计量单位"),
    "usd": ("us dollar", "美元"),
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
REQUIRED = ("period", "partner_code", "commodity", "qty", "unit", "usd")
KILOGRAM = {"kilogram", "千克", "kg", "公斤"}
EMPTY = {"", "—", "-", "–", "--"}
_BY_HEADER = {alias: field for field, aliases in HEADERS.items() for alias in aliases}


class GaccFormatError(ValueError):
    """A malformed file: ``line`` is 1-based in the file (0 when not tied to a line)."""

    def __init__(self, message: str, line: int = 0) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)


@dataclass
class ParsedFile:
    rows: pd.DataFrame  # canonical columns, regimes already summed; no source column
    regime_rows: int


def partner_table() -> dict[str, str]:
    return code_table("gacc_countries.csv", "code", "iso2")


def read_table(name: str, data: bytes) -> tuple[pd.DataFrame, int]:
    """Raw cells as strings plus the file line of the first data row."""
    if name.lower().endswith((".xlsx", ".xlsm")):
        try:
            raw = pd.read_excel(io.BytesIO(data), header=None, dtype=str, engine="openpyxl")
        except Exception as exc:  # openpyxl raises many types for a damaged workbook
            raise GaccFormatError(f"not a readable .xlsx workbook ({type(exc).__name__})") from None
        raw = raw.fillna("")
        rows = [[str(c).strip() for c in r] for r in raw.itertuples(index=False)]
    else:
        text = _decode(data)
        rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text))]
    rows = [r for r in rows if any(r)]
    if not rows:
        raise GaccFormatError("the file is empty")
    header = [c.strip().lower() for c in rows[0]]
    if any(h in _BY_HEADER for h in header if h):
        fields = [_BY_HEADER.get(h, f"_extra{i}") for i, h in enumerate(header)]
        body, first_line = rows[1:], 2
    else:
        fields, body, first_line = list(HEADERLESS), rows, 1
    missing = [f for f in REQUIRED if f not in fields]
    if missing:
        raise GaccFormatError("missing column(s): " + ", ".join(HEADERS[f][0] for f in missing), 1)
    width = len(fields)
    for i, r in enumerate(body):
        # the platform ends every line with a comma: one empty extra cell is expected
        while len(r) > width and r[-1] == "":
            r.pop()
        if len(r) != width:
            raise GaccFormatError(
                f"expected {width} cells, found {len(r)} (truncated or shifted line?)",
                first_line + i,
            )
    frame = pd.DataFrame(body, columns=fields, dtype="str")
    return frame[[f for f in fields if not f.startswith("_extra")]], first_line


def _decode(data: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):  # the Chinese platform saves GBK-encoded CSV
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise GaccFormatError("neither UTF-8 nor GB18030 text")


def _numbers(column: pd.Series, what: str, first_line: int) -> pd.Series:
    text = column.str.replace(",", "", regex=False).str.strip()
    empty = text.isin(EMPTY)
    values = pd.to_numeric(text.where(~empty), errors="coerce")
    bad = values.isna() & ~empty
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise GaccFormatError(f"{what}: not a number: {column.iloc[i]!r}", first_line + i)
    if (values < 0).any():
        i = int((values < 0).to_numpy().nonzero()[0][0])
        raise GaccFormatError(f"{what}: negative: {column.iloc[i]!r}", first_line + i)
    return values


def parse(name: str, data: bytes, *, flow: str) -> ParsedFile:
    frame, first_line = read_table(name, data)
    if frame.empty:
        raise GaccFormatError("no data rows")
    from monitor.model import normalize_period

    periods = []
    for i, p in enumerate(frame["period"]):
        try:
            periods.append(normalize_period(p))
        except ValueError:
            raise GaccFormatError(f"Date of data: not a month: {p!r}", first_line + i) from None
    table = partner_table()
    codes = frame["partner_code"].str.strip().str.lstrip("0")
    partners = codes.map(table)
    if partners.isna().any():
        i = int(partners.isna().to_numpy().nonzero()[0][0])
        raise GaccFormatError(
            f"unknown GACC trading partner code {frame['partner_code'].iloc[i]!r}", first_line + i
        )
    commodity = frame["commodity"].str.strip()
    if (~commodity.str.fullmatch(r"\d{2,10}")).any():
        i = int((~commodity.str.fullmatch(r"\d{2,10}")).to_numpy().nonzero()[0][0])
        raise GaccFormatError(f"Commodity code: not a code: {commodity.iloc[i]!r}", first_line + i)
    qty = _numbers(frame["qty"], "Quantity", first_line)
    usd = _numbers(frame["usd"], "US dollar", first_line)
    unit = frame["unit"].str.strip()
    unit_is_kg = unit.str.lower().isin(KILOGRAM)
    has_sq = "sqty" in frame and "sunit" in frame
    sqty = _numbers(frame["sqty"], "Supplimentary Quantity", first_line) if has_sq else None
    sunit = frame["sunit"].str.strip() if has_sq else pd.Series("", index=frame.index)
    sunit_is_kg = sunit.str.lower().isin(KILOGRAM)

    base = pd.DataFrame(
        {
            "period": periods,
            "reporter": "CN",
            "partner": partners,
            "commodity": commodity,
            "flow": flow,
        }
    )
    parts = [
        base.assign(measure="value_usd", unit="USD", value=usd),
        # first unit kilogram -> net weight; any other first unit -> quantity in that unit
        base.assign(measure="net_weight_kg", unit="kg", value=qty)[unit_is_kg.to_numpy()],
        base.assign(measure="quantity", unit=unit, value=qty)[
            (~unit_is_kg & ~unit.isin(EMPTY)).to_numpy()
        ],
    ]
    if sqty is not None:
        # a supplementary kilogram is the net weight when the first unit is not kilogram
        parts.append(
            base.assign(measure="net_weight_kg", unit="kg", value=sqty)[
                (sunit_is_kg & ~unit_is_kg).to_numpy()
            ]
        )
        parts.append(
            base.assign(measure="supplementary_quantity", unit=sunit, value=sqty)[
                (~sunit_is_kg & ~sunit.isin(EMPTY)).to_numpy()
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
        raise GaccFormatError(
            f"commodity {row['commodity']} to {row['partner']} "
            f"({row['period']}) is published in more than one unit for "
            f"{row['measure']}"
        )
    return ParsedFile(rows=summed.reset_index(drop=True), regime_rows=len(frame))
