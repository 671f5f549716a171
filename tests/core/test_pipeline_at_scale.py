"""The daemon's path (chunked ingest, month window from the columnar store) fires exactly the
alerts the engine fires on the whole table. Data generated with a fixed seed
(bench/generate.py: 60 commodities x 100 partners x 13 months)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd

from bench.generate import blocks, period_of, write_csv
from monitor.clock import ManualClock
from monitor.config import load_config
from monitor.daemon.service import Service
from monitor.engine import evaluate, load_rules
from monitor.model import normalize
from tests.core.test_pipeline import RELEASE_DAY

PACK = Path(__file__).resolve().parents[2] / "bench" / "pack.yaml"
COMMODITIES, MONTHS = 60, 13


def test_new_month_alerts_equal_the_engine_on_the_whole_table(tmp_path: Path) -> None:
    """Backfill twelve months in small chunks, add the thirteenth: the alerts recorded for it
    are the ones evaluate() gives on every row at once."""
    data = tmp_path / "trade.csv"
    write_csv(data, COMMODITIES, MONTHS, keep=(0, MONTHS - 2))
    (tmp_path / "monitor.yaml").write_text(
        textwrap.dedent(f"""\
        state: sqlite:///{tmp_path / "state.db"}
        rules: [{PACK}]
        initial: backfill
        sources:
          trade: {{type: file, path: {data}}}
        channels:
          out: {{type: file, format: slack, path: {tmp_path / "out"}}}
        routes:
          - channels: [out]
        """)
    )
    config = load_config(str(tmp_path / "monitor.yaml"), env={})
    daemon = Service(config, clock=ManualClock(RELEASE_DAY))
    daemon.store.data.budget = 64 * 1024  # spill to disk: the bounded path
    try:
        daemon.run_once()
        write_csv(data, COMMODITIES, MONTHS, keep=(MONTHS - 1, MONTHS - 1), append=True)
        daemon.run_once()
        newest = period_of(MONTHS, MONTHS - 1)
        stored = {k for k, a in daemon.store.alerts().items() if a.period == newest}
    finally:
        daemon.close()
    whole = normalize(pd.concat(list(blocks(COMMODITIES, MONTHS))), source="trade")
    expected = {a.key for a in evaluate(whole, load_rules([str(PACK)]), [newest])}
    assert len(expected) > 50
    assert stored == expected
