"""Aggregates: series summed over a commodity prefix, a list of codes or a partner group.

A rule selects an aggregate in its ``select`` (or through a named ``derived`` series of its
pack):

    select: {commodity: {prefix: "850511"}}            # every code under 850511 -> "850511"
    select: {commodity: {prefix: "85", level: 4}}      # each HS4 under 85 -> "8501", "8502"...
    select: {commodity: {level: 6}}                    # every code summed to its HS6
    select: {commodity: {codes: ["85051110", "85051190"], as: "MAGNETS"}}
    select: {partner: {group: EU27}}                   # partner "EU27" = its members at the date

The derived series has its own key (commodity "850511", partner "EU27") and is evaluated by
every condition exactly as a published series. Which members are expected in a month, and what
happens when some did not report, is the aggregate's ``incomplete`` policy (docs/engine.md).
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from monitor.config_checks import check_keys, did_you_mean, problem_at
from monitor.engine.groups import Group
from monitor.errors import Problem

HS_CODES = Path(__file__).resolve().parent / "data" / "hs_codes.csv"
_DIGITS = re.compile(r"^\d{1,10}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
LEVELS = (2, 4, 6, 8, 10)
POLICIES = ("mark", "skip")
DEFAULT_EXPECT_WITHIN = 6


@functools.cache
def hs_codes() -> frozenset[str]:
    """HS chapters, headings and subheadings of the 2017 and 2022 editions."""
    with HS_CODES.open(encoding="utf-8") as f:
        return frozenset(row["code"] for row in csv.DictReader(f))


def _hs_known(prefix: str) -> bool:
    """Whether a digit prefix can match an HS code (its HS2/4/6 part names a real code)."""
    codes = hs_codes()
    head = prefix[:6]
    if len(head) % 2 == 0:
        return head in codes
    return any(c.startswith(head) for c in codes if len(c) == len(head) + 1)


@dataclass(frozen=True)
class CommodityAggregate:
    """Which codes are summed into which derived code."""

    prefixes: tuple[str, ...] = ()  # codes starting with one of these (empty: every code)
    level: int | None = None  # derived code = the first ``level`` digits of the member
    codes: tuple[str, ...] = ()  # an explicit list of members ...
    name: str | None = None  # ... summed into this code

    def pairs(self, categories: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(category index, derived code) for every (member code, derived code) pair, over the
        distinct commodity codes of a panel (work per distinct code, never per row)."""
        cats = [str(c) for c in categories]
        idx: list[int] = []
        out: list[str] = []
        if self.codes:
            wanted = set(self.codes)
            for i, c in enumerate(cats):
                if c in wanted:
                    idx.append(i)
                    out.append(str(self.name))
            return np.array(idx, dtype=np.int64), np.array(out, dtype=object)
        for i, c in enumerate(cats):
            if self.level is not None and not (c.isdigit() and len(c) >= self.level):
                continue
            for p in self.prefixes or ("",):
                if c.startswith(p):
                    idx.append(i)
                    out.append(c[: self.level] if self.level is not None else p)
        return np.array(idx, dtype=np.int64), np.array(out, dtype=object)

    @property
    def max_digits(self) -> int | None:
        """Digits of the derived codes when they are HS codes (None for a named list)."""
        if self.codes:
            return max(len(c) for c in self.codes) if all(c.isdigit() for c in self.codes) else None
        if self.level is not None:
            return self.level
        return max(len(p) for p in self.prefixes)


@dataclass(frozen=True)
class Aggregate:
    """How a rule's derived series are made: what is summed, over which base series, and the
    policy for months where an expected member did not report."""

    commodity: CommodityAggregate | None
    groups: tuple[Group, ...]
    base_select: tuple[tuple[str, tuple[str, ...] | None], ...]  # reporter/flow/measure/...
    member_exclude: tuple[tuple[str, tuple[str, ...]], ...]  # removed before summing
    incomplete: str = "mark"
    expect_within: int = DEFAULT_EXPECT_WITHIN

    @property
    def noun(self) -> str:
        """What a member is called in coverage text ("3 of 5 codes reported"): ``codes``,
        ``partners``, or ``series`` when both commodities and partners are aggregated."""
        if self.commodity is not None and self.groups:
            return "series"
        return "codes" if self.commodity is not None else "partners"

    @property
    def lookback(self) -> int:
        """Months before a target its completeness reads (the expectation window)."""
        return self.expect_within


