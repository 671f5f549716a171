"""A source's series dictionary: (reporter, partner, commodity, flow, measure) <-> dense int id.

Ids are 0..n-1 per source, in order of first appearance, and never change, so arrays indexed by
id (the key columns as categorical codes) describe every series and a segment stores only ids.
Looking up a chunk's rows costs one ``get_indexer`` per column on its distinct values and one
``searchsorted`` of int64 keys: no string is built or compared per row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitor.model import SERIES_KEY, combine_codes


class SeriesDictionary:
    """One source's series keys and their ids; ``ids_for`` appends new series in place, so a
    shared instance (the store's cache) is copied before a payload is mapped."""

    def __init__(self, keys: pd.DataFrame | None = None) -> None:
        """``keys``: one row per series in id order (SERIES_KEY columns, text or categorical)."""
        self.codes: dict[str, np.ndarray] = {}
        self.values: dict[str, pd.Index] = {}
        n = 0 if keys is None else len(keys)
        for name in SERIES_KEY:
            if keys is None or not n:
                self.codes[name] = np.empty(0, np.int32)
                self.values[name] = pd.Index([], dtype="str")
                continue
            col = keys[name]
            if isinstance(col.dtype, pd.CategoricalDtype):  # decoded blocks: codes as they are
                codes = col.cat.codes.to_numpy()
                uniques = pd.Index(col.cat.categories.astype("str"))
                if len(uniques.unique()) != len(uniques) or (codes < 0).any():
                    codes, uniques = pd.factorize(col.astype("str"))
            else:
                codes, uniques = pd.factorize(col.astype("str"))
            self.codes[name] = codes.astype(np.int32)
            self.values[name] = pd.Index(uniques, dtype="str")
        self.stored = n  # series already in the store; ids from here on are new
        self._sorted: tuple[np.ndarray, np.ndarray, tuple[int, ...]] | None = None

    def __len__(self) -> int:
        return len(self.codes[SERIES_KEY[0]])

    def column(self, name: str, ids: np.ndarray | None = None) -> pd.Categorical:
        """The ``name`` key of the given series (all when None) as a categorical."""
        codes = self.codes[name] if ids is None else self.codes[name][ids]
        return pd.Categorical.from_codes(codes, categories=self.values[name])

    def frame(self, ids: np.ndarray | None = None) -> pd.DataFrame:
        """The SERIES_KEY columns (categorical) of the given ids in that order, all when None;
        the index is positional, not the ids."""
        return pd.DataFrame({name: self.column(name, ids) for name in SERIES_KEY})

    def new_keys(self) -> pd.DataFrame:
        """The series added since the dictionary was loaded, in id order."""
        return self.frame(np.arange(self.stored, len(self), dtype=np.int64))

    def ids_for(self, chunk: pd.DataFrame, *, add: bool = True) -> np.ndarray:
        """The id of each row's series (int32); unseen series get the next ids when ``add``,
        else -1."""
        n = len(chunk)
        row_codes = []
        for name in SERIES_KEY:
            col = chunk[name]
            if isinstance(col.dtype, pd.CategoricalDtype):
                local, cats = col.cat.codes.to_numpy(), pd.Index(col.cat.categories, dtype="str")
            else:
                local, uniq = pd.factorize(col.astype("str"))
                cats = pd.Index(uniq, dtype="str")
            known = self.values[name].get_indexer(cats)
            unseen = known < 0
            if unseen.any() and add:
                start = len(self.values[name])
                known[unseen] = np.arange(start, start + int(unseen.sum()))
                self.values[name] = self.values[name].append(cats[unseen])
                self._sorted = None
            row_codes.append(np.append(known, -1).astype(np.int64)[local])
        sizes = [len(self.values[name]) for name in SERIES_KEY]
        if np.prod([s + 2.0 for s in sizes]) < 2.0**62:
            keys, ids = self._lookup(sizes)
            want = combine_codes(row_codes, sizes)
        else:  # a key space too wide for one int64: code the dictionary and the chunk together
            both = combine_codes(
                [
                    np.concatenate([self.codes[name], codes])
                    for name, codes in zip(SERIES_KEY, row_codes, strict=True)
                ],
                sizes,
            )
            order = np.argsort(both[: len(self)], kind="stable")
            keys, ids, want = both[: len(self)][order], order, both[len(self) :]
        pos = np.searchsorted(keys, want)
        hit = pos < len(keys)
        hit[hit] = keys[pos[hit]] == want[hit]
        out = np.full(n, -1, dtype=np.int64)
        out[hit] = ids[pos[hit]]
        missing = ~hit & np.all(np.stack(row_codes) >= 0, axis=0) if n else hit
        if missing.any() and add:
            new, first_row, inverse = np.unique(
                want[missing], return_index=True, return_inverse=True
            )
            # Ids follow the order of first appearance in the chunk, not the key order.
            appearance = np.argsort(first_row, kind="stable")
            rank = np.empty(len(new), dtype=np.int64)
            rank[appearance] = np.arange(len(new))
            start = len(self)
            out[missing] = start + rank[inverse]
            rows = np.flatnonzero(missing)[first_row[appearance]]
            for name, codes in zip(SERIES_KEY, row_codes, strict=True):
                self.codes[name] = np.concatenate([self.codes[name], codes[rows].astype(np.int32)])
            self._sorted = None
        return out.astype(np.int32)

    def _lookup(self, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The dictionary's combined keys, sorted, and the id at each position."""
        if self._sorted is None or self._sorted[2] != (*sizes, len(self)):
            keys = combine_codes([self.codes[name] for name in SERIES_KEY], sizes)
            order = np.argsort(keys, kind="stable")
            self._sorted = (keys[order], order, (*sizes, len(self)))
        return self._sorted[0], self._sorted[1]
