"""Rule packs: load, validate (every problem, located) and the typed Rule / RuleSet values.

A pack is a YAML file (see docs/engine.md); ``load_rules`` reads files or folders of packs and
raises one ConfigError carrying every ``path:line:column`` problem across all packs, so a user
fixes everything in one pass instead of one error per run.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import jinja2.sandbox

from monitor.config_checks import check_keys, did_you_mean, problem_at
from monitor.engine.aggregates import (
    DEFAULT_EXPECT_WITHIN,
    POLICIES,
    Aggregate,
    CommodityAggregate,
    parse_commodity,
    parse_partner,
)
from monitor.engine.groups import Group, parse_groups, shipped_groups
from monitor.engine.spec import (
    AGGREGATE_CONTEXT,
    AGGREGATE_KEYS,
    ALWAYS_CONTEXT,
    COMBINATORS,
    CONDITIONS,
    DEFAULT_SUMMARY,
    DEFAULTS_KEYS,
    DERIVED_KEYS,
    PACK_KEYS,
    RULE_KEYS,
    SELECT_KEYS,
    SEVERITIES,
    Param,
)
from monitor.engine.units import UnitError, parse_percent, parse_quantity
from monitor.errors import ConfigError, Problem
from monitor.model import FLOWS, MEASURE_ALIASES, MEASURE_UNITS, Alert
from monitor.render.filters import FILTERS
from monitor.yamlload import LocatedDict, LocatedList, Mark, load_yaml_file, mark_of

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_CODE_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
# Names the render layer offers to summary templates besides Alert.to_dict() and the context.
RENDER_NAMES = ("partner_name", "reporter_name", "commodity_name", "period_name", "value_text")
ALERT_NAMES = tuple(Alert("r", "2000-01", "", "", "", "", "", 0.0, "").to_dict())


@dataclass(frozen=True)
class Condition:
    """A parsed condition: a type with parameters in base units, or all/any of members."""

    type: str
    params: dict[str, Any] = field(default_factory=dict)
    members: tuple[Condition, ...] = ()

    def walk(self) -> Iterator[Condition]:
        """This condition, then its members' (depth first): every condition of an all/any tree."""
        yield self
        for m in self.members:
            yield from m.walk()

    @property
    def lookback(self) -> int:
        """Months before t this condition reads (the panel is cut to that many)."""
        spec = CONDITIONS.get(self.type)
        here = spec.months_back(self.params) if spec is not None else 0
        return max([here, *(m.lookback for m in self.members)])

    def context_keys(self) -> set[str]:
        """Context keys its alerts carry from this condition and its members (the ones every
        alert or aggregate carries are not included)."""
        keys = set(CONDITIONS[self.type].context) if self.type in CONDITIONS else set()
        for m in self.members:
            keys |= m.context_keys()
        return keys


@dataclass(frozen=True)
class Rule:
    """One validated rule of a pack: what it selects, its condition (base units), how its alerts
    read, and where it is declared."""

    id: str
    pack: str
    summary: str
    select: dict[str, tuple[str, ...] | None]  # None = every value ("*")
    exclude: dict[str, tuple[str, ...]]
    condition: Condition
    severity: str = "info"
    labels: dict[str, str] = field(default_factory=dict)
    template: str | None = None
    path: str = ""
    line: int = 0
    description: str = ""
    # Set when the rule watches derived series (sums over a commodity prefix, a code list or a
    # partner group): ``select``/``exclude`` then apply to the derived series.
    aggregate: Aggregate | None = None

    @property
    def lookback(self) -> int:
        """Months before t this rule reads: its condition's, and for an aggregate the months
        its completeness looks back (added to the condition's when incomplete months are
        skipped or compared in a mirror, since every month read needs its completeness)."""
        own = self.condition.lookback
        if self.aggregate is None:
            return own
        if self.aggregate.incomplete == "skip" or self.mirrors():
            # every month read needs its own completeness (a mirror compares complete sums)
            return own + self.aggregate.lookback
        return max(own, self.aggregate.lookback)

    def mirrors(self) -> list[Condition]:
        """Its ``mirror_gap`` conditions, those inside all/any included (empty: none)."""
        return [c for c in self.condition.walk() if c.type == "mirror_gap"]


