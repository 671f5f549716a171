"""The rule pack format, declared once: validation, evaluation and the JSON Schema derive from it.

Each condition type is declared here and nowhere else: its parameters (kind, default, bounds),
the context keys its alerts carry, how many months before t it reads, the function that
evaluates it and whether it needs the share totals. ``rules.py`` checks packs against these
tables, ``engine.conditions`` looks its evaluators up here, and ``schema.py`` turns them into a
JSON Schema for editors, so none of them can drift apart. Adding a condition: its entry here and
its function in ``engine/conditions/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("info", "warning", "critical")
SELECT_KEYS = ("reporter", "partner", "commodity", "flow", "measure")
PACK_KEYS = {"pack", "description", "defaults", "rules", "groups", "derived"}
# How an aggregate treats a month where an expected member did not report (see aggregates.py).
AGGREGATE_KEYS = {"incomplete", "expect_within"}
DEFAULTS_KEYS = {"select", "exclude", "severity", "labels", "template", "summary", *AGGREGATE_KEYS}
DERIVED_KEYS = {"select", "exclude", "description", *AGGREGATE_KEYS}
RULE_KEYS = {
    *AGGREGATE_KEYS,
    "id",
    "summary",
    "description",
    "select",
    "exclude",
    "condition",
    "severity",
    "labels",
    "template",
}
DEFAULT_SUMMARY = "{{ rule }}: {{ partner }} {{ measure }} in {{ period }}"


@dataclass(frozen=True)
class Param:
    """One condition parameter.

    kind: int | quantity (may carry a unit, converted to base units) | percent | number | enum |
    timezone | text.
    """

    kind: str
    required: bool = False
    default: object = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()
    doc: str = ""


@dataclass(frozen=True)
class Lookback:
    """How many months before t a condition reads: one of its parameters, less a constant."""

    param: str
    less: int = 0

    def months(self, params: Mapping[str, Any]) -> int:
        """The named parameter's value in ``params`` less ``less``."""
        return int(params[self.param]) - self.less

    def __str__(self) -> str:
        return f"{self.param} - {self.less}" if self.less else self.param


@dataclass(frozen=True)
class ConditionSpec:
    """One condition type: its parameters, context keys, documentation and evaluator, and what
    it reads (months before t, share totals)."""

    params: dict[str, Param]
    context: tuple[str, ...]
    doc: str
    #: ``module:function`` of its evaluator (``View, Condition -> Result``); empty for a
    #: condition the daemon's clock decides (missing_release)
    evaluator: str = ""
    one_of: tuple[str, ...] = ()  # at least one of these parameters is required
    lookback: Lookback | None = None  # None: reads month t only
    needs_totals: bool = False  # reads each series' share total (WORLD or the partners' sum)
    combinable: bool = True  # may appear inside all/any
    extra: dict[str, object] = field(default_factory=dict)

    def months_back(self, params: Mapping[str, Any]) -> int:
        """Months before t this condition reads with these parameters."""
        return 0 if self.lookback is None else self.lookback.months(params)


ALWAYS_CONTEXT = ("condition", "rank", "partners_ranked")
# Every alert of a rule on an aggregate (commodity prefix, code list or partner group) carries
# these: members with a value at t, members expected at t, whether all did, and "n of m codes
# reported".
AGGREGATE_CONTEXT = ("members_reported", "members_expected", "complete", "coverage")

