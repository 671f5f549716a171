"""Partner groups (EU, euro area, ASEAN, G7, OECD, BRICS...) with dated membership.

The shipped groups live in ``data/partner_groups.yaml`` (sources in ``data/PROVENANCE.md``); a
rule pack adds its own under ``groups:`` in the same form:

    groups:
      CHIP4: [US, JP, KR, TW]                       # members in every month
      EU_AT_THE_TIME:
        name: what the group is
        members:
          - {code: GB, from: 1973-01, until: 2020-01}   # months, both included

A member counts in a month when that month lies within one of its ``from``..``until`` spans.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.config_checks import check_keys, problem_at
from monitor.countries import SPECIAL_CODES, is_iso_alpha2
from monitor.errors import ConfigError, Problem
from monitor.model import WORLD, normalize_period, period_to_month
from monitor.yamlload import Mark, load_yaml_file, mark_of

SHIPPED = Path(__file__).resolve().parent / "data" / "partner_groups.yaml"
_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]+$")
_CODE_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
NO_BOUND_LOW = -(2**31)
NO_BOUND_HIGH = 2**31


@dataclass(frozen=True)
class Membership:
    """One span of membership: months [first, last] (month numbers, both included)."""

    code: str
    first: int = NO_BOUND_LOW
    last: int = NO_BOUND_HIGH


@dataclass(frozen=True)
class Group:
    """A partner group: its members' spans, its ``name:`` as ``title``, and where it is declared."""

    name: str
    members: tuple[Membership, ...]
    title: str = ""
    path: str = ""
    line: int = 0

    @property
    def codes(self) -> tuple[str, ...]:
        """Every code that is a member in some month, once each, in declaration order."""
        return tuple(dict.fromkeys(m.code for m in self.members))

    def members_at(self, month: int) -> tuple[str, ...]:
        """Codes that are members in ``month`` (a month number), in declaration order."""
        return tuple(m.code for m in self.members if m.first <= month <= m.last)


def is_country_code(code: str) -> bool:
    """Whether ``code`` names a partner country: a current ISO 3166-1 alpha-2 code (upper case)
    or one of ``SPECIAL_CODES``."""
    return is_iso_alpha2(code) or code in SPECIAL_CODES


def _month(raw: Any, owner: Any, key: str, path: str, problems: list[Problem], what: str) -> int:
    try:
        return period_to_month(normalize_period(str(raw)))
    except ValueError:
        problems.append(
            problem_at(owner, key, path, f"{what}: {key}: expected YYYY-MM, got {raw!r}")
        )
        return 0


def _member(
    raw: Any, holder: Any, path: str, problems: list[Problem], what: str
) -> Membership | None:
    if isinstance(raw, str):
        if not _CODE_RE.match(raw):
            problems.append(problem_at(holder, None, path, f"{what}: {raw!r} is not a code"))
            return None
        return Membership(raw)
    if not isinstance(raw, dict):
        problems.append(
            problem_at(holder, None, path, f"{what}: a member is a code or {{code, from, until}}")
        )
        return None
    before = len(problems)
    problems.extend(
        check_keys(raw, allowed={"code", "from", "until"}, required={"code"}, path=path, what=what)
    )
    code = raw.get("code")
    if "code" in raw and (not isinstance(code, str) or not _CODE_RE.match(code)):
        problems.append(
            problem_at(raw, "code", path, f"{what}: code {code!r} is not a code (quote it)")
        )
    first = _month(raw["from"], raw, "from", path, problems, what) if "from" in raw else None
    last = _month(raw["until"], raw, "until", path, problems, what) if "until" in raw else None
    if len(problems) > before:
        return None
    if first is not None and last is not None and last < first:
        problems.append(problem_at(raw, "until", path, f"{what}: until is before from"))
        return None
    return Membership(
        str(code),
        NO_BOUND_LOW if first is None else first,
        NO_BOUND_HIGH if last is None else last,
    )


def parse_groups(
    raw: Any, owner: Any, key: str | None, path: str, problems: list[Problem]
) -> dict[str, Group]:
    """Groups of a ``groups:`` mapping (problems appended, located)."""
    if not isinstance(raw, dict):
        problems.append(problem_at(owner, key, path, "groups: expected a mapping of group names"))
        return {}
    out: dict[str, Group] = {}
    for name, body in raw.items():
        what = f"group {name!r}"
        before = len(problems)
        if not _NAME_RE.match(name) or name == WORLD or is_country_code(name):
            problems.append(
                problem_at(
                    raw,
                    name,
                    path,
                    f"{what}: a group name is upper case letters, digits or '_', and never a "
                    "partner code (a country, WORLD), so a group never shadows a partner",
                )
            )
        title = ""
        members_raw, members_owner, members_key = body, raw, name
        if isinstance(body, dict):
            problems.extend(
                check_keys(
                    body, allowed={"name", "members"}, required={"members"}, path=path, what=what
                )
            )
            title = str(body.get("name", ""))
            members_raw, members_owner, members_key = body.get("members"), body, "members"
        if not isinstance(members_raw, list) or not members_raw:
            problems.append(
                problem_at(members_owner, members_key, path, f"{what}: needs a list of members")
            )
            continue
        marks = getattr(members_raw, "item_marks", None)
        members = []
        for i, m in enumerate(members_raw):
            holder = _Located(marks[i] if marks else mark_of(members_raw, path))
            member = _member(m, holder, path, problems, what)
            if member is not None:
                members.append(member)
        by_code: dict[str, list[Membership]] = {}
        for m in members:
            by_code.setdefault(m.code, []).append(m)
        for code, spans in by_code.items():
            spans.sort(key=lambda s: s.first)
            for a, b in itertools.pairwise(spans):
                if b.first <= a.last:
                    problems.append(
                        problem_at(members_owner, members_key, path, f"{what}: {code} twice")
                    )
        if len(problems) > before:
            continue
        mark = raw.where(name) if hasattr(raw, "where") else Mark(path, 0, 0)
        out[name] = Group(name, tuple(members), title, path, mark.line)
    return out


class _Located:
    """A list item's place, for problem_at."""

    def __init__(self, mark: Mark) -> None:
        self.mark = mark

    def where(self, key: str | None = None) -> Mark:
        return self.mark


@functools.cache
def shipped_groups() -> dict[str, Group]:
    """The groups shipped in data/partner_groups.yaml (a broken file is a ConfigError)."""
    doc = load_yaml_file(str(SHIPPED))
    problems: list[Problem] = []
    groups = parse_groups(doc, doc, None, str(SHIPPED), problems)
    if problems:
        raise ConfigError(problems)
    return groups
