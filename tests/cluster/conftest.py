"""One LocalCluster (2 worker processes on 127.0.0.1) shared by the cluster tests, and their
data: bench/generate.py's customs-shaped exports (fixed seed) with a mirror reporter added."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.generate import frame
from monitor.model import STRING_COLUMNS

PACK = Path(__file__).parent / "pack.yaml"
MONTHS = 24
PARTNERS = ["WORLD"] + [f"A{c}" for c in "ABCDEFGHIJKLMNOPQRST"]


def mirrored_exports(seed: int = 7) -> pd.DataFrame:
    """China's generated exports of 400 codes to 20 partners and WORLD over 24 months, kept to
    the codes whose exports to AA have every month (so HS6 sums of both sides are complete),
    and AA's imports from China of the same codes: China's figures with 8% noise (fixed seed).
    Categorical text columns, as a data file is read."""
    obs = frame(40_000, MONTHS)
    obs = obs[obs["partner"].astype(str).isin(PARTNERS)]
    to_aa = obs[obs["partner"] == "AA"]
    months = to_aa.groupby("commodity", observed=True).size()
    complete = months.index[months == MONTHS].astype(str)
    obs = obs[obs["commodity"].astype(str).isin(complete)].astype(
        {c: "str" for c in STRING_COLUMNS}
    )
    to_aa = obs[obs["partner"] == "AA"]
    noise = np.random.default_rng(seed).lognormal(0, 0.08, len(to_aa))
    imports = to_aa.assign(
        reporter="AA", partner="CN", flow="import", value=np.round(to_aa["value"] * noise, 1)
    )
    both = pd.concat([obs, imports], ignore_index=True)
    return both.astype({c: "category" for c in STRING_COLUMNS})


@pytest.fixture(scope="package")
def observations() -> pd.DataFrame:
    return mirrored_exports()


@pytest.fixture(scope="package")
def client():
    """A LocalCluster of 2 single-threaded worker processes, loopback only."""
    from monitor.engine.cluster import cluster_client

    with cluster_client(workers=2) as c:
        yield c
