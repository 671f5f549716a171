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

import fnmatch
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
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
# No code or unit contains a control character: a NUL byte in a partner code is a broken file.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
#: rejected rows described one by one; beyond this only counted (a wholly broken file of millions
#: of rows would otherwise cost more to report than to read)
MAX_REJECTED_DETAILS = 1000


def _cell(value: Any) -> str:
    """A cell as the user wrote it, quoted: 'inf', not np.float64(inf)."""
    return repr(str(value) if isinstance(value, str | float | np.floating | int) else value)


def period_to_month(period: str) -> int:
    """'2025-07' -> months since year 0 (a dense integer axis for the engine)."""
    m = _PERIOD_RE.match(str(period))
    if not m:
        raise ValueError(f"not a monthly period (YYYY-MM): {period!r}")
    return int(m.group(1)) * 12 + int(m.group(2)) - 1


def month_to_period(month: int) -> str:
    """Months since year 0 -> 'YYYY-MM' (the inverse of ``period_to_month``)."""
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


def normalize_period(value: Any) -> str:
    """Accept 'YYYY-MM', 'YYYYMM', 'YYYY-MM-DD' or a Timestamp/Period; return 'YYYY-MM'."""
    if isinstance(value, pd.Period | pd.Timestamp):
        return f"{value.year:04d}-{value.month:02d}"
    text = str(value).strip()
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        text = text[:7]
    return month_to_period(period_to_month(text))


@dataclass(frozen=True)
class RejectedRow:
    """A row of a payload that could not be taken in, and why (``row``: 1-based data row)."""

    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.reason}"


@dataclass
class Normalized:
    """A canonical chunk: string columns categorical (codes + distinct values), rows unsorted.

    ``rejected`` describes the first MAX_REJECTED_DETAILS bad rows; ``rejected_rows`` counts
    them all. Rows with an empty value are not observations and are dropped without a word.
    """

    frame: pd.DataFrame
    rejected: list[RejectedRow] = field(default_factory=list)
    rejected_rows: int = 0


class _Rejections:
    """Rows found bad so far (each reported once, under its first reason)."""

    def __init__(self, n: int, first_row: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.first_row = first_row
        self.details: list[RejectedRow] = []

    def add(self, mask: np.ndarray, column: str, reason: Callable[[int], str]) -> None:
        rows = np.flatnonzero(mask & ~self.bad)
        if not len(rows):
            return
        self.bad[rows] = True
        room = MAX_REJECTED_DETAILS - len(self.details)
        for i in rows[: max(room, 0)].tolist():
            self.details.append(RejectedRow(self.first_row + i, column, reason(i)))


def _refactor(codes: np.ndarray, values: pd.Index) -> tuple[np.ndarray, pd.Index]:
    """Merge categories that became equal (" US" and "US" after stripping)."""
    recode, distinct = pd.factorize(values, use_na_sentinel=True)
    if len(distinct) == len(values):
        return codes.astype(np.int32, copy=False), pd.Index(values, dtype="str")
    lookup = np.append(recode, -1).astype(np.int32)  # code -1 stays -1
    return lookup[codes], pd.Index(distinct, dtype="str")


def _categorical(
    codes: np.ndarray, categories: pd.Index, dtype: pd.CategoricalDtype | None = None
) -> pd.Categorical:
    """Codes are -1..len-1 and categories distinct by construction: no second validation."""
    if dtype is None:
        dtype = pd.CategoricalDtype(pd.Index(categories, dtype="str"))
    return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)


def _constant(n: int, value: str) -> pd.Categorical:
    return _categorical(np.zeros(n, dtype=np.int8), pd.Index([value]))


def _values(raw: pd.Series, reject: _Rejections) -> np.ndarray:
    """The value column as float64 (NaN = empty cell); text that is not a finite number, and
    booleans, are rejected with their row."""
    if raw.dtype == bool or str(raw.dtype) == "boolean":
        reject.add(np.ones(len(raw), dtype=bool), "value", lambda i: "true/false is not a number")
        return np.full(len(raw), np.nan)
    if pd.api.types.is_numeric_dtype(raw.dtype):
        values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        try:  # the fast path: one vectorised cast of well-formed text (pyarrow for str columns)
            values = raw.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
        except (ValueError, TypeError):
            values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        # NaN from a cell that held text ("n/a", "nan"): not a number; from an empty cell: no
        # observation.
        unparsed = np.flatnonzero(np.isnan(values))
        if len(unparsed):
            cells = raw.iloc[unparsed]
            text = cells.astype("str").str.strip()
            filled = (cells.notna() & (text != "")).to_numpy(dtype=bool)
            mask = np.zeros(len(raw), dtype=bool)
            mask[unparsed[filled]] = True
            reject.add(mask, "value", lambda i: f"not a number: {_cell(raw.iloc[i])}")
    infinite = np.isinf(values)
    if infinite.any():
        reject.add(infinite, "value", lambda i: f"not a finite number: {_cell(raw.iloc[i])}")
    return values