def parse_commodity(
    raw: dict[str, Any], owner: Any, key: str, path: str, problems: list[Problem], name: str
) -> CommodityAggregate | None:
    """``commodity: {prefix, level, codes, as}``; every problem located."""
    what = f"{name}: commodity"
    before = len(problems)
    problems.extend(
        check_keys(raw, allowed={"prefix", "level", "codes", "as"}, path=path, what=what)
    )
    if "prefix" in raw and "codes" in raw:
        problems.append(problem_at(raw, "codes", path, f"{what}: give prefix or codes, not both"))
    if not any(k in raw for k in ("prefix", "level", "codes")):
        problems.append(
            problem_at(owner, key, path, f"{what}: an aggregate needs prefix, level or codes")
        )
    prefixes: list[str] = []
    if "prefix" in raw:
        values = raw["prefix"] if isinstance(raw["prefix"], list) else [raw["prefix"]]
        for v in values:
            if isinstance(v, int) and not isinstance(v, bool):
                problems.append(
                    problem_at(
                        raw,
                        "prefix",
                        path,
                        f'{what}: quote the prefix so leading zeros survive (write "{v}")',
                    )
                )
            elif not isinstance(v, str) or not _DIGITS.match(v):
                problems.append(
                    problem_at(raw, "prefix", path, f"{what}: prefix {v!r} is not 1-10 digits")
                )
            elif not _hs_known(v):
                problems.append(
                    problem_at(
                        raw,
                        "prefix",
                        path,
                        f"{what}: prefix {v!r} matches no HS chapter, heading or subheading "
                        "(HS 2017/2022 nomenclature), so it would select nothing",
                    )
                )
            else:
                prefixes.append(v)
    level = raw.get("level")
    if "level" in raw and level not in LEVELS:
        problems.append(
            problem_at(
                raw, "level", path, f"{what}: level must be one of 2, 4, 6, 8, 10, got {level!r}"
            )
        )
        level = None
    if level is not None and any(len(p) > level for p in prefixes):
        problems.append(
            problem_at(
                raw,
                "level",
                path,
                f"{what}: level {level} is shorter than the prefix: no code under it is that short",
            )
        )
    codes: list[str] = []
    if "codes" in raw:
        items = raw["codes"]
        if not isinstance(items, list) or not items:
            problems.append(problem_at(raw, "codes", path, f"{what}: codes needs a list of codes"))
        else:
            for v in items:
                if not isinstance(v, str) or not _NAME_RE.match(v):
                    problems.append(
                        problem_at(raw, "codes", path, f"{what}: codes: {v!r} is not a quoted code")
                    )
                else:
                    codes.append(v)
        if "as" not in raw:
            problems.append(
                problem_at(raw, "codes", path, f"{what}: codes needs 'as': the derived code")
            )
        if "level" in raw:
            problems.append(
                problem_at(raw, "level", path, f"{what}: level does not apply to codes")
            )
    alias = raw.get("as")
    if "as" in raw:
        if "codes" not in raw:
            problems.append(problem_at(raw, "as", path, f"{what}: 'as' names a list of codes"))
        if not isinstance(alias, str) or not _NAME_RE.match(alias):
            problems.append(problem_at(raw, "as", path, f"{what}: as: {alias!r} is not a code"))
    if len(problems) > before:
        return None
    return CommodityAggregate(
        prefixes=tuple(dict.fromkeys(prefixes)),
        level=level,
        codes=tuple(dict.fromkeys(codes)),
        name=alias if codes else None,
    )


def parse_partner(
    raw: dict[str, Any],
    path: str,
    problems: list[Problem],
    name: str,
    known: dict[str, Group],
) -> tuple[Group, ...] | None:
    """``partner: {group: NAME or [NAMES]}``; unknown groups are located errors."""
    what = f"{name}: partner"
    before = len(problems)
    problems.extend(check_keys(raw, allowed={"group"}, required={"group"}, path=path, what=what))
    names = raw.get("group")
    names = names if isinstance(names, list) else [names]
    out = []
    for n in names:
        if not isinstance(n, str):
            problems.append(problem_at(raw, "group", path, f"{what}: group {n!r} is not a name"))
        elif n not in known:
            problems.append(
                problem_at(
                    raw,
                    "group",
                    path,
                    f"{what}: unknown group {n!r}{did_you_mean(n, known)} (known: "
                    f"{', '.join(sorted(known))}; a pack adds its own under groups:)",
                )
            )
        else:
            out.append(known[n])
    if len(problems) > before:
        return None
    return tuple(out)
