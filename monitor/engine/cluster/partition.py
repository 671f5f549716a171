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
        """The key for these rules: commodity cut to the shortest prefix any sum needs,
        ``codes`` lists' prefixes joined, reporter and flow left out if any rule mirrors."""
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
        """Observation columns an atom is made of, in key order."""
        return ["measure", "commodity", *(["reporter", "flow"] if self.by_reporter else [])]

    def atoms(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[Atom]]:
        """Each row's atom as a number into the list of this frame's atoms. Work per row is a
        few integer passes over category codes; the commodity is cut to its key prefix once
        per distinct code."""
        number = np.zeros(len(frame), dtype=np.int64)
        labels: list[np.ndarray] = []
        for name in self.columns:
            col = pd.Categorical(frame[name])
            if (col.codes < 0).any():
                raise ValueError(f"{name}: empty values cannot be partitioned")
            cats = np.asarray(col.categories, dtype=object).astype(str).astype(object)
            codes = col.codes.astype(np.int64)
            if name == "commodity":
                mapped = [self.joined.get(p, p) for p in (_prefix(c, self.digits) for c in cats)]
                cats, inverse = np.unique(np.array(mapped, dtype=object), return_inverse=True)
                codes = inverse.astype(np.int64)[codes]
            number *= max(len(cats), 1)
            number += codes
            labels.append(cats)
        found, which = np.unique(number, return_inverse=True)
        parts: list[np.ndarray] = []
        rest = found.copy()
        for cats in reversed(labels):
            parts.append(cats[rest % max(len(cats), 1)])
            rest //= max(len(cats), 1)
        atoms = list(zip(*[p.tolist() for p in reversed(parts)], strict=True))
        return which.astype(np.int64), [tuple(a) for a in atoms]

    def counts(self, frame: pd.DataFrame) -> dict[Atom, int]:
        """Rows per atom."""
        if frame.empty:
            return {}
        which, atoms = self.atoms(frame)
        return dict(zip(atoms, np.bincount(which, minlength=len(atoms)).tolist(), strict=True))

    def partition_of(self, frame: pd.DataFrame, plan: Mapping[Atom, int]) -> np.ndarray:
        """Each row's partition number under ``plan`` (KeyError: an atom it does not know)."""
        if frame.empty:
            return np.zeros(0, np.int64)
        which, atoms = self.atoms(frame)
        numbers: np.ndarray = np.array([plan[a] for a in atoms], dtype=np.int64)[which]
        return numbers


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
    """Add ``more``'s rows per atom to ``into`` in place (counts of one chunk into the total)."""
    for atom, n in more.items():
        into[atom] = into.get(atom, 0) + n