@dataclass
class _TextPlan:
    """What normalizing one text column does, decided once per distinct value: the canonical
    code of each raw code (index ``raw + 1``: -1, a missing cell, comes first) and why a raw
    value is refused (None when it is fine)."""

    canonical: np.ndarray  # int32, -1 = missing
    categories: pd.Index
    problem: list[str | None]

    @functools.cached_property
    def dtype(self) -> pd.CategoricalDtype:
        """One dtype for every chunk of a payload: their frames concatenate without a union."""
        return pd.CategoricalDtype(self.categories)

    def codes(self, raw: np.ndarray) -> np.ndarray:
        return self.canonical[raw.astype(np.int64) + 1]

    @functools.cached_property
    def _bad(self) -> np.ndarray | None:
        bad = np.array([p is not None for p in self.problem])
        return bad if bad.any() else None

    def refused(self, raw: np.ndarray) -> np.ndarray | None:
        return None if self._bad is None else self._bad[raw.astype(np.int64) + 1]


def _raw_codes(col: pd.Series) -> tuple[np.ndarray, pd.Index]:
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.codes.to_numpy(), col.cat.categories
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    return codes, pd.Index(uniques)


def _text_plan(name: str, raw: pd.Index) -> _TextPlan:
    """Strip, check and (periods, measures) convert the distinct values of a text column."""
    text = pd.Index(raw.astype("str")).str.strip()
    values: list[str] = text.tolist() if name in ("period", "flow", "measure") else []
    problem: list[str | None] = [None] * (len(raw) + 1)
    if name in OBSERVATION_KEY:
        problem[0] = "empty"
        for i in np.flatnonzero(np.asarray(text == "")).tolist():
            problem[i + 1] = "empty"
    for i in np.flatnonzero(np.asarray(text.str.contains(_CONTROL_RE), dtype=bool)).tolist():
        problem[i + 1] = f"control character in {text[i]!r}"
    if name == "period":
        for i, p in enumerate(raw):
            if problem[i + 1] is None:
                try:
                    values[i] = normalize_period(p)
                except ValueError:
                    problem[i + 1] = f"not a monthly period (YYYY-MM): {text[i]!r}"
        text = pd.Index(values, dtype="str")
    elif name == "flow":
        for i, f in enumerate(values):
            if problem[i + 1] is None and f not in FLOWS:
                problem[i + 1] = f"unknown flow {f!r} (expected one of {', '.join(FLOWS)})"
    elif name == "measure":
        text = pd.Index([MEASURE_ALIASES.get(m, (m, 1.0, ""))[0] for m in values], dtype="str")
    if any(problem[1:]):
        # A refused value is no category: its rows are dropped, and a category nobody uses
        # must still be valid for what reads the categories (month numbers, the dictionary).
        text = pd.Index([None if problem[i + 1] else t for i, t in enumerate(text)], dtype="str")
    recode, distinct = pd.factorize(text, use_na_sentinel=True)
    canonical = np.append(np.int32(-1), recode.astype(np.int32))
    return _TextPlan(canonical, pd.Index(distinct, dtype="str"), problem)


def _problem_of(plan: _TextPlan, raw: np.ndarray) -> Callable[[int], str]:
    """Why row i was refused (the reason of its raw value)."""
    return lambda i: plan.problem[int(raw[i]) + 1] or ""


