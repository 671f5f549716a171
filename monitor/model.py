"""The canonical observation table and the plain values that flow between layers.

One tidy long table, one row per observation:

    period     "YYYY-MM" (calendar month)
    reporter   ISO 3166 alpha-2 of the reporting country ("CN")
    partner    ISO 3166 alpha-2, or "WORLD" for the reporter's total
    commodity  classification code as a string ("85051110"; leading zeros kept)
    flow       export | import | re_export | re_import
    measure    net_weight_kg | value_usd | value_eur | quantity | supplementary_quantity ...
    value      float, in the measure's base unit (kg, USD, ...)
    unit       the base unit ("kg", "USD", or the quantity unit as published)
    source     which source (config name) the row came from

Sources may hand in tonnes (``net_weight_t``, ``t``) or 100 kg: ``normalize`` converts them to kg
so rules can compare with ``500 t`` and history never mixes units.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, fields
from typing import Any

import pandas as pd

COLUMNS = [
    "period",
    "reporter",
    "partner",
    "commodity",
    "flow",
    "measure",
    "value",
    "unit",
    "source",
]
SERIES_KEY = ["reporter", "partner", "commodity", "flow", "measure"]
OBSERVATION_KEY = [*SERIES_KEY, "period"]
STRING_COLUMNS = [c for c in COLUMNS if c != "value"]
FLOWS = ("export", "import", "re_export", "re_import")
WORLD = "WORLD"

# measure alias -> (canonical measure, factor to the canonical unit, canonical unit)
MEASURE_ALIASES: dict[str, tuple[str, float, str]] = {
    "net_weight_kg": ("net_weight_kg", 1.0, "kg"),
    "net_weight_t": ("net_weight_kg", 1000.0, "kg"),
    "net_weight_100kg": ("net_weight_kg", 100.0, "kg"),
    "value_usd": ("value_usd", 1.0, "USD"),
    "value_usd_thousand": ("value_usd", 1000.0, "USD"),
    "value_eur": ("value_eur", 1.0, "EUR"),
    "value_cny": ("value_cny", 1.0, "CNY"),
}
# The unit each canonical measure is stored in; measures not listed carry their own unit.
MEASURE_UNITS = {"net_weight_kg": "kg", "value_usd": "USD", "value_eur": "EUR", "value_cny": "CNY"}

_PERIOD_RE = re.compile(r"^(\d{4})-?(0[1-9]|1[0-2])$")


def period_to_month(period: str) -> int:
    """'2025-07' -> months since year 0 (a dense integer axis for the engine)."""
    m = _PERIOD_RE.match(str(period))
    if not m:
        raise ValueError(f"not a monthly period (YYYY-MM): {period!r}")
    return int(m.group(1)) * 12 + int(m.group(2)) - 1


def month_to_period(month: int) -> str:
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


def normalize_period(value: Any) -> str:
    """Accept 'YYYY-MM', 'YYYYMM', 'YYYY-MM-DD' or a Timestamp/Period; return 'YYYY-MM'."""
    if isinstance(value, pd.Period | pd.Timestamp):
        return f"{value.year:04d}-{value.month:02d}"
    text = str(value).strip()
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        text = text[:7]
    return month_to_period(period_to_month(text))


def normalize(frame: pd.DataFrame, *, source: str | None = None) -> pd.DataFrame:
    """Validate and convert a frame to the canonical layout (units converted, dtypes fixed).

    Raises ValueError naming the first offending column/row; callers wrap it in a located error.
    """
    missing = [
        c
        for c in COLUMNS
        if c not in frame.columns and not (c == "source" and source) and c != "unit"
    ]
    if missing:
        raise ValueError(f"missing column(s): {', '.join(missing)}")
    out = frame.copy()
    if source is not None:
        out["source"] = source
    for col in STRING_COLUMNS:
        if col == "unit" and col not in out.columns:
            out["unit"] = ""
        out[col] = out[col].astype("str").str.strip()
    for col in OBSERVATION_KEY:  # a key cell may not be empty: it would name no series
        empty = out[col].isna() | (out[col] == "")
        if empty.any():
            row = int(empty.to_numpy().nonzero()[0][0])
            raise ValueError(f"column {col}: empty at row {row + 1}")
    try:
        out["period"] = pd.Series(
            [normalize_period(p) for p in out["period"]], index=out.index, dtype="str"
        )
    except ValueError as exc:
        raise ValueError(f"column period: {exc}") from None
    values = pd.to_numeric(out["value"], errors="coerce")
    bad = values.isna() & out["value"].notna() & (out["value"].astype("str").str.strip() != "")
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise ValueError(f"column value: not a number at row {row + 1}: {out['value'].iloc[row]!r}")
    out["value"] = values.astype("float64")
    out = out[out["value"].notna()]
    bad_flow = ~out["flow"].isin(FLOWS)
    if bad_flow.any():
        raise ValueError(
            f"column flow: unknown flow {out['flow'][bad_flow].iloc[0]!r} "
            f"(expected one of {', '.join(FLOWS)})"
        )
    factors = out["measure"].map(lambda m: MEASURE_ALIASES.get(m, (m, 1.0, ""))[1])
    out["value"] = out["value"] * factors.astype("float64")
    out["measure"] = out["measure"].map(lambda m: MEASURE_ALIASES.get(m, (m, 1.0, ""))[0])
    canonical_unit = out["measure"].map(MEASURE_UNITS)
    out["unit"] = canonical_unit.where(canonical_unit.notna(), out["unit"]).astype("str")
    out["commodity"] = out["commodity"].astype("str")
    dup = out.duplicated([*OBSERVATION_KEY, "source"], keep=False)
    if dup.any():
        first = out[dup].iloc[0]
        raise ValueError(
            "duplicate observation for " + ", ".join(f"{k}={first[k]}" for k in OBSERVATION_KEY)
        )
    return out[COLUMNS].sort_values(OBSERVATION_KEY, kind="stable").reset_index(drop=True)


def empty_observations() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="str") for c in COLUMNS})
    frame["value"] = frame["value"].astype("float64")
    return frame


@dataclass(frozen=True)
class Release:
    """What one poll of a source brought: new periods are a release, changed ones a revision."""

    id: int
    source: str
    detected_at: str  # ISO 8601 UTC
    new_periods: tuple[str, ...] = ()
    revised_periods: tuple[str, ...] = ()
    observations: int = 0  # rows inserted or changed
    initial: bool = False  # the first poll of this source

    @property
    def is_empty(self) -> bool:
        return not self.new_periods and not self.revised_periods


@dataclass(frozen=True)
class Alert:
    """A rule that held for one series at one period. Identity: rule + series + period."""

    rule_id: str
    period: str
    reporter: str
    partner: str
    commodity: str
    flow: str
    measure: str
    value: float
    unit: str
    severity: str = "info"
    summary: str = ""  # the rule's summary template (rendered later)
    labels: dict[str, str] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    template: str | None = None  # a rule may name its own template

    @property
    def key(self) -> str:
        return "|".join(
            [
                self.rule_id,
                self.reporter,
                self.partner,
                self.commodity,
                self.flow,
                self.measure,
                self.period,
            ]
        )

    @property
    def series(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in SERIES_KEY}

    def fingerprint(self) -> str:
        """Changes when the figures that made the alert change (used to detect revisions)."""
        figures = {
            "value": round(self.value, 6),
            "context": {
                k: (round(v, 6) if isinstance(v, float) else v)
                for k, v in sorted(self.context.items())
            },
        }
        blob = json.dumps(figures, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        """The inverse of ``to_dict``: keys that are not fields are the context."""
        data = dict(data)
        data["rule_id"] = data.pop("rule")
        names = {f.name for f in fields(cls)} - {"context"}
        known = {k: data[k] for k in names if k in data}
        known["value"] = float(known["value"])
        known["labels"] = dict(known.get("labels") or {})
        return cls(**known, context={k: v for k, v in data.items() if k not in names})

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "period": self.period,
            "reporter": self.reporter,
            "partner": self.partner,
            "commodity": self.commodity,
            "flow": self.flow,
            "measure": self.measure,
            "value": self.value,
            "unit": self.unit,
            "severity": self.severity,
            "summary": self.summary,
            "labels": dict(self.labels),
            "source": self.source,
            "template": self.template,
            **self.context,
        }