@dataclass
class RuleSet:
    """The rules of every loaded pack, in file order; rule ids are unique in a loaded set."""

    rules: list[Rule] = field(default_factory=list)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def lookback_months(self) -> int:
        """The most months before t any rule reads: evaluating periods P needs observations
        from ``min(P) - lookback_months()`` on, so a caller can load only that window."""
        return max((r.lookback for r in self.rules), default=0)

    def mirror_sources(self) -> set[str]:
        """Sources named by mirror_gap conditions: the other side of a mirror comparison."""
        return {c.params["source"] for r in self.rules for c in r.mirrors() if c.params["source"]}

    def by_id(self, rule_id: str) -> Rule:
        """The rule with this id; KeyError when none has it."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


# --------------------------------------------------------------------------------------------
# discovery


def pack_files(paths: list[str]) -> tuple[list[Path], list[Problem]]:
    """Files named directly, plus *.yaml/*.yml of folders (non-recursive, so rules/tests/ and
    other sub-folders are skipped)."""
    files: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(
                sorted(f for f in p.iterdir() if f.is_file() and f.suffix in (".yaml", ".yml"))
            )
        elif p.is_file():
            files.append(p)
        else:
            problems.append(Problem(str(p), 0, 0, "no such rule file or folder"))
    return files, problems


_RULE_PREFIX = re.compile(r"^rule(?: '[^']*')?: ")


def _defaults_once(problems: list[Problem], defaults: object) -> list[Problem]:
    """A problem inside a pack's ``defaults:`` is found once per rule that inherits it, each
    time in that rule's name; it is one problem, of the defaults."""
    inside = _marks(defaults)
    out: list[Problem] = []
    for p in problems:
        if p.line and (p.line, p.column) in inside and _RULE_PREFIX.match(p.message):
            p = Problem(p.path, p.line, p.column, _RULE_PREFIX.sub("defaults: ", p.message))
        if p not in out:
            out.append(p)
    return out


def _marks(node: object) -> set[tuple[int, int]]:
    """Every place (line, column) of a YAML node and what it holds."""
    out: set[tuple[int, int]] = set()
    if isinstance(node, LocatedDict):
        out.add((node.mark.line, node.mark.column))
        for key, value in node.items():
            for m in (node.where(key), node.value_where(key)):
                out.add((m.line, m.column))
            out |= _marks(value)
    elif isinstance(node, LocatedList):
        out.add((node.mark.line, node.mark.column))
        out.update((m.line, m.column) for m in node.item_marks)
        for item in node:
            out |= _marks(item)
    return out


def load_rules(paths: list[str]) -> RuleSet:
    """Load every pack; raise ConfigError with every located problem found across all packs."""
    ruleset, problems = _load(paths)
    if problems:
        raise ConfigError(problems)
    return ruleset


def validate_rules(paths: list[str]) -> list[Problem]:
    """The checks of ``load_rules``, returned instead of raised (``customs-monitor validate``)."""
    return sorted(_load(paths)[1])


def _load(paths: list[str]) -> tuple[RuleSet, list[Problem]]:
    files, problems = pack_files(paths)
    rules: list[Rule] = []
    for f in files:
        try:
            doc = load_yaml_file(str(f))
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        found: list[Problem] = []
        rules.extend(_parse_pack(doc, str(f), found))
        defaults = doc.get("defaults") if isinstance(doc, dict) else None
        problems.extend(_defaults_once(found, defaults))
    seen: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in seen:
            first = seen[rule.id]
            problems.append(
                Problem(
                    rule.path,
                    rule.line,
                    1,
                    f"duplicate rule id {rule.id!r}: also defined at {first.path}:{first.line}",
                )
            )
        else:
            seen[rule.id] = rule
    return RuleSet(rules=list(seen.values()) if not problems else rules), problems


# --------------------------------------------------------------------------------------------
# parsing


def _problem(obj: Any, key: str | None, path: str, message: str) -> Problem:
    return problem_at(obj, key, path, message)


def _at(mark: Mark, message: str) -> Problem:
    return Problem(mark.path, mark.line, mark.column, message)


def _parse_pack(doc: Any, path: str, problems: list[Problem]) -> list[Rule]:
    if doc is None:
        problems.append(Problem(path, 0, 0, "empty rule pack"))
        return []
    problems.extend(
        check_keys(doc, allowed=PACK_KEYS, required={"pack", "rules"}, path=path, what="rule pack")
    )
    if not isinstance(doc, dict):
        return []
    pack = doc.get("pack", Path(path).stem)
    if not isinstance(pack, str) or not pack:
        problems.append(_problem(doc, "pack", path, "pack: expected a name (text)"))
        pack = Path(path).stem
    defaults = doc.get("defaults", LocatedDict())
    if defaults is None:
        defaults = LocatedDict()
    if "defaults" in doc:
        problems.extend(check_keys(defaults, allowed=DEFAULTS_KEYS, path=path, what="defaults"))
        if not isinstance(defaults, dict):
            defaults = LocatedDict()
    groups = dict(shipped_groups())
    if "groups" in doc:
        own = parse_groups(doc["groups"], doc, "groups", path, problems)
        for name in own:
            if name in groups:
                at = doc["groups"].where(name)
                problems.append(
                    Problem(
                        at.path or path,
                        at.line,
                        at.column,
                        f"group {name!r} is shipped with customs-monitor "
                        "(monitor/engine/data/partner_groups.yaml); give yours another name",
                    )
                )
            else:
                groups[name] = own[name]
    derived: dict[str, Any] = {}
    if "derived" in doc:
        raw = doc["derived"]
        if not isinstance(raw, dict):
            problems.append(_problem(doc, "derived", path, "derived: expected a mapping of names"))
        else:
            for dname, body in raw.items():
                problems.extend(
                    check_keys(
                        body,
                        allowed=DERIVED_KEYS,
                        required={"select"},
                        path=path,
                        what=f"derived {dname!r}",
                    )
                )
                if isinstance(body, dict):
                    derived[dname] = body
    context = _PackContext(groups, derived)
    items = doc.get("rules")
    if "rules" in doc and not isinstance(items, list):
        problems.append(_problem(doc, "rules", path, "rules: expected a list of rules"))
        return []
    out = []
    for item in items or []:
        rule = _parse_rule(item, pack, defaults, path, problems, context)
        if rule is not None:
            out.append(rule)
    for dname, body in derived.items():  # a derived series no rule selects is checked too
        if dname not in context.used:
            _parse_select([body], path, problems, f"derived {dname!r}", context)
    return out


@dataclass
class _PackContext:
    """What a pack defines for its rules: partner groups (shipped + its own), derived series."""

    groups: dict[str, Group]
    derived: dict[str, Any]
    used: set[str] = field(default_factory=set)


def _parse_rule(
    item: Any,
    pack: str,
    defaults: dict[str, Any],
    path: str,
    problems: list[Problem],
    context: _PackContext | None = None,
) -> Rule | None:
    context = context or _PackContext(dict(shipped_groups()), {})
    before = len(problems)
    problems.extend(
        check_keys(item, allowed=RULE_KEYS, required={"id", "condition"}, path=path, what="rule")
    )
    if not isinstance(item, dict):
        return None
    mark = mark_of(item, path)
    rule_id = item.get("id")
    if "id" in item and (not isinstance(rule_id, str) or not _ID_RE.match(rule_id)):
        problems.append(
            _problem(
                item,
                "id",
                path,
                f"rule id {rule_id!r}: use lower-case "
                "letters, digits and '-' (e.g. us-six-month-high)",
            )
        )
    name = f"rule {rule_id!r}" if isinstance(rule_id, str) else "rule"

    owners = _owners(defaults, item, path, problems, name, context)
    select, exclude, aggregate = _parse_select(owners, path, problems, name, context)
    measures = select.get("measure")
    measure = measures[0] if measures and len(measures) == 1 else None

    condition = None
    if "condition" in item:
        condition = _parse_condition(
            item["condition"], item, "condition", path, problems, measure, name, top=True
        )

    severity = item.get("severity", defaults.get("severity", "info"))
    if severity not in SEVERITIES:
        owner = item if "severity" in item else defaults
        problems.append(
            _problem(
                owner,
                "severity",
                path,
                f"{name}: severity {severity!r} is not one of "
                f"{', '.join(SEVERITIES)}{did_you_mean(str(severity), SEVERITIES)}",
            )
        )
    labels: dict[str, str] = {}
    for owner in (defaults, item):
        raw = owner.get("labels")
        if raw is None:
            continue
        if not isinstance(raw, dict) or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in raw.values()
        ):
            problems.append(
                _problem(owner, "labels", path, f"{name}: labels must map names to text values")
            )
            continue
        labels.update({str(k): str(v) for k, v in raw.items()})
    template = item.get("template", defaults.get("template"))
    if template is not None and not isinstance(template, str):
        problems.append(
            _problem(
                item if "template" in item else defaults,
                "template",
                path,
                f"{name}: template must be a template name (text)",
            )
        )
    summary_owner = item if "summary" in item else defaults
    summary = summary_owner.get("summary", DEFAULT_SUMMARY)
    if not isinstance(summary, str):
        problems.append(
            _problem(
                summary_owner, "summary", path, f"{name}: summary must be text (a Jinja template)"
            )
        )
    elif condition is not None:
        _check_summary(
            summary, summary_owner, path, problems, name, condition, aggregate is not None
        )
    if condition is not None:
        _check_aggregate(condition, aggregate, item, path, problems, name)
        _check_mirrors(condition, select, aggregate, path, problems, name)
    if (
        aggregate is not None
        and isinstance(summary, str)
        and not any(k in summary for k in AGGREGATE_CONTEXT)
    ):
        # A sum with members missing must never read as a plain dip: say so in every message.
        summary += "{% if not complete %} ({{ coverage }}){% endif %}"
    description = item.get("description", "")
    if len(problems) > before or condition is None or not isinstance(rule_id, str):
        return None
    return Rule(
        id=rule_id,
        pack=pack,
        summary=summary,
        select=select,
        exclude=exclude,
        condition=condition,
        severity=str(severity),
        labels=labels,
        template=template,
        path=path,
        line=mark.line,
        description=str(description),
        aggregate=aggregate,
    )


def _codes(
    raw: Any, owner: Any, key: str, path: str, problems: list[Problem], name: str, allow_star: bool
) -> tuple[str, ...] | None:
    """A selector value: a code, a list of codes or "*"; returns None for "*"."""
    values = raw if isinstance(raw, list) else [raw]
    out = []
    for v in values:
        if v == "*" and allow_star and not isinstance(raw, list):
            return None
        if isinstance(v, bool) or not isinstance(v, str | int):
            problems.append(
                _problem(
                    owner,
                    key,
                    path,
                    f"{name}: {key}: expected a code, a list of codes or '*', got {v!r}",
                )
            )
            continue
        if isinstance(v, int):
            # YAML reads 85051110 as a number and 0101 as octal: leading zeros would be lost.
            problems.append(
                _problem(
                    owner,
                    key,
                    path,
                    f'{name}: {key}: quote codes so leading zeros survive (write "{v}")',
                )
            )
            continue
        if not _CODE_RE.match(v):
            problems.append(_problem(owner, key, path, f"{name}: {key}: {v!r} is not a code"))
            continue
        if key == "flow" and v not in FLOWS:
            problems.append(
                _problem(
                    owner,
                    key,
                    path,
                    f"{name}: flow {v!r} is not one of {', '.join(FLOWS)}{did_you_mean(v, FLOWS)}",
                )
            )
            continue
        if key == "measure" and v in MEASURE_ALIASES and MEASURE_ALIASES[v][0] != v:
            problems.append(
                _problem(
                    owner,
                    key,
                    path,
                    f"{name}: measure {v!r} is stored as "
                    f"{MEASURE_ALIASES[v][0]!r}; select that (values are "
                    f"converted on the way in)",
                )
            )
            continue
        out.append(v)
    return tuple(out)


def _owners(
    defaults: dict[str, Any],
    item: dict[str, Any],
    path: str,
    problems: list[Problem],
    name: str,
    ctx: _PackContext,
) -> list[Any]:
    """Where a rule's selection comes from, lowest precedence first: the pack's defaults, the
    named derived series it selects (``select: {derived: NAME}``), the rule itself."""
    owners: list[Any] = [defaults]
    ref_owner = None
    for owner in (defaults, item):
        raw = owner.get("select")
        if isinstance(raw, dict) and "derived" in raw:
            ref_owner = raw
    if ref_owner is not None:
        ref = ref_owner["derived"]
        if not isinstance(ref, str) or ref not in ctx.derived:
            known = ", ".join(sorted(ctx.derived)) or "none in this pack"
            problems.append(
                _problem(
                    ref_owner,
                    "derived",
                    path,
                    f"{name}: unknown derived series {ref!r}"
                    f"{did_you_mean(str(ref), ctx.derived)} (defined: {known})",
                )
            )
        else:
            ctx.used.add(ref)
            owners.append(ctx.derived[ref])
    owners.append(item)
    return owners


def _parse_select(
    owners: list[Any], path: str, problems: list[Problem], name: str, ctx: _PackContext
) -> tuple[dict[str, tuple[str, ...] | None], dict[str, tuple[str, ...]], Aggregate | None]:
    """The rule's selector, exclusions and, when it sums series, its Aggregate."""
    select: dict[str, tuple[str, ...] | None] = {}
    exclude: dict[str, tuple[str, ...]] = {}
    commodity_agg: CommodityAggregate | None = None
    groups: tuple[Group, ...] | None = None
    policy: dict[str, Any] = {}
    policy_owner: dict[str, Any] = {}

    def read_exclude(owner: Any, key: str) -> None:
        ex = owner.get(key)
        problems.extend(
            check_keys(ex, allowed=set(SELECT_KEYS), path=path, what=f"{name}: exclude")
        )
        if isinstance(ex, dict):
            for k in SELECT_KEYS:
                if k in ex:
                    codes = _codes(ex[k], ex, k, path, problems, name, allow_star=False)
                    exclude[k] = tuple(dict.fromkeys([*exclude.get(k, ()), *(codes or ())]))

    for owner in owners:
        for k in AGGREGATE_KEYS:
            if k in owner:
                policy[k], policy_owner[k] = owner[k], owner
        if "exclude" in owner:
            read_exclude(owner, "exclude")
        raw = owner.get("select")
        if raw is None:
            continue
        problems.extend(
            check_keys(
                raw,
                allowed={*SELECT_KEYS, "exclude", "derived"},
                path=path,
                what=f"{name}: select",
            )
        )
        if not isinstance(raw, dict):
            continue
        for k in SELECT_KEYS:
            if k not in raw:
                continue
            value = raw[k]
            if isinstance(value, dict) and k == "commodity":
                commodity_agg = parse_commodity(value, raw, k, path, problems, name)
                select.pop(k, None)
            elif isinstance(value, dict) and k == "partner":
                groups = parse_partner(value, path, problems, name, ctx.groups)
                select.pop(k, None)
            elif isinstance(value, dict):
                problems.append(
                    _problem(
                        raw,
                        k,
                        path,
                        f"{name}: {k}: only commodity (prefix, level, codes) and partner "
                        "(group) can be summed",
                    )
                )
            else:
                select[k] = _codes(value, raw, k, path, problems, name, allow_star=True)
                if k == "commodity":
                    commodity_agg = None
                elif k == "partner":
                    groups = None
        if "exclude" in raw:
            read_exclude(raw, "exclude")

    aggregated = commodity_agg is not None or bool(groups)
    incomplete = policy.get("incomplete", "mark")
    if incomplete not in POLICIES:
        problems.append(
            _problem(
                policy_owner["incomplete"],
                "incomplete",
                path,
                f"{name}: incomplete {incomplete!r} is not one of {', '.join(POLICIES)}"
                f"{did_you_mean(str(incomplete), POLICIES)}",
            )
        )
    expect = policy.get("expect_within", DEFAULT_EXPECT_WITHIN)
    if isinstance(expect, bool) or not isinstance(expect, int) or not 0 <= expect <= 24:
        problems.append(
            _problem(
                policy_owner["expect_within"],
                "expect_within",
                path,
                f"{name}: expect_within: months, a whole number from 0 to 24, got {expect!r}",
            )
        )
        expect = DEFAULT_EXPECT_WITHIN
    if not aggregated:
        for k, owner in policy_owner.items():
            if owner is not owners[0]:  # pack defaults may serve aggregates and plain rules
                problems.append(
                    _problem(
                        owner,
                        k,
                        path,
                        f"{name}: {k} applies to sums (a commodity prefix, level or codes, or a "
                        "partner group) and this rule selects published series",
                    )
                )
        return select, exclude, None

    # Exclusions on a summed dimension remove members before the sum; the others select among
    # the derived series, as on published ones (totals stay over all partners).
    summed = {"commodity"} if commodity_agg is not None else set()
    if groups:
        summed.add("partner")
    member_exclude = tuple((k, v) for k, v in exclude.items() if k in summed)
    exclude = {k: v for k, v in exclude.items() if k not in summed}
    base = tuple(
        (k, select.get(k))
        for k in ("reporter", "flow", "measure", "commodity")
        if k not in summed and select.get(k) is not None
    )
    if groups:
        select["partner"] = tuple(g.name for g in groups)
    if commodity_agg is not None:
        select["commodity"] = None
    aggregate = Aggregate(
        commodity=commodity_agg,
        groups=groups or (),
        base_select=base,
        member_exclude=member_exclude,
        incomplete=str(incomplete),
        expect_within=int(expect),
    )
    return select, exclude, aggregate


def _check_aggregate(
    condition: Condition,
    aggregate: Aggregate | None,
    item: Any,
    path: str,
    problems: list[Problem],
    name: str,
) -> None:
    if aggregate is not None and condition.type == "missing_release":
        problems.append(
            _problem(
                item,
                "condition",
                path,
                f"{name}: missing_release watches published series; a sum has no release "
                "of its own (watch its members)",
            )
        )


MIRROR_REASONS = {
    "timing": "timing: goods leave in one month and are recorded on arrival in a later one",
    "valuation": "valuation: imports are usually valued CIF (with freight and insurance), "
    "exports FOB",
    "hong_kong": "re-exports via Hong Kong: China records goods shipped to Hong Kong as exports "
    "to Hong Kong, the final importer records them as imports from China",
    "attribution": "partner attribution: importers record the country of origin, exporters the "
    "destination they know",
}


def mirror_reasons(measure: str, countries: set[str] | None) -> str:
    """The known reasons a mirror gap exists, for the rule's measure and countries
    (None: any country)."""
    keys = ["timing"]
    if measure.startswith("value_"):
        keys.append("valuation")
    if countries is None or "CN" in countries or "HK" in countries:
        keys.append("hong_kong")
    keys.append("attribution")
    return "; ".join(MIRROR_REASONS[k] for k in keys)


def _check_mirrors(
    condition: Condition,
    select: dict[str, tuple[str, ...] | None],
    aggregate: Aggregate | None,
    path: str,
    problems: list[Problem],
    name: str,
) -> None:
    """A mirror compares like with like: one measure with a fixed unit on both sides, an export
    with the partner's import, and codes at a level both countries share (HS6 or coarser)."""
    for cond in condition.walk():
        if cond.type != "mirror_gap":
            continue
        owner = cond.params.pop("_owner")
        what = f"{name}: mirror_gap"

        def bad(key: str | None, message: str, owner: Any = owner, what: str = what) -> None:
            problems.append(_problem(owner, key, path, f"{what}: {message}"))

        measures = select.get("measure")
        if not measures or len(measures) != 1:
            bad("type", "select one measure: both sides must be in the same unit")
            continue
        measure = measures[0]
        if measure not in MEASURE_UNITS:
            bad(
                "type",
                f"measure {measure!r} has no fixed unit (its units differ by commodity and "
                f"country); mirror one of {', '.join(MEASURE_UNITS)}",
            )
        other = cond.params.get("measure")
        if other is not None and other != measure:
            bad(
                "measure",
                f"mismatched measures: the rule reads {measure} "
                f"({MEASURE_UNITS.get(measure, '?')}) and the mirror {other} "
                f"({MEASURE_UNITS.get(other, MEASURE_ALIASES.get(other, ('', 0, '?'))[2])}); "
                "a gap between different units means nothing",
            )
        flows = select.get("flow")
        if not flows or len(flows) != 1 or flows[0] not in ("export", "import"):
            bad("type", "select one flow, export or import: a mirror pairs them")
        elif cond.params.get("flow") == flows[0]:
            bad(
                "flow",
                f"the mirror of an {flows[0]} is the partner's opposite flow, "
                f"not another {flows[0]}",
            )
        if aggregate is not None and aggregate.groups:
            bad("type", "a partner group has no single mirror reporter; mirror its members")
        digits = (
            aggregate.commodity.max_digits
            if aggregate is not None and aggregate.commodity is not None
            else _plain_digits(select.get("commodity"))
        )
        if digits is None or digits > 6:
            bad(
                "type",
                "no common commodity level: codes beyond HS6 are national (China's 85051110 "
                "is not the US's 8505110070); sum both sides to HS6 or coarser, e.g. "
                'select: {commodity: {prefix: "850511"}}',
            )
        countries: set[str] | None = set()
        for k in ("reporter", "partner"):
            values = select.get(k)
            if values is None or countries is None:
                countries = None
            else:
                countries |= set(values)
        cond.params["reasons"] = mirror_reasons(measure, countries)


def _plain_digits(codes: tuple[str, ...] | None) -> int | None:
    """The longest of plain HS codes (None when any is not an HS code or all are selected)."""
    if not codes or not all(c.isdigit() for c in codes):
        return None
    return max(len(c) for c in codes)


def _parse_param(
    spec: Param,
    raw: Any,
    owner: Any,
    key: str,
    path: str,
    problems: list[Problem],
    measure: str | None,
    what: str,
) -> Any:
    def bad(message: str) -> None:
        problems.append(_problem(owner, key, path, f"{what}: {key}: {message}"))

    try:
        if spec.kind == "int":
            if isinstance(raw, bool) or not isinstance(raw, int):
                bad(f"expected a whole number, got {raw!r}")
                return None
            value: Any = raw
        elif spec.kind == "quantity":
            value = parse_quantity(raw, measure)
        elif spec.kind == "percent":
            value = parse_percent(raw)
        elif spec.kind == "number":
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                bad(f"expected a number, got {raw!r}")
                return None
            value = float(raw)
        elif spec.kind == "enum":
            if raw not in spec.choices:
                bad(
                    f"{raw!r} is not one of {', '.join(spec.choices)}"
                    f"{did_you_mean(str(raw), spec.choices)}"
                )
                return None
            value = raw
        elif spec.kind == "text":
            if not isinstance(raw, str) or not raw:
                bad(f"expected text, got {raw!r}")
                return None
            value = raw
        elif spec.kind == "timezone":
            try:
                zoneinfo.ZoneInfo(str(raw))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                bad(f"unknown time zone {raw!r} (use an IANA name such as Asia/Shanghai)")
                return None
            value = str(raw)
        else:  # pragma: no cover - spec table is static
            raise AssertionError(spec.kind)
    except UnitError as exc:
        bad(str(exc))
        return None
    if isinstance(value, int | float) and spec.kind != "enum":
        if spec.minimum is not None and (
            value < spec.minimum or (spec.exclusive_minimum and value == spec.minimum)
        ):
            op = ">" if spec.exclusive_minimum else ">="
            bad(f"must be {op} {spec.minimum:g}, got {value:g}")
            return None
        if spec.maximum is not None and value > spec.maximum:
            bad(f"must be <= {spec.maximum:g}, got {value:g}")
            return None
    return value


def _parse_condition(
    raw: Any,
    owner: Any,
    key: str,
    path: str,
    problems: list[Problem],
    measure: str | None,
    name: str,
    top: bool,
) -> Condition | None:
    what = f"{name}: condition"
    if not isinstance(raw, dict):
        problems.append(
            _problem(owner, key, path, f"{what} must be a mapping with 'type' (or 'all'/'any')")
        )
        return None
    combos = [c for c in COMBINATORS if c in raw]
    if combos:
        problems.extend(check_keys(raw, allowed={combos[0]}, path=path, what=what))
        members_raw = raw[combos[0]]
        if not isinstance(members_raw, list) or not members_raw:
            problems.append(
                _problem(
                    raw,
                    combos[0],
                    path,
                    f"{what}: {combos[0]} needs a non-empty list of conditions",
                )
            )
            return None
        members = []
        for i, m in enumerate(members_raw):
            holder = _ItemHolder(members_raw, i, path)
            c = _parse_condition(m, holder, "item", path, problems, measure, name, top=False)
            if c is not None:
                members.append(c)
        if len(members) != len(members_raw):
            return None
        return Condition(type=combos[0], members=tuple(members))
    ctype = raw.get("type")
    if ctype is None:
        problems.append(
            _problem(
                owner,
                key,
                path,
                f"{what}: missing 'type' (one of {', '.join(CONDITIONS)}; or 'all'/'any')",
            )
        )
        return None
    if not isinstance(ctype, str) or ctype not in CONDITIONS:
        problems.append(
            _problem(
                raw,
                "type",
                path,
                f"{what}: unknown condition type {ctype!r}"
                f"{did_you_mean(str(ctype), CONDITIONS)} (known: "
                f"{', '.join(CONDITIONS)})",
            )
        )
        return None
    spec = CONDITIONS[ctype]
    what = f"{name}: {ctype}"
    if not top and not spec.combinable:
        problems.append(
            _problem(
                raw,
                "type",
                path,
                f"{what} is evaluated against the clock and cannot be combined in all/any",
            )
        )
        return None
    before = len(problems)
    problems.extend(
        check_keys(
            raw,
            allowed={"type", *spec.params},
            required={k for k, p in spec.params.items() if p.required},
            path=path,
            what=what,
        )
    )
    params: dict[str, Any] = {}
    for pname, pspec in spec.params.items():
        if pname in raw:
            params[pname] = _parse_param(
                pspec, raw[pname], raw, pname, path, problems, measure, what
            )
        else:
            params[pname] = pspec.default
    if spec.one_of and not any(k in raw for k in spec.one_of):
        problems.append(
            _problem(owner, key, path, f"{what} needs at least one of {', '.join(spec.one_of)}")
        )
    if len(problems) > before:
        return None
    if "min_periods" in spec.params:
        if params["min_periods"] is None:
            params["min_periods"] = params["window"]
        elif params["min_periods"] > params["window"]:
            problems.append(
                _problem(
                    raw,
                    "min_periods",
                    path,
                    f"{what}: min_periods {params['min_periods']} can never be "
                    f"met in a window of {params['window']} months",
                )
            )
            return None
    above, below = params.get("above"), params.get("below")
    if (
        ctype in ("threshold", "share")
        and above is not None
        and below is not None
        and below >= above
    ):
        # value >= above or value <= below with below >= above fires on every value.
        problems.append(
            _problem(
                raw,
                "below",
                path,
                f"{what}: below ({below:g}) must be "
                f"smaller than above ({above:g}), else it always fires",
            )
        )
        return None
    if ctype == "mirror_gap":
        params["_owner"] = raw  # where _check_mirrors locates its problems (then removed)
    return Condition(type=ctype, params=params)


class _ItemHolder:
    """Lets list items of all/any be located like mapping values."""

    def __init__(self, seq: Any, index: int, path: str) -> None:
        marks = getattr(seq, "item_marks", None)
        self._mark = marks[index] if marks else mark_of(seq, path)

    def value_where(self, key: str) -> Mark:
        return self._mark

    def where(self, key: str | None = None) -> Mark:
        return self._mark


_JINJA = jinja2.sandbox.SandboxedEnvironment()
# Summaries are rendered with the analysts' filters (`| pp`, `| tonnes`...): know their names.
_JINJA.filters.update(FILTERS)


def _check_summary(
    summary: str,
    owner: Any,
    path: str,
    problems: list[Problem],
    name: str,
    condition: Condition,
    aggregated: bool = False,
) -> None:
    mark = owner.value_where("summary") if hasattr(owner, "value_where") else Mark(path, 0, 0)
    try:
        ast = _JINJA.parse(summary)
        undeclared = jinja2.meta.find_undeclared_variables(ast)  # compiles: unknown filters
    except jinja2.TemplateSyntaxError as exc:  # includes TemplateAssertionError
        problems.append(
            _at(
                mark,
                f"{name}: summary: template syntax error: {exc.message} "
                f"(template line {exc.lineno})",
            )
        )
        return
    known = {*ALERT_NAMES, *RENDER_NAMES, *ALWAYS_CONTEXT, *condition.context_keys()}
    if aggregated:
        known |= set(AGGREGATE_CONTEXT)
    for var in sorted(undeclared - known):
        problems.append(
            _at(
                mark,
                f"{name}: summary uses unknown name {var!r}"
                f"{did_you_mean(var, known)}; available: "
                f"{', '.join(sorted(known))}",
            )
        )
    if not undeclared - known:  # rendered for a sample alert: runtime errors and limits
        from monitor.render.checks import summary_runtime_problems

        keys = {*condition.context_keys(), *(AGGREGATE_CONTEXT if aggregated else ())}
        for message in summary_runtime_problems(summary, keys, condition.type):
            problems.append(_at(mark, f"{name}: summary fails when rendered: {message}"))