def normalize_chunk(
    frame: pd.DataFrame,
    *,
    source: str | None = None,
    first_row: int = 1,
    duplicates: bool = True,
    memo: dict[Any, Any] | None = None,
) -> Normalized:
    """Validate and convert one chunk of a payload to the canonical layout.

    A missing column is a ValueError (the payload is unusable); a bad cell rejects its row only
    (see ``Normalized``), so the caller applies its policy: refuse the payload or skip the rows.
    Units are converted (t and 100 kg to kg); every check runs on distinct values, and with
    ``memo`` (one dict for the chunks of one payload) only once for chunks whose categorical
    columns share their categories. ``duplicates=False`` leaves repeated keys to a consumer
    that checks across chunks anyway (the store per month, the engine per panel cell).
    """
    missing = [
        c
        for c in COLUMNS
        if c not in frame.columns and not (c == "source" and source) and c != "unit"
    ]
    if missing:
        raise ValueError(f"missing column(s): {', '.join(missing)}")
    memo = {} if memo is None else memo
    n = len(frame)
    reject = _Rejections(n, first_row)
    codes: dict[str, np.ndarray] = {}
    cats: dict[str, pd.Index] = {}
    dtypes: dict[str, pd.CategoricalDtype] = {}
    measure_raw = np.zeros(n, dtype=np.int64)
    measure_factor = np.ones(1)
    for col in STRING_COLUMNS:
        if (col == "source" and source is not None) or (col == "unit" and col not in frame):
            codes[col] = np.zeros(n, dtype=np.int8)
            cats[col] = pd.Index([source if col == "source" else ""], dtype="str")
            continue
        raw, uniques = _raw_codes(frame[col])
        key = (col, id(uniques))
        if key not in memo or memo[key][0] is not uniques:
            memo[key] = (uniques, _text_plan(col, uniques))
        plan: _TextPlan = memo[key][1]
        refused = plan.refused(raw)
        if refused is not None:
            reject.add(refused, col, _problem_of(plan, raw))
        codes[col], cats[col], dtypes[col] = plan.codes(raw), plan.categories, plan.dtype
        if col == "measure":
            measure_raw = raw.astype(np.int64) + 1
            measure_factor = np.array(
                [1.0, *(MEASURE_ALIASES.get(str(m).strip(), ("", 1.0, ""))[1] for m in uniques)]
            )

    values = _values(frame["value"], reject) * measure_factor[measure_raw]
    # The canonical unit of a known measure wins over whatever unit text came with it.
    canonical = [MEASURE_UNITS.get(m) for m in cats["measure"]]
    unit_cats = pd.Index([*cats["unit"], *(u for u in canonical if u is not None)], dtype="str")
    fixed = np.array(
        [len(cats["unit"]) + i if u is not None else -1 for i, u in enumerate(canonical)] + [-1],
        dtype=np.int64,
    )
    wanted = fixed[codes["measure"]]
    if (wanted >= 0).any():
        codes["unit"], cats["unit"] = _refactor(
            np.where(wanted >= 0, wanted, codes["unit"].astype(np.int64)), unit_cats
        )
        dtypes.pop("unit", None)

    if duplicates:
        _reject_duplicates(codes, cats, reject)
    keep = ~reject.bad & ~np.isnan(values)
    rows = None if keep.all() else np.flatnonzero(keep)

    def kept(array: np.ndarray) -> np.ndarray:
        return array if rows is None else array[rows]

    out = pd.DataFrame(
        {
            col: kept(values)
            if col == "value"
            else _categorical(kept(codes[col]), cats[col], dtypes.get(col))
            for col in COLUMNS
        }
    )
    details = sorted(reject.details, key=lambda r: r.row)
    return Normalized(out, details, int(reject.bad.sum()))


def _reject_duplicates(
    codes: dict[str, np.ndarray], cats: dict[str, pd.Index], reject: _Rejections
) -> None:
    """Two values for one observation key: both rows are refused (neither can be trusted)."""
    cols = [*OBSERVATION_KEY, "source"]
    n = len(codes["period"])
    if n < 2:
        return
    key = combine_codes([codes[c] for c in cols], [len(cats[c]) + 1 for c in cols])
    order = np.argsort(key, kind="stable")
    same = key[order][1:] == key[order][:-1]
    if not same.any():
        return
    mask = np.zeros(n, dtype=bool)
    mask[order[1:][same]] = True
    mask[order[:-1][same]] = True

    def reason(i: int) -> str:
        text = ", ".join(f"{c}={cats[c][codes[c][i]]}" for c in OBSERVATION_KEY)
        return f"duplicate observation for {text}"

    reject.add(mask, "key", reason)