CONDITIONS: dict[str, ConditionSpec] = {
    "threshold": ConditionSpec(
        evaluator="monitor.engine.conditions.levels:threshold",
        params={
            "above": Param(
                "quantity", doc="fires when value >= above (base units or '500 t', '2 million USD')"
            ),
            "below": Param("quantity", doc="fires when value <= below"),
        },
        one_of=("above", "below"),
        context=("above", "below"),
        doc="value(t) >= above, or value(t) <= below (inclusive).",
    ),
    "period_high": ConditionSpec(
        evaluator="monitor.engine.conditions.levels:period_extreme",
        lookback=Lookback("window", 1),
        params={
            "window": Param(
                "int", required=True, minimum=2, maximum=600, doc="months in the window ending at t"
            ),
            "min_periods": Param(
                "int",
                minimum=1,
                maximum=600,
                doc="months of the window that must have values (default: window)",
            ),
        },
        context=("window", "months_known", "window_start", "prior_max", "prior_max_period"),
        doc="value(t) strictly above every other known value in the W months ending at t.",
    ),
    "period_low": ConditionSpec(
        evaluator="monitor.engine.conditions.levels:period_extreme",
        lookback=Lookback("window", 1),
        params={
            "window": Param("int", required=True, minimum=2, maximum=600),
            "min_periods": Param("int", minimum=1, maximum=600),
        },
        context=("window", "months_known", "window_start", "prior_min", "prior_min_period"),
        doc="value(t) strictly below every other known value in the W months ending at t.",
    ),
    "pct_change": ConditionSpec(
        evaluator="monitor.engine.conditions.changes:pct_change",
        lookback=Lookback("periods"),
        params={
            "periods": Param(
                "int",
                default=1,
                minimum=1,
                maximum=600,
                doc="k: compare with exactly k months earlier",
            ),
            "above": Param("percent", doc="fires when pct >= above"),
            "below": Param("percent", doc="fires when pct <= below"),
        },
        one_of=("above", "below"),
        context=("periods", "base_value", "base_period", "pct"),
        doc="pct = (value(t) / value(t-k) - 1) * 100; nothing when either is missing or the "
        "base is 0.",
    ),
    "share": ConditionSpec(
        evaluator="monitor.engine.conditions.shares:share",
        needs_totals=True,
        params={
            "above": Param("percent", minimum=0, maximum=100),
            "below": Param("percent", minimum=0, maximum=100),
        },
        one_of=("above", "below"),
        context=("share", "total", "total_basis"),
        doc="share(t) = value / total * 100; total = WORLD row, else the sum over partners.",
    ),
    "share_shift": ConditionSpec(
        evaluator="monitor.engine.conditions.shares:share_shift",
        lookback=Lookback("periods"),
        needs_totals=True,
        params={
            "points": Param(
                "percent",
                required=True,
                minimum=0,
                exclusive_minimum=True,
                maximum=100,
                doc="percentage points",
            ),
            "periods": Param("int", default=1, minimum=1, maximum=600),
            "direction": Param("enum", default="any", choices=("up", "down", "any")),
        },
        context=(
            "share",
            "share_before",
            "share_before_period",
            "shift_points",
            "total",
            "total_basis",
        ),
        doc="|share(t) - share(t-k)| >= points, in the given direction.",
    ),
    "streak": ConditionSpec(
        evaluator="monitor.engine.conditions.changes:streak",
        lookback=Lookback("length"),
        params={
            "direction": Param("enum", required=True, choices=("up", "down")),
            "length": Param(
                "int",
                required=True,
                minimum=1,
                maximum=600,
                doc="number of consecutive month-on-month moves",
            ),
        },
        context=("streak_length", "direction"),
        doc="the last n month-on-month moves ending at t were all strictly up (down).",
    ),
    "anomaly": ConditionSpec(
        evaluator="monitor.engine.conditions.changes:anomaly",
        lookback=Lookback("window"),
        params={
            "window": Param(
                "int", required=True, minimum=2, maximum=600, doc="history: the W months before t"
            ),
            "z": Param("number", required=True, minimum=0, exclusive_minimum=True),
            "min_periods": Param(
                "int", minimum=2, maximum=600, doc="values needed in the history (default: window)"
            ),
        },
        context=("mean", "std", "z", "history_months"),
        doc="|value(t) - mean| / std >= z over the W months before t; nothing when std is 0.",
    ),
    "missing_release": ConditionSpec(
        params={
            "expected_day": Param(
                "int",
                required=True,
                minimum=1,
                maximum=31,
                doc="day of the release month the data is due",
            ),
            "grace_days": Param("int", default=0, minimum=0, maximum=60),
            "timezone": Param("timezone", default="UTC", doc="IANA name, e.g. Asia/Shanghai"),
            "lag_months": Param(
                "int",
                default=1,
                minimum=0,
                maximum=24,
                doc="months between a period and its release month",
            ),
        },
        context=("expected_by", "last_period"),
        combinable=False,
        doc="the daemon's clock passed day expected_day + grace_days of the release month "
        "and the month's data has not arrived.",
    ),
    "mirror_gap": ConditionSpec(
        evaluator="monitor.engine.conditions.mirror:mirror_gap",
        lookback=Lookback("window", 1),
        params={
            "window": Param(
                "int",
                required=True,
                minimum=1,
                maximum=24,
                doc="months summed on each side (absorbs shipping lags)",
            ),
            "pct": Param(
                "percent",
                minimum=0,
                exclusive_minimum=True,
                doc="fires when |gap| >= pct percent of the mirror figure",
            ),
            "absolute": Param(
                "quantity",
                minimum=0,
                exclusive_minimum=True,
                doc="fires when |gap| >= absolute (base units or '2 million USD')",
            ),
            "direction": Param(
                "enum",
                default="any",
                choices=("any", "above", "below"),
                doc="above: this side reports more than its mirror; below: less",
            ),
            "source": Param("text", doc="the mirror's source (default: the same data)"),
            "flow": Param("enum", choices=("export", "import"), doc="the mirror's flow"),
            "measure": Param("text", doc="the mirror's measure (must be the rule's)"),
        },
        one_of=("pct", "absolute"),
        context=(
            "mirror_window",
            "mirror_start",
            "sum_reported",
            "sum_mirror",
            "gap",
            "gap_pct",
            "mirror_source",
            "mirror_reasons",
            "mirror_members_reported",
            "mirror_members_expected",
        ),
        doc="the series and its mirror (reporter and partner swapped, opposite flow, same "
        "HS6-or-coarser commodity, measure and unit), each summed over the N months ending at "
        "t, differ by at least pct percent of the mirror and/or absolute.",
    ),
}

COMBINATORS = ("all", "any")
