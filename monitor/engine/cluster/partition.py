"""Which observations must be evaluated together, and how they are packed into partitions.

A rule reads one (reporter, commodity, flow, measure) group at a time (shares and ranks take the
partners inside it) except in two ways, and the partition key keeps both together:

- a derived sum (``aggregates.py``) adds 8-digit codes into an HS prefix (``prefix``, ``level``)
  or a named list (``codes: [...] as: NAME``), and a partner group adds partners: the key keeps
  the commodity only to the coarsest prefix any loaded rule sums to, so every member of a sum
  shares its key; a ``codes`` list whose codes fall under different prefixes joins those
  prefixes into one key; partners are never in the key;
- ``mirror_gap`` pairs a reporter's exports with its partner's imports of the same commodity
  and measure (the mirror measure is the rule's own, ``rules.py`` checks it): while a mirror
  rule is loaded the key leaves out reporter and flow, so both sides share it.

The key is then (measure, commodity prefix[, reporter, flow]); whole keys are packed into
partitions of about ``target_rows`` observations. A key bigger than that (one huge commodity
summed to its prefix) cannot be split without cutting a sum in two: it is a partition alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from monitor.engine.rules import RuleSet

#: key columns of an atom (the smallest set of observations evaluated together)
Atom = tuple[str, ...]


def _prefix(code: str, digits: int | None) -> str:
    return code if digits is None else code[:digits]


@dataclass(frozen=True)
class PartitionKey:
    """What must stay together for a set of rules (built with ``of``)."""

    digits: int | None = None  # commodity digits kept (None: the whole code)
    joined: Mapping[str, str] = field(default_factory=dict)  # prefix -> its joined prefix
    by_reporter: bool = True  # False while a mirror rule pairs two reporters

    @classmethod
    def of(cls, rules: RuleSet) -> PartitionKey:
        digits: int | None = None
        lists: list[tuple[str, ...]] = []
        mirrored = False
        for rule in rules:
            mirrored = mirrored or bool(rule.mirrors())
            agg = rule.aggregate
            if agg is None or agg.commodity is None:
                continue
            commodity = agg.commodity
            if commodity.codes:
                lists.append(commodity.codes)
                continue
            # A prefix sum's members share the prefix; a level sum's share its first `level`
            # digits (a prefix with a level is at most that long: rules.py refuses longer).
            need = (
                commodity.level
                if commodity.level is not None
                else min(len(p) for p in commodity.prefixes)
            )
            digits = need if digits is None else min(digits, need)
        joined = _join([{_prefix(c, digits) for c in codes} for codes in lists])
        return cls(digits=digits, joined=joined, by_reporter=not mirrored)

    @property
    def columns(self) -> list[str]:
        return ["measure", "commodity", *(["reporter", "flow"] if self.by_reporter else [])]

    def atoms(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Each row's atom as categorical columns (``columns``): the commodity cut to its key
        prefix, worked out once per distinct code."""
        out: dict[str, pd.Categorical] = {}
        for name in self.columns:
            col = pd.Categorical(frame[name])
            cats = np.asarray(col.categories, dtype=object).astype(str)
            if name == "commodity":
                mapped = [self.joined.get(p, p) for p in (_prefix(c, self.digits) for c in cats)]
                keep, codes = np.unique(np.array(mapped, dtype=object), return_inverse=True)
                col = pd.Categorical.from_codes(
                    np.where(col.codes >= 0, codes[col.codes], -1),
                    categories=pd.Index(keep, dtype=object),
                )
            out[name] = col
        return pd.DataFrame(out)

    def counts(self, frame: pd.DataFrame) -> dict[Atom, int]:
        """Rows per atom."""
        if frame.empty:
            return {}
        sizes = self.atoms(frame).groupby(self.columns, observed=True, sort=False).size()
        return {tuple(str(v) for v in k): int(n) for k, n in sizes.items()}

    def partition_of(self, frame: pd.DataFrame, plan: Mapping[Atom, int]) -> np.ndarray:
        """Each row's partition number under ``plan``."""
        if frame.empty:
            return np.zeros(0, np.int64)
        atoms = self.atoms(frame)
        index = pd.MultiIndex.from_tuples(list(plan), names=self.columns)
        at = index.get_indexer(pd.MultiIndex.from_frame(atoms.astype(object)))
        if (at < 0).any():
            raise ValueError("rows of an atom the partition plan does not know")
        return np.asarray(list(plan.values()), dtype=np.int64)[at]


def _join(sets: Iterable[set[str]]) -> dict[str, str]:
    """Prefixes that must share a partition (each ``codes`` list's), as prefix -> the
    smallest prefix of its joined set (union-find over the lists)."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for s in sets:
        items = sorted(s)
        for other in items[1:]:
            a, b = root(items[0]), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {x: root(x) for x in parent if root(x) != x}


def plan_partitions(counts: Mapping[Atom, int], target_rows: int) -> dict[Atom, int]:
    """Atoms (in key order) packed greedily into partitions of about ``target_rows``; an atom
    bigger than the target is a partition alone."""
    plan: dict[Atom, int] = {}
    part, rows = 0, 0
    for atom in sorted(counts):
        n = counts[atom]
        if rows and rows + n > target_rows:
            part, rows = part + 1, 0
        plan[atom] = part
        rows += n
    return plan


def merge_counts(into: dict[Atom, int], more: Mapping[Atom, int]) -> None:
    for atom, n in more.items():
        into[atom] = into.get(atom, 0) + n