def combine_codes(parts: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """One int64 per row that is equal exactly when every part's code is equal (codes may be
    -1). Mixed radix while it fits in 62 bits, then re-factorized, so it never overflows."""
    out = np.zeros(len(parts[0]) if parts else 0, dtype=np.int64)
    span = 1
    for codes, size in zip(parts, sizes, strict=True):
        size = max(int(size), 1) + 1  # room for -1
        if span * size >= 1 << 62:
            out, uniques = pd.factorize(out)
            out = out.astype(np.int64)
            span = max(len(uniques), 1)
        out = out * size + (codes.astype(np.int64) + 1)
        span *= size
    return out


def normalize(frame: pd.DataFrame, *, source: str | None = None) -> pd.DataFrame:
    """Validate and convert a frame to the canonical layout (units converted, text columns,
    sorted by the observation key).

    Raises ValueError naming the first offending row and column; callers wrap it in a located
    error. Large payloads go through ``normalize_chunk`` instead (categorical, row policy).
    """
    result = normalize_chunk(frame, source=source)
    if result.rejected:
        raise ValueError(str(result.rejected[0]))
    out = result.frame
    out = pd.DataFrame(
        {c: out[c] if c == "value" else out[c].astype("str") for c in COLUMNS}, index=out.index
    )
    return out.sort_values(OBSERVATION_KEY, kind="stable").reset_index(drop=True)


def empty_observations() -> pd.DataFrame:
    """A frame with no rows and the canonical columns: text, and ``value`` as float64."""
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
        """Whether the poll brought neither a new period nor a revised one."""
        return not self.new_periods and not self.revised_periods


#: prefix of the current fingerprint form (see Alert.same_figures for the one before)
FINGERPRINT_VERSION = "2:"


@dataclass(frozen=True)
class Alert:
    """A rule that held for one series at one period, or a notice about the monitor itself.

    Identity (``key``): rule + series + period for an alert on a trade series. A notice that
    concerns no series (an ops incident: a failing source, a stuck channel) leaves the series
    fields empty and is identified by its labels instead, as Alertmanager identifies an alert by
    its label set: rule + every label + period. ``Alert.notice`` builds one.
    """

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

    @classmethod
    def notice(
        cls,
        rule_id: str,
        period: str,
        labels: Mapping[str, str],
        *,
        value: float,
        unit: str,
        severity: str = "info",
        summary: str = "",
        context: Mapping[str, Any] | None = None,
        source: str = "",
    ) -> Alert:
        """An alert about no trade series (its series fields empty), identified by its
        ``labels``."""
        return cls(
            rule_id=rule_id,
            period=period,
            reporter="",
            partner="",
            commodity="",
            flow="",
            measure="",
            value=value,
            unit=unit,
            severity=severity,
            summary=summary,
            labels=dict(labels),
            context=dict(context or {}),
            source=source,
        )

    @property
    def subject(self) -> str:
        """What a notice is about (its ``subject`` label: a source, a channel, a release); empty
        for an alert on a series, which is about its series."""
        return self.labels.get("subject", "")

    @property
    def is_series(self) -> bool:
        """Whether the alert is about a trade series (else a notice identified by labels)."""
        return any(getattr(self, k) for k in SERIES_KEY)

    @functools.cached_property
    def key(self) -> str:  # cached: notify looks an alert up by key many times
        """The identity: rule, the series fields and period joined by ``|``; for a notice,
        ``notice_key`` of its labels."""
        if not self.is_series:
            return notice_key(self.rule_id, self.labels, self.period)
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
        """The series fields (reporter, partner, commodity, flow, measure); empty for a notice."""
        return {k: getattr(self, k) for k in SERIES_KEY}

    def fingerprint(self) -> str:
        """Changes when the figures that made the alert change (used to detect revisions)."""
        return self._fingerprint

    @functools.cached_property
    def _fingerprint(self) -> str:
        parts = [repr(round(self.value, 6))]
        for k, v in sorted(self.context.items()):
            parts.append(f"{k}={round(v, 6)!r}" if isinstance(v, float) else f"{k}={v!r}")
        digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).hexdigest()
        return FINGERPRINT_VERSION + digest

    def same_figures(self, stored: str) -> bool:
        """Whether a stored fingerprint is this alert's (stores written before fingerprints
        were versioned hold the JSON-based form: compared as such, so no false revision)."""
        if stored.startswith(FINGERPRINT_VERSION):
            return stored == self.fingerprint()
        figures = {
            "value": round(self.value, 6),
            "context": {
                k: (round(v, 6) if isinstance(v, float) else v)
                for k, v in sorted(self.context.items())
            },
        }
        blob = json.dumps(figures, sort_keys=True, default=str).encode()
        return stored == hashlib.sha256(blob).hexdigest()[:16]

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
        """The fields as one flat dict (``rule`` for ``rule_id``), the context's keys beside
        them; stored in the state and sent by webhooks. ``from_dict`` reads it back."""
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


def notice_key(rule_id: str, labels: Mapping[str, str], period: str) -> str:
    """The key of a notice: rule, each label as ``name=value`` in name order, period."""
    return "|".join([rule_id, *(f"{k}={v}" for k, v in sorted(labels.items())), period])


#: what a route or silence can match on besides the alert's labels
ALERT_FIELDS = ("rule", "severity", "source", "period", *SERIES_KEY)


def alert_fields(alert: Alert) -> dict[str, str]:
    """What a route or silence can match on: the alert's labels, then its own fields."""
    fields = {k: str(v) for k, v in alert.labels.items()}
    fields.update(
        (name, getattr(alert, "rule_id" if name == "rule" else name)) for name in ALERT_FIELDS
    )
    return fields


def alert_matches(match: Mapping[str, Iterable[str] | str], alert: Alert) -> bool:
    """Every key must match one of its values; values may be shell patterns (``magnets-*``)."""
    fields = alert_fields(alert)
    for key, accepted in match.items():
        values = (accepted,) if isinstance(accepted, str) else tuple(accepted)
        have = fields.get(key)
        if have is None or not any(fnmatch.fnmatchcase(have, str(v)) for v in values):
            return False
    return True
